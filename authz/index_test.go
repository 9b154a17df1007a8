package authz

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/ast"
	"github.com/cedar-policy/cedar-go/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// decideUnindexed is the reference Decide: Cedar evaluates every policy of
// the policy set for each candidate role whose reach (fences, by role)
// Cedar finds includes the request, with no index.
func decideUnindexed(st *state, all *cedar.PolicySet, fences []*cedar.PolicySet, p *authn.Principal, r Request) (allow bool, role string, ids []string) {
	rtype := typeFunction
	if r.Resource.Kind == ResourceRoute {
		rtype = typeRoute
	}
	who := newPrincipal(p)
	res := types.NewEntityUID(rtype, types.String(r.Resource.Name))
	ents := &entities{principal: who.entity, resource: types.Entity{UID: res, Attributes: types.NewRecord(types.RecordMap{"name": res.ID})}}
	ctx := types.RecordMap{"method": types.String(r.Method), "path": types.String(r.Path), "time": types.NewDatetime(r.Time)}
	if ip, ok := sourceIP(r.SourceIP); ok {
		ctx["sourceIp"] = ip
	}
	if who.agentV != nil {
		ctx["agent"] = who.agentV
	}
	for ri, name := range st.roles {
		if r.Role != "" && r.Role != name {
			continue
		}
		ctx["role"] = types.NewEntityUID(typeRole, types.String(name))
		req := cedar.Request{Principal: who.entity.UID, Action: types.NewEntityUID(typeAction, types.String(r.Action)), Resource: res, Context: types.NewRecord(ctx)}
		if dec, _ := cedar.Authorize(fences[ri], ents, req); dec != cedar.Allow {
			continue
		}
		if dec, diag := cedar.Authorize(all, ents, req); dec == cedar.Allow {
			for _, d := range diag.Reasons {
				ids = append(ids, string(d.PolicyID))
			}
			slices.Sort(ids)
			return true, st.roles[ri], ids
		}
	}
	return false, "", nil
}

// randomPrincipal draws a principal from the values a configuration uses,
// plus values no rule names.
func randomPrincipal(rng *rand.Rand, pick func(kind int) string) *authn.Principal {
	p := &authn.Principal{Subject: pick(2), Tenant: pick(4), App: pick(3), Kind: authn.KindUser}
	if rng.IntN(4) == 0 {
		p.Kind = authn.KindApp
	}
	for range rng.IntN(6) {
		p.Groups = append(p.Groups, pick(1))
	}
	for range rng.IntN(3) {
		p.Roles = append(p.Roles, pick(5))
	}
	if p.Kind == authn.KindUser {
		for range rng.IntN(3) {
			p.Scopes = append(p.Scopes, pick(6))
		}
	}
	if rng.IntN(6) == 0 {
		p.GroupsOverage, p.Groups = true, nil
	}
	switch rng.IntN(4) {
	case 0:
		p.Actors = []authn.Actor{{Subject: "sp", App: pick(3), Via: authn.ActorViaAct}}
	case 1:
		if p.Kind == authn.KindUser {
			p.Actors = []authn.Actor{{Subject: p.App, App: p.App, Via: authn.ActorViaClient}}
		}
	}
	return p
}

// reachFences returns, for each role, a policy set that allows exactly the
// actions and resources the role reaches, built with the compiler's own
// Cedar for roles.
func reachFences(roles []Role) []*cedar.PolicySet {
	var out []*cedar.PolicySet
	for _, r := range roles {
		p := ast.Permit().When(actionNode(r.Actions))
		if reach, ok := reachNode(r.Functions, r.Routes); ok {
			p.When(reach)
		}
		ps := cedar.NewPolicySet()
		ps.Add("reach", cedar.NewPolicyFromAST(p))
		out = append(out, ps)
	}
	return out
}

// filesConfig is the sample with Cedar-file permits: one naming a role, one
// naming none, one opted in for everyone.
func filesConfig() Config {
	cfg := sampleConfig()
	cfg.Policies = append(cfg.Policies, PolicyFile{Name: "files.cedar", Text: []byte(`@id("support-reader")
permit (principal in Gatehouse::Group::"` + groupSupport + `", action, resource)
when { context.role == Gatehouse::Role::"reader" };

@id("api-any-role")
permit (principal, action, resource)
when { principal.app == Gatehouse::App::"` + appAPI + `" && context has sourceIp };

@id("jobs-route-for-everyone")
@unrestricted("the jobs route is public")
permit (principal, action, resource == Gatehouse::Route::"jobs");
`)})
	return cfg
}

// TestIndexAgreesWithCedar: the index and the role skipping only save work:
// on random principals and requests, Decide allows exactly when Cedar,
// evaluating every policy under every role whose reach includes the
// request, allows, under the same role and policies.
func TestIndexAgreesWithCedar(t *testing.T) {
	sample := map[int][]string{
		1: {groupEngineering, groupFinance, groupAdmins, groupSupport, groupOncall, "00000000-0000-4000-8000-000000000001"},
		2: {userAlice, userBob, userCarol, userMallory, "00000000-0000-4000-8000-000000000002"},
		3: {appCLI, appAPI, appReportAgent, appRogueAgent},
		4: {tenantContoso, tenantOther},
		5: {"Functions.Reader", "Functions.Admin", "Jobs.Run", "Other"},
		6: {"Functions.Invoke", "access_as_user"},
	}
	resources := []Resource{
		{ResourceFunction, "reports-daily"}, {ResourceFunction, "jobs-nightly"}, {ResourceFunction, "payroll-run"},
		{ResourceFunction, "reports"}, {ResourceRoute, "reports"}, {ResourceRoute, "jobs"}, {ResourceRoute, "admin"},
		{ResourceFunction, "fn-3-x"}, {ResourceFunction, "exact-2"}, {ResourceRoute, "route-5"}, {ResourceFunction, "fn-1-secret-y"},
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		pick func(rng *rand.Rand) func(int) string
	}{
		{"sample", sampleConfig(), func(rng *rand.Rand) func(int) string {
			return func(kind int) string { v := sample[kind]; return v[rng.IntN(len(v))] }
		}},
		{"files", filesConfig(), func(rng *rand.Rand) func(int) string {
			return func(kind int) string { v := sample[kind]; return v[rng.IntN(len(v))] }
		}},
		{"bench-100", benchConfig(100), func(rng *rand.Rand) func(int) string {
			return func(kind int) string {
				switch kind {
				case 5:
					return fmt.Sprintf("Role.%d", rng.IntN(110))
				case 6:
					return fmt.Sprintf("scope.%d", rng.IntN(110))
				case 3:
					if rng.IntN(5) == 0 {
						return appReportAgent
					}
					return benchGUID(3, rng.IntN(11))
				case 4:
					return benchGUID(4, rng.IntN(6))
				}
				return benchGUID(kind, rng.IntN(110))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustNew(t, tc.cfg)
			st := e.state.Load()
			fences := reachFences(tc.cfg.Roles)
			all := cedar.NewPolicySet()
			for _, c := range st.policies {
				all.Add(c.id, c.policy)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			pick := tc.pick(rng)
			allowed := 0
			for i := range 3000 {
				p := randomPrincipal(rng, pick)
				r := Request{Action: actions[rng.IntN(len(actions))], Resource: resources[rng.IntN(len(resources))], Time: testTime}
				if rng.IntN(2) == 0 {
					r.SourceIP = "10.0.0.7"
				}
				if rng.IntN(5) == 0 {
					r.Role = st.roles[rng.IntN(len(st.roles))]
				}
				d := e.Decide(p, r)
				allow, role, ids := decideUnindexed(st, all, fences, p, r)
				if d.Allow != allow || d.Role != role || allow && !cmp.Equal(d.Policies, ids) {
					t.Fatalf("case %d: Decide(%+v, %+v) = %+v; Cedar over every policy: allow=%v role=%q policies=%q", i, p, r, d, allow, role, ids)
				}
				if allow {
					allowed++
				}
			}
			if allowed < 50 || allowed > 2950 {
				t.Errorf("%d of 3000 random requests allowed: the cases do not exercise both answers", allowed)
			}
		})
	}
}

// TestInputFitsSchema: the entities and context Decide hands Cedar conform
// to the schema that policies were validated against.
func TestInputFitsSchema(t *testing.T) {
	v, err := validator()
	if err != nil {
		t.Fatal(err)
	}
	e := mustNew(t, sampleConfig())
	st := e.state.Load()
	for _, p := range []*authn.Principal{
		user(userBob, groupFinance), overflowed(userCarol), app(appReportAgent, "Jobs.Run"), actFor(appReportAgent, user(userBob)),
		{Subject: "sub-only", Kind: authn.KindUser},
	} {
		sc := &scratch{in: input{ctx: make(types.RecordMap)}}
		in := st.input(sc, p, from(invoke("reports-daily"), "[2001:db8::1]:443"), types.NewEntityUID(typeFunction, "reports-daily"))
		req := cedar.Request{Principal: in.entities.principal.UID, Action: actionUID[ActionInvoke], Resource: in.resource.UID, Context: in.context(st.roleVals[0])}
		if err := v.Request(req); err != nil {
			t.Errorf("principal %s: request does not fit the schema: %v", p.Subject, err)
		}
		for _, ent := range []types.Entity{in.entities.principal, in.resource} {
			if err := v.Entity(ent); err != nil {
				t.Errorf("principal %s: entity %v does not fit the schema: %v", p.Subject, ent.UID, err)
			}
		}
	}
}
