package authz

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

func cacheTestConfig() Config {
	return Config{
		Roles: []Role{{Name: "reader", Actions: []string{ActionInvoke}, Functions: []string{"reports-*"}}},
		Rules: []Rule{{ID: "finance", Effect: EffectAllow, Roles: []string{"reader"},
			Groups: []GroupRef{{ID: "cc501977-ed03-40c6-bff3-944575d3a8ca"}}}},
	}
}

func TestDecisionCache(t *testing.T) {
	e, err := New(cacheTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	bob := &authn.Principal{Subject: "1ee840e4-61de-4634-b1e6-1e29799b084f", Kind: authn.KindUser, Groups: []string{"cc501977-ed03-40c6-bff3-944575d3a8ca"}}
	req := Request{Action: ActionInvoke, Resource: Resource{Kind: ResourceFunction, Name: "reports-daily"}}
	first := e.Decide(bob, req)
	again := e.Decide(bob, req)
	if !first.Allow || !again.Allow || again.Role != first.Role {
		t.Fatalf("decisions %+v then %+v", first, again)
	}
	if hits, misses := e.CacheStats(); hits != 1 || misses != 1 {
		t.Errorf("hits %d misses %d, want 1 and 1", hits, misses)
	}
	// Another resource, another principal: evaluated, not reused.
	other := req
	other.Resource.Name = "payroll"
	if d := e.Decide(bob, other); d.Allow {
		t.Error("payroll allowed from bob's cached reports decision")
	}
	dave := &authn.Principal{Subject: "4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07", Kind: authn.KindUser}
	if d := e.Decide(dave, req); d.Allow {
		t.Error("dave allowed from bob's cached decision")
	}
	// A reload starts from an empty cache: the new policy decides.
	cfg := cacheTestConfig()
	cfg.Rules[0].Effect, cfg.Rules[0].Roles = EffectDeny, nil
	if err := e.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if d := e.Decide(bob, req); d.Allow {
		t.Error("after a reload that denies, the cached allow was served")
	}
}

// TestNoDecisionCacheWithCedarFiles: a Cedar file may read the request's
// time or address, so every decision is evaluated.
func TestNoDecisionCacheWithCedarFiles(t *testing.T) {
	cfg := cacheTestConfig()
	cfg.Policies = []PolicyFile{{Name: "office.cedar", Text: []byte(`forbid (principal, action, resource) when { context has sourceIp && !context.sourceIp.isInRange(ip("10.0.0.0/8")) };`)}}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bob := &authn.Principal{Subject: "1ee840e4-61de-4634-b1e6-1e29799b084f", Kind: authn.KindUser, Groups: []string{"cc501977-ed03-40c6-bff3-944575d3a8ca"}}
	req := Request{Action: ActionInvoke, Resource: Resource{Kind: ResourceFunction, Name: "reports-daily"}, SourceIP: "10.1.2.3", Time: time.Now()}
	if d := e.Decide(bob, req); !d.Allow {
		t.Fatalf("from the office: %+v", d)
	}
	req.SourceIP = "192.0.2.7"
	if d := e.Decide(bob, req); d.Allow {
		t.Error("from outside: allowed, as if the office decision had been cached")
	}
	if hits, _ := e.CacheStats(); hits != 0 {
		t.Errorf("%d cache hits with a Cedar file loaded", hits)
	}
}
