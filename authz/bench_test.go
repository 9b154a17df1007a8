package authz

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// benchGUID returns a distinct GUID for (kind, i).
func benchGUID(kind, i int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", kind, i)
}

// benchConfig has n rules over 8 roles: mostly allow rules on groups, app
// roles, users, apps, scopes and tenants, one in ten a deny rule, and one
// agent.
func benchConfig(n int) Config {
	cfg := Config{Agents: []Agent{{App: appReportAgent, Actions: []string{ActionInvoke}, Functions: []string{"fn-*"}}}}
	for r := range 8 {
		cfg.Roles = append(cfg.Roles, Role{
			Name:      fmt.Sprintf("role%d", r),
			Actions:   []string{ActionInvoke, ActionRead},
			Functions: []string{fmt.Sprintf("fn-%d-*", r), fmt.Sprintf("exact-%d", r)},
			Routes:    []string{fmt.Sprintf("route-%d", r)},
		})
	}
	for i := range n {
		rule := Rule{ID: fmt.Sprintf("r%d", i), Effect: EffectAllow, Roles: []string{fmt.Sprintf("role%d", i%8)}}
		switch i % 6 {
		case 0, 1:
			rule.Groups = []GroupRef{{ID: benchGUID(1, i)}, {ID: benchGUID(1, i+1)}}
		case 2:
			rule.AppRoles = []string{fmt.Sprintf("Role.%d", i)}
		case 3:
			rule.Users = []string{benchGUID(2, i)}
		case 4:
			rule.Apps = []string{benchGUID(3, i%10)}
			rule.Scopes = []string{fmt.Sprintf("scope.%d", i)}
		case 5:
			rule.Tenants = []string{benchGUID(4, i%5)}
			rule.Groups = []GroupRef{{ID: benchGUID(1, i)}}
		}
		if i%10 == 9 {
			rule.Effect, rule.Roles = EffectDeny, nil
			rule.Functions = []string{fmt.Sprintf("fn-%d-secret-*", i%8)}
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	return cfg
}

// benchPrincipal is a user in a few of the rules' groups, with a few app
// roles and scopes, calling through an app.
func benchPrincipal(i, n int) *authn.Principal {
	p := &authn.Principal{
		Subject: benchGUID(2, i%n), Tenant: benchGUID(4, i%5), Kind: authn.KindUser, App: benchGUID(3, i%10),
		Scopes: []string{fmt.Sprintf("scope.%d", i%n), "openid"},
		Roles:  []string{fmt.Sprintf("Role.%d", (i+2)%n)},
	}
	for g := range 5 {
		p.Groups = append(p.Groups, benchGUID(1, (i+g*7)%n))
	}
	p.Actors = []authn.Actor{{Subject: p.App, App: p.App, Via: authn.ActorViaClient}}
	return p
}

func benchRequest(i int) Request {
	r := Request{Action: ActionInvoke, Time: testTime, Method: "POST", Path: "/fn", SourceIP: "10.1.2.3"}
	switch i % 3 {
	case 0:
		r.Resource = Resource{Kind: ResourceFunction, Name: fmt.Sprintf("fn-%d-report", i%8)}
	case 1:
		r.Resource = Resource{Kind: ResourceFunction, Name: fmt.Sprintf("exact-%d", i%8)}
	default:
		r.Resource = Resource{Kind: ResourceRoute, Name: fmt.Sprintf("route-%d", i%8)}
	}
	return r
}

// BenchmarkDecide measures Decide with 10, 100 and 1,000 rules:
//   - same: one principal and route, repeated (the principal's Cedar data
//     is memoised, as for a token served from the verified-token cache);
//   - varied: 256 principals and 64 resources in turn;
//   - cold: 32,768 principals, more than the memo holds, so that the
//     principal's Cedar data is built on (almost) every call.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		e := mustNew(b, benchConfig(n))
		// Evaluation itself, past the decision cache (Engine.Decide answers
		// a repeated principal and request from it: the "cached" case).
		st := e.state.Load()
		b.Run(fmt.Sprintf("rules=%d/same", n), func(b *testing.B) {
			p, r := benchPrincipal(0, n), benchRequest(0)
			if d := st.decide(p, r); !d.Allow {
				b.Fatalf("Decide = %+v, want allow", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				st.decide(p, r)
			}
		})
		b.Run(fmt.Sprintf("rules=%d/cached", n), func(b *testing.B) {
			p, r := benchPrincipal(0, n), benchRequest(0)
			if d := e.Decide(p, r); !d.Allow {
				b.Fatalf("Decide = %+v, want allow", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(p, r)
			}
		})
		for _, v := range []struct {
			name       string
			principals int
		}{{"varied", 256}, {"cold", 32768}} {
			b.Run(fmt.Sprintf("rules=%d/%s", n, v.name), func(b *testing.B) {
				ps := make([]*authn.Principal, v.principals)
				for i := range ps {
					ps[i] = benchPrincipal(i, n)
					ps[i].Subject = benchGUID(5, i) // distinct principals
				}
				rs := make([]Request, 64)
				for i := range rs {
					rs[i] = benchRequest(i)
				}
				allowed, i := 0, 0
				b.ReportAllocs()
				for b.Loop() {
					if st.decide(ps[i%len(ps)], rs[i%len(rs)]).Allow {
						allowed++
					}
					i++
				}
				b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
			})
		}
	}
}

// BenchmarkNew measures compiling and validating a policy of 1,000 rules:
// the cost of a load or reload, paid to the side of the running policy.
func BenchmarkNew(b *testing.B) {
	cfg := benchConfig(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
