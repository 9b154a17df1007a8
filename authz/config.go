package authz

// Config is the policy: logical roles, the access rules that grant them, the
// agents that may act for users, and raw Cedar files for anything the rules
// cannot say. New compiles it to Cedar; nothing in it is read at decision
// time except through the compiled policies.
//
// The zero Config is valid and denies everything.
type Config struct {
	// Roles are the logical roles, least privileged first: when a request
	// does not name a role, roles are tried in this order and the first
	// one allowed is granted.
	Roles []Role
	// Rules are the access rules, compiled to Cedar: allow rules grant
	// roles to principals, deny rules forbid.
	Rules []Rule
	// Agents are the apps that may act for users, and what each may do.
	Agents []Agent
	// Policies are raw Cedar files evaluated beside the rules.
	Policies []PolicyFile
}

// Role is a logical role and what it reaches: a request is allowed under a
// role only if its action is one of Actions and its resource is matched by
// Functions (for a function) or Routes (for a route), whatever the rules
// and Cedar files say.
//
// Names in Functions and Routes are exact, "*" for every one, or a prefix
// followed by "*" ("reports-*"); a '*' anywhere else is an error.
type Role struct {
	// Name is the role's name, such as "reader": a letter, then letters,
	// digits, '.', '_' or '-'. Required and unique.
	Name string
	// Actions are the actions the role may perform (ActionInvoke,
	// ActionRead, ActionWrite); at least one is required.
	Actions []string
	// Functions are the functions the role reaches.
	Functions []string
	// Routes are the routes (by route id) the role reaches.
	Routes []string
}

// Rule effects, the values of Rule.Effect.
const (
	EffectAllow = "allow" // grant Rule.Roles to the principals the rule matches
	EffectDeny  = "deny"  // forbid the principals the rule matches; deny wins
)

// Principal kinds, the values of Rule.Kind; they match authn.KindUser and
// authn.KindApp.
const (
	KindUser = "user"
	KindApp  = "app"
)

// Rule is one access rule. Its principal conditions are the non-empty lists
// among Groups, AppRoles, Scopes, Users, Apps and Tenants, plus Kind: a
// principal satisfies a list when it has any value in it, and must satisfy
// every condition the rule has. A rule with no condition at all would match
// every principal and is refused; Kind alone ("user" or "app") is the way to
// say "everyone of that kind".
//
// Rules key on immutable identifiers only: group, user, tenant and app
// object ids (GUIDs), app roles and scopes. Never email, upn or
// preferred_username, which a user or tenant administrator can change.
type Rule struct {
	// ID is the rule's name in the compiled Cedar (@id), in decisions and
	// in the audit trail: a letter or digit, then letters, digits, '.',
	// '_' or '-'. "" means "rule-<index>" (its 0-based index in
	// Config.Rules). Unique among rules.
	ID string
	// Effect is EffectAllow or EffectDeny.
	Effect string
	// Roles are the roles an allow rule grants (at least one, each
	// declared in Config.Roles). A deny rule has none.
	Roles []string

	// Groups matches principals in any of these groups (by object id).
	// Membership unknown because of group overage never satisfies an
	// allow rule, and always satisfies a deny rule.
	Groups []GroupRef
	// AppRoles matches principals granted any of these app roles.
	AppRoles []string
	// Scopes matches principals granted any of these delegated scopes.
	Scopes []string
	// Users matches these users, by object id (Entra oid).
	Users []string
	// Apps matches requests made through any of these calling apps, by
	// client id (azp/appid); for an app-only token, the app itself.
	Apps []string
	// Tenants matches principals of any of these tenants (tid).
	Tenants []string
	// Kind restricts the rule to KindUser or KindApp principals; "" means
	// either.
	Kind string

	// Actions, Functions and Routes say what a deny rule forbids: the
	// actions (empty: every action) on the functions and routes listed
	// (both empty: every resource). Allow rules leave them empty: what a
	// role reaches is part of the Role.
	Actions   []string
	Functions []string
	Routes    []string
}

// GroupRef names a group by its object id. Name is only a label for people
// reading the configuration and the compiled Cedar; it is never matched.
type GroupRef struct {
	ID   string
	Name string
}

// Agent is an app that may act for users: through an RFC 8693 `act` chain,
// or as the calling app of a delegated (on-behalf-of) token. A request it
// makes for a user is allowed only if the user is allowed and the action
// and resource are within the agent's own reach, declared here like a
// Role's.
type Agent struct {
	// App is the agent's client id (a GUID); unique among agents.
	App string
	// Actions are the actions the agent may perform for users; at least
	// one is required.
	Actions []string
	// Functions and Routes are what it may reach, as in Role.
	Functions []string
	Routes    []string
}

// PolicyFile is a raw Cedar file evaluated beside the compiled rules. Its
// policies must fit the gatehouse schema (see Schema) and name only
// declared roles. A policy's id is its @id annotation, else "<Name>#<n>"
// for the n-th policy of the file (1-based).
//
// A permit must narrow who it applies to: one that Cedar finds would grant
// a principal with no groups, app roles or scopes, of a tenant and app no
// policy names, is refused unless it carries @unrestricted("<why it is
// meant for everyone>"). Either way it grants a role only within the
// role's reach.
type PolicyFile struct {
	// Name identifies the file in errors and ids, such as "extra.cedar".
	Name string
	// Text is the file's content.
	Text []byte
}

// Actions a role, rule or agent can name, and a Request can ask for. The
// route decides which action a request asks for.
const (
	// ActionInvoke runs a function.
	ActionInvoke = "invoke"
	// ActionRead reads through a route without changing anything (GET,
	// HEAD, OPTIONS to an HTTP upstream).
	ActionRead = "read"
	// ActionWrite changes something through a route (other methods).
	ActionWrite = "write"
)

// actions lists the actions in schema order.
var actions = []string{ActionInvoke, ActionRead, ActionWrite}

// Resource kinds, the values of Resource.Kind.
const (
	ResourceFunction = "function"
	ResourceRoute    = "route"
)
