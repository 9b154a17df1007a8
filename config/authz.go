package config

// AuthZ is the `authz:` section: logical roles, the access rules that map
// token facts to them, the agents that may act for users, and raw Cedar
// files. It is compiled to Cedar policies by the authz package.
type AuthZ struct {
	// Roles are the logical roles, least privileged first: when a route
	// does not name a role, the first role that is allowed is granted.
	Roles []Role `yaml:"roles,omitempty"`
	// Rules map principals to roles (effect allow) or forbid (effect deny).
	Rules []Rule `yaml:"rules,omitempty"`
	// Agents are the apps that may act for users, and what each may do.
	Agents []Agent `yaml:"agents,omitempty"`
	// PolicyFiles are raw .cedar files evaluated beside the rules, as paths
	// relative to the configuration file. Validate does not read them.
	PolicyFiles []string `yaml:"policy_files,omitempty"`
}

// Role is a logical role (`authz.roles[]`) and what it reaches.
type Role struct {
	// Name is the role's name, such as reader; required, unique.
	Name string `yaml:"name"`
	// AWSRole is the IAM role ARN this logical role gets credentials for;
	// required (arn:aws:iam::<account>:role/<name>).
	AWSRole string `yaml:"aws_role"`
	// Actions the role may perform: invoke, read, write; at least one.
	Actions []string `yaml:"actions"`
	// Functions the role reaches: exact names, "*", or a prefix and "*".
	Functions []string `yaml:"functions,omitempty"`
	// Routes the role reaches, by route id, with the same patterns.
	Routes []string `yaml:"routes,omitempty"`
}

// Rule is one access rule (`authz.rules[]`). Its conditions are the
// non-empty lists among groups, app_roles, scopes, users, apps and tenants,
// plus kind; a principal must satisfy each (having any listed value).
// Rules key on immutable identifiers only: never email, upn or
// preferred_username, which users or tenant administrators can change.
type Rule struct {
	// ID names the rule in the compiled Cedar, decisions and the audit
	// trail; "" means rule-<index>.
	ID string `yaml:"id,omitempty"`
	// Effect is allow or deny; required.
	Effect string `yaml:"effect"`
	// Roles are the roles an allow rule grants; a deny rule has none.
	Roles []string `yaml:"roles,omitempty"`
	// Groups match by group object id; name is a label for readers.
	Groups []GroupRef `yaml:"groups,omitempty"`
	// AppRoles, Scopes, Users (object ids), Apps (client ids) and Tenants
	// (tenant ids) match the principal's facts of that name.
	AppRoles []string `yaml:"app_roles,omitempty"`
	Scopes   []string `yaml:"scopes,omitempty"`
	Users    []string `yaml:"users,omitempty"`
	Apps     []string `yaml:"apps,omitempty"`
	Tenants  []string `yaml:"tenants,omitempty"`
	// Kind restricts the rule to user or app principals; "" means either.
	Kind string `yaml:"kind,omitempty"`
	// Actions, Functions and Routes say what a deny rule forbids (empty:
	// everything); allow rules leave them empty.
	Actions   []string `yaml:"actions,omitempty"`
	Functions []string `yaml:"functions,omitempty"`
	Routes    []string `yaml:"routes,omitempty"`
}

// GroupRef is a group by object id, with an optional display name that is
// never matched.
type GroupRef struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name,omitempty"`
}

// Agent is an app that may act for users (`authz.agents[]`).
type Agent struct {
	// App is the agent's client id (GUID); required, unique.
	App string `yaml:"app"`
	// Name is a label for readers.
	Name string `yaml:"name,omitempty"`
	// Actions, Functions and Routes are what it may do for users.
	Actions   []string `yaml:"actions"`
	Functions []string `yaml:"functions,omitempty"`
	Routes    []string `yaml:"routes,omitempty"`
}

// mutableClaims are claims that rules may never key on, with why. A rule
// field of one of these names gets this explanation instead of "unknown
// field".
var mutableClaims = map[string]string{
	"email":              "email is a mutable, unverified claim",
	"emails":             "email is a mutable, unverified claim",
	"upn":                "upn is mutable: it changes when a user is renamed",
	"upns":               "upn is mutable: it changes when a user is renamed",
	"preferred_username": "preferred_username is mutable and chosen by the user or tenant",
	"unique_name":        "unique_name is a mutable display name",
	"name":               "name is a mutable display name",
	"names":              "name is a mutable display name",
	"usernames":          "usernames are mutable",
}

// mutableClaimMsg explains why a rule keyed on a mutable claim is refused
// (the "nOAuth" class of account takeovers), or returns "".
func mutableClaimMsg(field, key string) string {
	why, bad := mutableClaims[key]
	if !bad || !isRuleField(field) {
		return ""
	}
	return "rules may not key on " + short(key) + ": " + why +
		", so a user or tenant administrator could take over another identity (nOAuth); key on users (object ids) or groups (object ids) instead"
}

func isRuleField(field string) bool {
	const p = "authz.rules["
	if len(field) <= len(p) || field[:len(p)] != p {
		return false
	}
	// authz.rules[N].key, not deeper.
	rest := field[len(p):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == ']' {
			return len(rest) > i+1 && rest[i+1] == '.' && !containsByte(rest[i+2:], '.')
		}
	}
	return false
}

func containsByte(s string, b byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return true
		}
	}
	return false
}
