package authz

import (
	"sync"
	"testing"
)

// TestReloadKeepsPolicyOnError: a broken configuration is refused and the
// running policy keeps deciding; a good one takes over.
func TestReloadKeepsPolicyOnError(t *testing.T) {
	e := mustNew(t, sampleConfig())
	before := e.Cedar()
	bob := user(userBob, groupFinance)

	broken := sampleConfig()
	broken.Rules[0].Roles = nil // would stop bob
	broken.Policies = append(broken.Policies, PolicyFile{Name: "typo.cedar", Text: []byte("permit (principal, action, resource) when { principal.nope };")})
	err := e.Reload(broken)
	if err == nil {
		t.Fatal("Reload(broken): no error")
	}
	if n := len(Problems(err)); n != 2 {
		t.Errorf("Reload(broken): %d problems, want 2:\n%v", n, err)
	}
	if e.Cedar() != before {
		t.Error("Reload(broken) changed Cedar()")
	}
	if d := e.Decide(bob, invoke("reports-daily")); !d.Allow {
		t.Errorf("after Reload(broken): Decide = %+v, want the old policy's allow", d)
	}

	next := sampleConfig()
	next.Rules[0].Effect, next.Rules[0].Roles = EffectDeny, nil
	if err := e.Reload(next); err != nil {
		t.Fatalf("Reload(next): %v", err)
	}
	if d := e.Decide(bob, invoke("reports-daily")); d.Allow || d.Reason != "denied by rule allow-finance" {
		t.Errorf("after Reload(next): Decide = %+v, want denied by rule allow-finance", d)
	}
}

// TestReloadConcurrent: decisions during reloads see one whole policy, old
// or new (run with -race).
func TestReloadConcurrent(t *testing.T) {
	allow, deny := sampleConfig(), sampleConfig()
	deny.Rules[0].Effect, deny.Rules[0].Roles = EffectDeny, nil
	e := mustNew(t, allow)
	bob := user(userBob, groupFinance)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				d := e.Decide(bob, invoke("reports-daily"))
				if d.Allow != (d.Role == "reader") || !d.Allow && d.Reason != "denied by rule allow-finance" {
					t.Errorf("Decide during reload = %+v", d)
					return
				}
			}
		})
	}
	for i := range 50 {
		cfg := allow
		if i%2 == 0 {
			cfg = deny
		}
		if err := e.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}
