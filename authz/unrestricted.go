package authz

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	expast "github.com/cedar-policy/cedar-go/x/exp/ast"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// This file refuses a raw Cedar permit that would let anyone in: one whose
// scope and conditions cannot narrow who it applies to, as an allow rule
// without a condition is refused. The test is whether the permit would
// grant a blank principal (no groups, app roles or scopes, of a tenant, app
// and id that no policy names): exactly the principal a permit meant for
// some people must keep out. Cedar evaluates it; nothing here evaluates a
// condition by hand.

// unrestrictedKey is the annotation that opts a permit in to applying to
// every principal: @unrestricted("why it is meant for everyone").
const unrestrictedKey = "unrestricted"

// maxFreeParts bounds, per when or unless clause, the parts that do not read
// the principal, each tried true and false.
const maxFreeParts = 10

// checkPermit checks a permit from Cedar file file (Config field field):
// it must narrow who it applies to, or say with @unrestricted why it is
// meant for everyone. It reports whether the permit may be loaded, and
// warns when it names no role.
func (c *compiler) checkPermit(p *cedar.Policy, file, field string, id cedar.PolicyID) bool {
	pos := p.Position()
	reason, opted := p.Annotations()[unrestrictedKey]
	if opted && strings.TrimSpace(string(reason)) == "" {
		c.add(file, pos.Line, pos.Column, field, "policy %q: @unrestricted needs a reason: say why the policy is meant for every principal, as in @unrestricted(\"the status page is public\")", id)
		return false
	}
	if !opted {
		const fix = "constrain the principal in the scope (principal in Gatehouse::Group::\"<object id>\") or a condition (principal.appRoles.contains(\"<app role>\")), " +
			"or, if the policy is meant for everyone, opt in with @unrestricted(\"<why>\") on the policy"
		why, err := blankGrant(p, c.cfg.Roles)
		switch {
		case err != nil:
			c.add(file, pos.Line, pos.Column, field, "policy %q cannot be checked for whom it lets in: %v; split the clause, or %s", id, err, fix)
			return false
		case why != "":
			c.add(file, pos.Line, pos.Column, field, "policy %q would permit every principal, including one with no groups, roles or scopes: %s; %s", id, why, fix)
			return false
		}
	}
	roles := c.cfg.Roles
	if len(roles) > 0 && !slices.ContainsFunc((*expast.Policy)(p.AST()).Conditions, func(c expast.ConditionType) bool { return readsRole(c.Body) }) {
		// Decide tries every role that reaches the request, least
		// privileged first: such a permit grants the most powerful role
		// for what no other role reaches.
		c.warnings = append(c.warnings, fmt.Sprintf("policy %q (%s:%d) names no role: it grants whichever role is tried first among those that reach the request, up to %q; "+
			"say which role it grants, as in when { context.role == Gatehouse::Role::%q }", id, file, pos.Line, roles[len(roles)-1].Name, roles[0].Name))
	}
	return true
}

// blankPrincipal is one kind of principal that holds nothing a policy can
// name.
type blankPrincipal struct {
	what string // for the problem: "a user with ..."
	p    *authn.Principal
}

// blankPrincipals returns the blank users and apps, with ids not found in
// text, so that no condition of the policy can single them out.
func blankPrincipals(text []byte) []blankPrincipal {
	id := func(s string) string {
		for n := 0; ; n++ {
			v := fmt.Sprintf("blank-%s-%d", s, n)
			if !bytes.Contains(text, []byte(v)) {
				return v
			}
		}
	}
	subject, app, tenant, agent := id("subject"), id("app"), id("tenant"), id("agent")
	user := func(overage bool, actors ...authn.Actor) *authn.Principal {
		return &authn.Principal{Subject: subject, Tenant: tenant, Kind: authn.KindUser, App: app, GroupsOverage: overage, Actors: actors}
	}
	appOnly := func(overage bool) *authn.Principal {
		return &authn.Principal{Subject: subject, Tenant: tenant, Kind: authn.KindApp, App: app, GroupsOverage: overage}
	}
	return []blankPrincipal{
		{"a user with no groups, app roles or scopes", user(false)},
		{"a user with no groups, app roles or scopes, signed in through an app no policy names", user(false, authn.Actor{Subject: app, App: app, Via: authn.ActorViaClient})},
		{"a user with no groups, app roles or scopes, for whom an agent no policy names acts", user(false, authn.Actor{Subject: agent, App: agent, Via: authn.ActorViaAct})},
		{"a user whose group membership is unknown (group overage)", user(true)},
		{"an app with no groups or app roles", appOnly(false)},
		{"an app whose group membership is unknown (group overage)", appOnly(true)},
	}
}

// blankGrant returns why the permit p would grant a blank principal, ""
// if its scope or conditions keep every blank principal out, and an error
// if it is too intricate to tell. roles are the roles it may be tried
// under.
func blankGrant(p *cedar.Policy, roles []Role) (string, error) {
	a := (*expast.Policy)(p.AST())
	reads := scopeReadsPrincipal(a.Principal)
	for _, c := range a.Conditions {
		reads = reads || readsPrincipal(c.Body)
	}
	why := "its conditions on the principal hold even for "
	if !reads {
		// Cedar still decides below, so that a permit only a constant
		// turns off (when { false }) loads; this says why in its terms.
		why = "nothing in its scope or conditions reads the principal; it applies even to "
	}
	// Each clause must hold for the permit to apply. A part of a clause
	// that does not read the principal is taken to be true or false as
	// suits (the request, its time or address can make it so); Cedar
	// evaluates the rest for each blank principal.
	groups := [][]*cedar.Policy{{scopeOnly(a, nil)}}
	needRequest := false
	for _, c := range a.Conditions {
		var f freeParts
		f.abstract(c.Body)
		if f.n > maxFreeParts {
			return "", fmt.Errorf("a when or unless clause has more than %d parts that do not read the principal", maxFreeParts)
		}
		var group []*cedar.Policy
		for bits := range 1 << f.n {
			f := freeParts{bits: bits}
			body := f.abstract(c.Body)
			needRequest = needRequest || readsRequest(body)
			group = append(group, scopeOnly(a, &expast.ConditionType{Condition: c.Condition, Body: body}))
		}
		groups = append(groups, group)
	}
	reqs := sampleRequests(a, roles)
	if !needRequest {
		reqs = reqs[:1]
	}
	for _, b := range blankPrincipals(p.MarshalCedar()) {
		who := newPrincipal(b.p)
		for _, r := range reqs {
			ents := &entities{principal: who.entity, resource: types.Entity{UID: r.resource, Attributes: types.NewRecord(types.RecordMap{"name": r.resource.ID})}}
			ctx := types.RecordMap{
				"role": r.role, "method": types.String("GET"), "path": types.String("/"),
				"time": types.NewDatetime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			}
			if who.agentV != nil {
				ctx["agent"] = who.agentV
			}
			req := cedar.Request{Principal: who.entity.UID, Action: r.action, Resource: r.resource, Context: types.NewRecord(ctx)}
			if allAllow(groups, ents, req) {
				return why + b.what, nil
			}
		}
	}
	return "", nil
}

// allAllow reports whether, in every group, some policy allows req.
func allAllow(groups [][]*cedar.Policy, ents *entities, req cedar.Request) bool {
	for _, group := range groups {
		if !slices.ContainsFunc(group, func(p *cedar.Policy) bool {
			dec, _ := cedar.Authorize(cedar.PolicyMap{"p": p}, ents, req)
			return dec == cedar.Allow
		}) {
			return false
		}
	}
	return true
}

// scopeOnly is a permit with a's principal scope, any action and resource
// (those are the request's to choose), and condition c if not nil.
func scopeOnly(a *expast.Policy, c *expast.ConditionType) *cedar.Policy {
	p := &expast.Policy{Effect: expast.EffectPermit, Principal: a.Principal, Action: expast.ScopeTypeAll{}, Resource: expast.ScopeTypeAll{}}
	if c != nil {
		p.Conditions = []expast.ConditionType{*c}
	}
	return cedar.NewPolicyFromAST((*ast.Policy)(p))
}

// scopeReadsPrincipal reports whether a principal scope narrows the
// principal beyond its kind: principal is User (or App) alone lets in
// every blank principal of that kind.
func scopeReadsPrincipal(s expast.IsPrincipalScopeNode) bool {
	switch s.(type) {
	case expast.ScopeTypeAll, expast.ScopeTypeIs:
		return false
	}
	return true
}

// readsPrincipal reports whether n reads the principal, or what the token
// says of who acts for it (context.agent). The rest of the context (role,
// method, path, address, time) says nothing of who is asking.
func readsPrincipal(n expast.IsNode) bool {
	return reads(n, func(name, attr types.String) bool {
		return name == "principal" || name == "context" && (attr == "" || attr == "agent")
	})
}

// readsRequest reports whether n reads the action, the resource or the
// context.
func readsRequest(n expast.IsNode) bool {
	return reads(n, func(name, _ types.String) bool { return name != "principal" })
}

// readsRole reports whether n reads context.role.
func readsRole(n expast.IsNode) bool {
	return reads(n, func(name, attr types.String) bool { return name == "context" && (attr == "" || attr == "role") })
}

// reads reports whether n reads a variable for which want is true: want
// gets the variable's name and, for the context, the attribute read ("" for
// the whole context).
func reads(n expast.IsNode, want func(name, attr types.String) bool) bool {
	found := false
	expast.Inspect(expast.NewNode(n), func(n expast.IsNode) bool {
		var arg expast.IsNode
		var attr types.String
		switch v := n.(type) {
		case expast.NodeTypeVariable:
			found = found || want(v.Name, "")
		case expast.NodeTypeAccess:
			arg, attr = v.Arg, v.Value
		case expast.NodeTypeHas:
			arg, attr = v.Arg, v.Value
		}
		if v, ok := arg.(expast.NodeTypeVariable); ok && v.Name == "context" {
			found = found || want(v.Name, attr)
			return false
		}
		return !found
	})
	return found
}

// namedRoles returns the roles (Gatehouse::Role ids) a policy's conditions
// name, in order, without repeats.
func namedRoles(a *expast.Policy) []string {
	var out []string
	var value func(v types.Value)
	value = func(v types.Value) {
		switch v := v.(type) {
		case types.EntityUID:
			if v.Type == typeRole && !slices.Contains(out, string(v.ID)) {
				out = append(out, string(v.ID))
			}
		case types.Set:
			for e := range v.All() {
				value(e)
			}
		case types.Record:
			for e := range v.Values() {
				value(e)
			}
		}
	}
	for _, c := range a.Conditions {
		expast.Inspect(expast.NewNode(c.Body), func(n expast.IsNode) bool {
			if v, ok := n.(expast.NodeValue); ok {
				value(v.Value)
			}
			return true
		})
	}
	return out
}

// freeParts replaces the parts of a condition that do not read the
// principal with constants: the i-th such part (in a walk of the
// condition's and, or, not and if-then-else) becomes bit i of bits.
type freeParts struct {
	bits int
	n    int // parts replaced so far
}

func (f *freeParts) abstract(n expast.IsNode) expast.IsNode {
	if _, ok := n.(expast.NodeValue); ok {
		return n
	}
	if !readsPrincipal(n) {
		b := f.bits>>f.n&1 == 1
		f.n++
		return expast.NodeValue{Value: types.Boolean(b)}
	}
	switch v := n.(type) {
	case expast.NodeTypeAnd:
		return expast.NodeTypeAnd{BinaryNode: expast.BinaryNode{Left: f.abstract(v.Left), Right: f.abstract(v.Right)}}
	case expast.NodeTypeOr:
		return expast.NodeTypeOr{BinaryNode: expast.BinaryNode{Left: f.abstract(v.Left), Right: f.abstract(v.Right)}}
	case expast.NodeTypeNot:
		return expast.NodeTypeNot{UnaryNode: expast.UnaryNode{Arg: f.abstract(v.Arg)}}
	case expast.NodeTypeIfThenElse:
		return expast.NodeTypeIfThenElse{If: f.abstract(v.If), Then: f.abstract(v.Then), Else: f.abstract(v.Else)}
	}
	return n
}

// sampleRequest is one request a blank principal might make.
type sampleRequest struct {
	role, action, resource types.EntityUID
}

// sampleRequests returns requests under each role, for each action it may
// perform, on a resource of each of its patterns and the resource the
// scope names; the first needs nothing of the policy. Decide grants no
// role beyond these actions and patterns.
func sampleRequests(a *expast.Policy, roles []Role) []sampleRequest {
	if !slices.ContainsFunc(roles, func(r Role) bool { return len(r.Actions) > 0 && len(r.Functions)+len(r.Routes) > 0 }) {
		// No role grants anything yet (or the roles have problems of
		// their own): check the permit as if one role reached all.
		roles = []Role{{Name: "any", Actions: actions, Functions: []string{"*"}, Routes: []string{"*"}}}
	}
	var scoped []types.EntityUID
	switch s := a.Resource.(type) {
	case expast.ScopeTypeEq:
		scoped = append(scoped, s.Entity)
	case expast.ScopeTypeIn:
		scoped = append(scoped, s.Entity)
	case expast.ScopeTypeIsIn:
		scoped = append(scoped, s.Entity)
	}
	var out []sampleRequest
	for _, r := range roles {
		role := types.NewEntityUID(typeRole, types.String(r.Name))
		resources := slices.Clone(scoped)
		for _, k := range []struct {
			typ  types.EntityType
			list []string
		}{{typeFunction, r.Functions}, {typeRoute, r.Routes}} {
			for _, p := range k.list {
				name := strings.TrimSuffix(p, "*") + "x"
				resources = append(resources, types.NewEntityUID(k.typ, types.String(name)))
			}
		}
		for _, act := range r.Actions {
			for _, res := range resources {
				out = append(out, sampleRequest{role: role, action: actionUID[act], resource: res})
			}
		}
	}
	return out
}
