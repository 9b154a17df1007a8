package authz

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
)

// This file compiles the access rules, roles and agents of a Config to
// Cedar policies. Every value from the configuration reaches the policy
// through cedar-go's AST builder, whose encoder quotes and escapes it; no
// policy text is assembled by hand. Comments are the one exception, and
// they carry only strconv.Quote'd text, which holds no line break.

// origin says where a compiled policy came from, for reasons and indexing.
type origin uint8

const (
	fromRule            origin = iota + 1 // an allow or deny rule
	fromAgent                             // an agent's reach
	fromUndeclaredAgent                   // act-chain agents must be declared
	fromFile                              // a raw Cedar file
)

// compiled is one policy of the effective policy set.
type compiled struct {
	id     cedar.PolicyID
	policy *cedar.Policy
	forbid bool
	origin origin
	name   string // rule id (fromRule), agent app (fromAgent), file name (fromFile)
	role   string // the role a rule's permit grants
	roleIx int    // index of role in Config.Roles, for permits of rules
	groups bool   // the rule has a group condition
	line   int    // fromFile: line of the policy
	cond   *cond  // the rule's conditions (fromRule), for the index
	keys   []key  // index keys: the policy can apply only to a principal with one of them; nil = always
}

// Policy ids of the agent policies. Rule ids cannot contain '/', so these
// never collide with a rule's.
const (
	agentIDPrefix   = "agent/"
	agentUndeclared = "agent/undeclared"
)

// compiler turns a Config into policies, collecting every problem.
type compiler struct {
	cfg      *Config
	problems []error
	warnings []string
	roles    map[string]int
	policies []*compiled
	ids      map[cedar.PolicyID]string // id -> where it was defined
	text     strings.Builder
	// allowGroups are the groups named by allow rules, for explaining
	// group overage.
	allowGroups []types.EntityUID
	// allows and denies are the compiled rules, for finding allow rules
	// that deny rules make unreachable.
	allows []compiledRule
	denies []compiledRule
}

// compiledRule is a rule as compiled: its id, conditions and, for an allow
// rule, the roles it grants.
type compiledRule struct {
	id    string
	cond  cond
	roles []string
	rule  *Rule
}

func (c *compiler) add(file string, line, col int, field, format string, args ...any) {
	c.problems = append(c.problems, &Problem{File: file, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *compiler) addf(field, format string, args ...any) {
	c.add("", 0, 0, field, format, args...)
}

func (c *compiler) compile() {
	c.text.WriteString("// gatehouse effective policy: access rules compiled to Cedar, then agents,\n")
	c.text.WriteString("// then raw Cedar files. Schema: authz.Schema (docs/policy.md).\n")
	c.roles = make(map[string]int)
	c.ids = make(map[cedar.PolicyID]string)
	for i := range c.cfg.Roles {
		c.role(i)
	}
	if len(c.cfg.Roles) > 0 {
		names := make([]string, len(c.cfg.Roles))
		for i, r := range c.cfg.Roles {
			names[i] = strconv.Quote(r.Name)
		}
		fmt.Fprintf(&c.text, "// Roles, least privileged first: %s.\n", strings.Join(names, ", "))
	}
	ruleIDs := make(map[string]int)
	for i := range c.cfg.Rules {
		c.rule(i, ruleIDs)
	}
	c.agents()
	c.shadowed()
	for i := range c.cfg.Policies {
		c.file(i)
	}
}

// role checks Config.Roles[i].
func (c *compiler) role(i int) {
	r := &c.cfg.Roles[i]
	f := fmt.Sprintf("roles[%d]", i)
	switch {
	case !validName(r.Name, 64, false):
		c.addf(f+".name", "role name %q: want a letter, then letters, digits, '.', '_' or '-' (at most 64)", r.Name)
	default:
		if _, dup := c.roles[r.Name]; dup {
			c.addf(f+".name", "role %q is declared twice", r.Name)
		}
		c.roles[r.Name] = i
	}
	what := fmt.Sprintf("role %q", r.Name)
	c.actions(f+".actions", what, r.Actions)
	c.patterns(f+".functions", what, r.Functions)
	c.patterns(f+".routes", what, r.Routes)
	if len(r.Actions) == 0 || len(r.Functions)+len(r.Routes) == 0 {
		c.addf(f, "role %q grants nothing: give it actions and the functions or routes it reaches", r.Name)
	}
}

// actions checks a list of action names.
func (c *compiler) actions(field, what string, list []string) {
	for j, a := range list {
		if !slices.Contains(actions, a) {
			c.addf(fmt.Sprintf("%s[%d]", field, j), "%s: unknown action %q (want one of %s)", what, a, strings.Join(actions, ", "))
		}
	}
}

// patterns checks function or route names: exact, "*", or "prefix*".
func (c *compiler) patterns(field, what string, list []string) {
	for j, p := range list {
		if msg := checkPattern(p); msg != "" {
			c.addf(fmt.Sprintf("%s[%d]", field, j), "%s: %q: %s", what, p, msg)
		}
	}
}

func checkPattern(p string) string {
	if p == "*" {
		return ""
	}
	name := strings.TrimSuffix(p, "*")
	if name == "" || len(name) > 256 {
		return "want a name of 1 to 256 characters, \"*\", or a prefix followed by \"*\""
	}
	for i, r := range name {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@/+=-", r))
		if r == '*' {
			return "'*' is allowed only as the whole name or at its end"
		}
		if !ok || i == 0 && !isAlnum(r) {
			return "want letters, digits and . _ : @ / + = -, starting with a letter or digit"
		}
	}
	return ""
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// validName reports whether s is a role name (first a letter) or a rule id
// (first a letter or digit), of at most limit bytes.
func validName(s string, limit int, digitFirst bool) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9':
			if i == 0 && !digitFirst {
				return false
			}
		case r == '.' || r == '_' || r == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isGUID reports whether s is a GUID in the 8-4-4-4-12 form, either case.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// canonical lowercases a GUID (GUIDs compare case-insensitively, RFC 9562
// §4) and returns any other value unchanged. Configuration and token values
// both go through it, so they compare equal whatever case either used.
func canonical(s string) string {
	if !isGUID(s) {
		return s
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'F' {
			return strings.ToLower(s)
		}
	}
	return s
}

// objectIDs checks a list of object ids and returns them canonical,
// deduplicated.
func (c *compiler) objectIDs(field, what, kind string, list []string) []string {
	var out []string
	for j, v := range list {
		if v, ok := c.objectID(fmt.Sprintf("%s[%d]", field, j), what, kind, v); ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// objectID checks an object id and returns it canonical.
func (c *compiler) objectID(field, what, kind, v string) (string, bool) {
	switch {
	case isGUID(v):
		return canonical(v), true
	case strings.Contains(v, "@"):
		c.addf(field, "%s: %q looks like an email address or UPN: rules key on immutable %s ids (GUIDs), never on email, upn or preferred_username, which users or tenant administrators can change (the nOAuth class of account takeover)", what, v, kind)
	default:
		c.addf(field, "%s: %q is not a%s %s id: want a GUID such as 00000000-0000-0000-0000-000000000000", what, v, article(kind), kind)
	}
	return "", false
}

func article(s string) string {
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "n"
	}
	return ""
}

// claims checks app role or scope values and returns them deduplicated.
func (c *compiler) claims(field, what string, list []string) []string {
	var out []string
	for j, v := range list {
		bad := v == "" || len(v) > 256 || !utf8.ValidString(v) ||
			strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) })
		if bad {
			c.addf(fmt.Sprintf("%s[%d]", field, j), "%s: %q: want 1 to 256 printable characters without spaces", what, v)
			continue
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// cond is one principal condition of a rule, canonical.
type cond struct {
	users, apps, tenants, groups, appRoles, scopes []string
	groupNames                                     map[string]string
	kind                                           string
}

// rule checks and compiles Config.Rules[i].
func (c *compiler) rule(i int, seen map[string]int) {
	r := &c.cfg.Rules[i]
	f := fmt.Sprintf("rules[%d]", i)
	n := len(c.problems)
	id := r.ID
	if id == "" {
		id = fmt.Sprintf("rule-%d", i)
	}
	if !validName(id, 128, true) {
		c.addf(f+".id", "rule id %q: want a letter or digit, then letters, digits, '.', '_' or '-' (at most 128)", id)
	} else if j, dup := seen[id]; dup {
		c.addf(f+".id", "rule %q: the id is already used by rules[%d]", id, j)
	} else {
		seen[id] = i
	}
	what := fmt.Sprintf("rule %q", id)

	k := cond{kind: r.Kind}
	k.users = c.objectIDs(f+".users", what, "user object", r.Users)
	k.apps = c.objectIDs(f+".apps", what, "app (client)", r.Apps)
	k.tenants = c.objectIDs(f+".tenants", what, "tenant", r.Tenants)
	for j, g := range r.Groups {
		gf := fmt.Sprintf("%s.groups[%d]", f, j)
		if g.ID == "" {
			c.addf(gf+".id", "%s: group %q has no id: rules match groups by object id; the name is only a label (names can change and need not be unique)", what, g.Name)
			continue
		}
		id, ok := c.objectID(gf+".id", what, "group object", g.ID)
		if ok && !slices.Contains(k.groups, id) {
			k.groups = append(k.groups, id)
			if g.Name != "" {
				if k.groupNames == nil {
					k.groupNames = make(map[string]string)
				}
				k.groupNames[id] = g.Name
			}
		}
	}
	k.appRoles = c.claims(f+".app_roles", what, r.AppRoles)
	k.scopes = c.claims(f+".scopes", what, r.Scopes)
	switch r.Kind {
	case "", KindUser, KindApp:
	default:
		c.addf(f+".kind", "%s: kind %q: want %q, %q or empty (either)", what, r.Kind, KindUser, KindApp)
	}
	if r.Kind == KindApp && len(k.users) > 0 {
		c.addf(f+".users", "%s: users never match kind %q: an app-only token has no user", what, KindApp)
	}
	if r.Kind == KindApp && len(k.scopes) > 0 {
		c.addf(f+".scopes", "%s: scopes never match kind %q: app-only tokens carry app roles, not scopes", what, KindApp)
	}
	if r.Kind == "" && len(r.Users)+len(r.Apps)+len(r.Tenants)+len(r.Groups)+len(r.AppRoles)+len(r.Scopes) == 0 {
		c.addf(f, "%s has no principal condition and would match every principal: add groups, app_roles, scopes, users, apps or tenants, or set kind (%q or %q) to mean everyone of that kind", what, KindUser, KindApp)
	}

	switch r.Effect {
	case EffectAllow:
		if len(r.Roles) == 0 {
			c.addf(f+".roles", "%s is an allow rule that grants no role: list the roles it grants", what)
		}
		if len(r.Actions)+len(r.Functions)+len(r.Routes) > 0 {
			c.addf(f, "%s: an allow rule grants roles; what a role reaches (actions, functions, routes) is set on the role", what)
		}
		var granted []string
		for j, name := range r.Roles {
			if _, ok := c.roles[name]; !ok {
				c.addf(fmt.Sprintf("%s.roles[%d]", f, j), "%s: role %q is not declared in roles", what, name)
				continue
			}
			if !slices.Contains(granted, name) {
				granted = append(granted, name)
			}
		}
		if len(c.problems) > n {
			return
		}
		for _, name := range granted {
			c.permit(id, &k, name)
		}
		c.allows = append(c.allows, compiledRule{id: id, cond: k, roles: granted, rule: r})
		for _, g := range k.groups {
			c.allowGroups = append(c.allowGroups, types.NewEntityUID(typeGroup, types.String(g)))
		}
	case EffectDeny:
		if len(r.Roles) > 0 {
			c.addf(f+".roles", "%s: a deny rule grants no role: remove roles, or make it an allow rule", what)
		}
		c.actions(f+".actions", what, r.Actions)
		c.patterns(f+".functions", what, r.Functions)
		c.patterns(f+".routes", what, r.Routes)
		if len(c.problems) > n {
			return
		}
		c.forbid(id, &k, r)
		c.denies = append(c.denies, compiledRule{id: id, cond: k, rule: r})
	default:
		c.addf(f+".effect", "%s: effect %q: want %q or %q", what, r.Effect, EffectAllow, EffectDeny)
	}
}

// permit compiles an allow rule for one of the roles it grants.
func (c *compiler) permit(ruleID string, k *cond, role string) {
	r := &c.cfg.Roles[c.roles[role]]
	id := cedar.PolicyID(ruleID + "/" + role)
	p := ast.Annotation("id", types.String(id)).Permit()
	c.kindScope(p, k.kind)
	p.When(ast.Context().Access("role").Equal(ast.Value(types.NewEntityUID(typeRole, types.String(role)))))
	actionScope(p, r.Actions)
	c.principalConds(p, k, false)
	if reach, ok := reachNode(r.Functions, r.Routes); ok {
		p.When(reach)
	}
	c.addPolicy(&compiled{
		id: id, policy: cedar.NewPolicyFromAST(p), origin: fromRule, name: ruleID,
		role: role, roleIx: c.roles[role], groups: len(k.groups) > 0, cond: k,
	}, k.groupNames)
}

// forbid compiles a deny rule.
func (c *compiler) forbid(ruleID string, k *cond, r *Rule) {
	id := cedar.PolicyID(ruleID)
	p := ast.Annotation("id", types.String(id)).Forbid()
	c.kindScope(p, k.kind)
	actionScope(p, r.Actions)
	c.principalConds(p, k, true)
	if reach, ok := reachNode(r.Functions, r.Routes); ok {
		p.When(reach)
	}
	c.addPolicy(&compiled{
		id: id, policy: cedar.NewPolicyFromAST(p), forbid: true, origin: fromRule, name: ruleID,
		groups: len(k.groups) > 0, cond: k,
	}, k.groupNames)
}

func (c *compiler) kindScope(p *ast.Policy, kind string) {
	switch kind {
	case KindUser:
		p.PrincipalIs(typeUser)
	case KindApp:
		p.PrincipalIs(typeApp)
	}
}

// actions restricts p to the actions listed; none means every action. One
// action goes in the scope; several in a when clause, as a chain of ==
// (cedar-go evaluates a scope's `action in [A, B]` by building two sets).
func actionScope(p *ast.Policy, list []string) {
	uids := actionUIDs(list)
	switch len(uids) {
	case 0:
	case 1:
		p.ActionEq(uids[0])
	default:
		p.When(actionNode(list))
	}
}

func actionUIDs(list []string) []types.EntityUID {
	var uids []types.EntityUID
	for _, a := range list {
		u := types.NewEntityUID(typeAction, types.String(a))
		if !slices.Contains(uids, u) {
			uids = append(uids, u)
		}
	}
	return uids
}

// Lists compile to chains of `||` rather than set literals: they keep the
// declared order in the text, and cedar-go evaluates `x in [A, B]` by
// building a set on every evaluation.

// anyOf is `n1 || n2 || ...`.
func anyOf(nodes []ast.Node) ast.Node {
	n := nodes[0]
	for _, m := range nodes[1:] {
		n = n.Or(m)
	}
	return n
}

// actionNode is `action == A || action == B`.
func actionNode(list []string) ast.Node {
	var nodes []ast.Node
	for _, u := range actionUIDs(list) {
		nodes = append(nodes, ast.Action().Equal(ast.Value(u)))
	}
	return anyOf(nodes)
}

// inNode is `lhs in E1 || lhs in E2`.
func inNode(lhs ast.Node, t types.EntityType, ids []string) ast.Node {
	nodes := make([]ast.Node, len(ids))
	for i, id := range ids {
		nodes[i] = lhs.In(ast.Value(types.NewEntityUID(t, types.String(id))))
	}
	return anyOf(nodes)
}

// eqNode is `lhs == E1 || lhs == E2`.
func eqNode(lhs ast.Node, t types.EntityType, ids []string) ast.Node {
	nodes := make([]ast.Node, len(ids))
	for i, id := range ids {
		nodes[i] = lhs.Equal(ast.Value(types.NewEntityUID(t, types.String(id))))
	}
	return anyOf(nodes)
}

// containsNode is `lhs.contains("a") || lhs.contains("b")`.
func containsNode(lhs ast.Node, values []string) ast.Node {
	nodes := make([]ast.Node, len(values))
	for i, v := range values {
		nodes[i] = lhs.Contains(ast.String(v))
	}
	return anyOf(nodes)
}

// principalConds adds one `when` per principal condition. For a group
// condition, membership unknown (group overage) never satisfies an allow
// rule and always satisfies a deny rule: both fail closed.
func (c *compiler) principalConds(p *ast.Policy, k *cond, deny bool) {
	pr := ast.Principal()
	if len(k.users) > 0 {
		p.When(eqNode(pr, typeUser, k.users))
	}
	if len(k.apps) > 0 {
		p.When(eqNode(pr.Access("app"), typeApp, k.apps))
	}
	if len(k.tenants) > 0 {
		p.When(eqNode(pr.Access("tenant"), typeTenant, k.tenants))
	}
	if len(k.groups) > 0 {
		in := inNode(pr, typeGroup, k.groups)
		if deny {
			p.When(pr.Access("groupsOverage").Or(in))
		} else {
			p.When(ast.Not(pr.Access("groupsOverage")).And(in))
		}
	}
	if len(k.appRoles) > 0 {
		p.When(containsNode(pr.Access("appRoles"), k.appRoles))
	}
	if len(k.scopes) > 0 {
		p.When(containsNode(pr.Access("scopes"), k.scopes))
	}
}

// reachNode is the condition "the resource is one of these functions or
// routes"; ok is false when both lists are empty (every resource).
func reachNode(functions, routes []string) (n ast.Node, ok bool) {
	var parts []ast.Node
	for _, t := range []struct {
		typ  types.EntityType
		list []string
	}{{typeFunction, functions}, {typeRoute, routes}} {
		if slices.Contains(t.list, "*") {
			parts = append(parts, ast.Resource().Is(t.typ))
			continue
		}
		var exact []string
		var prefixes []ast.Node
		for _, p := range t.list {
			if prefix, glob := strings.CutSuffix(p, "*"); glob {
				prefixes = append(prefixes, ast.Resource().Is(t.typ).And(
					ast.Resource().Access("name").Like(types.NewPattern(prefix, types.Wildcard{}))))
			} else if !slices.Contains(exact, p) {
				exact = append(exact, p)
			}
		}
		if len(exact) > 0 {
			parts = append(parts, eqNode(ast.Resource(), t.typ, exact))
		}
		parts = append(parts, prefixes...)
	}
	if len(parts) == 0 {
		return ast.Node{}, false
	}
	n = parts[0]
	for _, p := range parts[1:] {
		n = n.Or(p)
	}
	return n, true
}

// agents compiles Config.Agents: one forbid per agent for what lies beyond
// its reach, and one forbid for act-chain agents that are not declared.
func (c *compiler) agents() {
	var declared []string
	for i := range c.cfg.Agents {
		a := &c.cfg.Agents[i]
		f := fmt.Sprintf("agents[%d]", i)
		what := fmt.Sprintf("agent %q", a.App)
		n := len(c.problems)
		app, _ := c.objectID(f+".app", what, "app (client)", a.App)
		c.actions(f+".actions", what, a.Actions)
		c.patterns(f+".functions", what, a.Functions)
		c.patterns(f+".routes", what, a.Routes)
		if len(a.Actions) == 0 || len(a.Functions)+len(a.Routes) == 0 {
			c.addf(f, "%s may do nothing: give it actions and the functions or routes it may reach for users (an agent that is not listed may not act through an act chain at all)", what)
		}
		if len(c.problems) > n {
			continue
		}
		if slices.Contains(declared, app) {
			c.addf(f+".app", "%s is declared twice", what)
			continue
		}
		declared = append(declared, app)
		id := cedar.PolicyID(agentIDPrefix + app)
		reach, _ := reachNode(a.Functions, a.Routes)
		p := ast.Annotation("id", types.String(id)).Forbid().
			When(ast.Context().Has("agent").And(ast.Context().Access("agent").Access("app").Equal(ast.Value(types.NewEntityUID(typeApp, types.String(app)))))).
			Unless(actionNode(a.Actions).And(reach))
		c.addPolicy(&compiled{id: id, policy: cedar.NewPolicyFromAST(p), forbid: true, origin: fromAgent, name: app,
			keys: []key{{kind: keyAgent, v: app}}}, nil)
	}
	if len(c.problems) > 0 {
		return
	}
	// RFC 8693 §4.1: only the current actor counts for access control.
	p := ast.Annotation("id", agentUndeclared).Forbid().
		When(ast.Context().Has("agent").And(ast.Context().Access("agent").Access("via").Equal(ast.String("act"))))
	if len(declared) > 0 {
		// The validator checks each clause on its own, so the unless
		// repeats the has-guard of the when.
		p.Unless(ast.Context().Has("agent").And(eqNode(ast.Context().Access("agent").Access("app"), typeApp, declared)))
	}
	c.addPolicy(&compiled{id: agentUndeclared, policy: cedar.NewPolicyFromAST(p), forbid: true, origin: fromUndeclaredAgent,
		keys: []key{{kind: keyActAgent}}}, nil)
}

// addPolicy adds a generated policy and its text, checking it against the
// schema: a failure is a bug in this compiler, reported rather than run.
func (c *compiler) addPolicy(p *compiled, groupNames map[string]string) {
	if where, dup := c.ids[p.id]; dup {
		c.addf("", "policy id %q is generated twice (%s)", p.id, where)
		return
	}
	c.ids[p.id] = "generated"
	if err := validatePolicy(p); err != nil {
		c.addf("", "internal error: generated policy %q does not fit the schema: %v", p.id, err)
		return
	}
	c.policies = append(c.policies, p)
	c.text.WriteString("\n")
	var names []string
	for id, name := range groupNames {
		names = append(names, fmt.Sprintf("// group %s is %s\n", id, strconv.Quote(name)))
	}
	slices.Sort(names)
	for _, n := range names {
		c.text.WriteString(n)
	}
	c.text.Write(p.policy.MarshalCedar())
	c.text.WriteString("\n")
}

// shadowed warns about allow rules that a deny rule makes unreachable for a
// role: every principal the allow rule matches is matched by the deny rule,
// which forbids every action and resource the role reaches. It is a
// warning, not an error: an emergency deny rule must load even when it
// blocks someone an allow rule names.
func (c *compiler) shadowed() {
	for _, a := range c.allows {
		for _, role := range a.roles {
			r := &c.cfg.Roles[c.roles[role]]
			for _, d := range c.denies {
				if coversPrincipals(&d.cond, &a.cond) && coversReach(d.rule, r) {
					c.warnings = append(c.warnings, fmt.Sprintf(
						"rule %q can never grant role %q: deny rule %q forbids everything it would allow", a.id, role, d.id))
					break
				}
			}
		}
	}
}

// coversPrincipals reports whether every principal matching a also matches
// d: d has no condition that a lacks or satisfies with other values.
func coversPrincipals(d, a *cond) bool {
	if d.kind != "" && d.kind != a.kind {
		return false
	}
	for _, p := range [][2][]string{
		{d.users, a.users}, {d.apps, a.apps}, {d.tenants, a.tenants},
		{d.groups, a.groups}, {d.appRoles, a.appRoles}, {d.scopes, a.scopes},
	} {
		dv, av := p[0], p[1]
		if len(dv) == 0 {
			continue
		}
		if len(av) == 0 {
			return false
		}
		for _, v := range av {
			if !slices.Contains(dv, v) {
				return false
			}
		}
	}
	return true
}

// coversReach reports whether deny rule d forbids every action and
// resource that role r reaches.
func coversReach(d *Rule, r *Role) bool {
	for _, a := range r.Actions {
		if len(d.Actions) > 0 && !slices.Contains(d.Actions, a) {
			return false
		}
	}
	if len(d.Functions)+len(d.Routes) == 0 {
		return true
	}
	return coversPatterns(d.Functions, r.Functions) && coversPatterns(d.Routes, r.Routes)
}

// coversPatterns reports whether the names matched by patterns in deny
// include every name matched by patterns in reach.
func coversPatterns(deny, reach []string) bool {
	for _, r := range reach {
		if !slices.ContainsFunc(deny, func(d string) bool {
			switch prefix, glob := strings.CutSuffix(d, "*"); {
			case d == "*":
				return true
			case glob:
				return r != "*" && strings.HasPrefix(r, prefix)
			default:
				return r == d
			}
		}) {
			return false
		}
	}
	return true
}
