package authn

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestJWKSDownServesCachedKeysAndFailsClosed(t *testing.T) {
	ks := newKeyServer(t)
	k1, k2, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	if err := v.Refresh(bg); err != nil {
		t.Fatal(err)
	}
	ks.down.Store(true)

	// Within max key age: known keys keep working, without the cache too.
	clock.Add(2 * time.Hour)
	payload := func() string { return mustJSON(t, entraClaims(ks.issuer(), clock.Now())) }
	if _, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), payload(), "RS256", k1)); err != nil {
		t.Fatalf("known key during outage: %v", err)
	}
	// An unknown key fails closed.
	clock.Add(10 * time.Minute)
	_, err := v.Verify(bg, sign(t, hdr("RS256", "k2"), payload(), "RS256", k2))
	wantCheck(t, err, InvalidToken, CheckKid)

	// Past max key age: Unavailable (503), for fresh and for cached tokens.
	cached := sign(t, hdr("RS256", "k1"), payload(), "RS256", k1)
	if _, err := v.Verify(bg, cached); err != nil {
		t.Fatal(err)
	}
	clock.Add(23 * time.Hour)
	_, err = v.Verify(bg, sign(t, hdr("RS256", "k1"), payload(), "RS256", k1))
	wantCheck(t, err, Unavailable, CheckKeys)
	if v.Ready() {
		t.Error("Ready() = true with stale keys")
	}

	// The endpoint comes back: the next request past the rate limit refetches.
	ks.down.Store(false)
	clock.Add(6 * time.Minute)
	if _, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), payload(), "RS256", k1)); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestNeverFetchedIsUnavailable(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.down.Store(true)
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	_, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1))
	wantCheck(t, err, Unavailable, CheckKeys)
}

func TestKeyRotationWithoutRestart(t *testing.T) {
	ks := newKeyServer(t)
	k1, k2, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	payload := func() string { return mustJSON(t, entraClaims(ks.issuer(), clock.Now())) }
	old := sign(t, hdr("RS256", "k1"), payload(), "RS256", k1)
	if _, err := v.Verify(bg, old); err != nil {
		t.Fatal(err)
	}
	// The issuer rolls to k2 and withdraws k1.
	ks.addKey("k2", k2, "RS256")
	ks.removeKey("k1")
	clock.Add(6 * time.Minute) // past the unknown-kid rate limit
	if _, err := v.Verify(bg, sign(t, hdr("RS256", "k2"), payload(), "RS256", k2)); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	// The cached verification of a k1 token is not served after k1 was
	// withdrawn: it is verified afresh and fails.
	_, err := v.Verify(bg, old)
	wantCheck(t, err, InvalidToken, CheckKid)
}

func TestScheduledRefresh(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	if err := v.Refresh(bg); err != nil {
		t.Fatal(err)
	}
	before := ks.fetches.Load()
	clock.Add(61 * time.Minute)
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatal(err)
	}
	// The refresh runs in the background; wait for it, bounded.
	deadline := time.Now().Add(5 * time.Second)
	for ks.fetches.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no scheduled refresh after the refresh interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRandomKidFloodIsBounded(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	if err := v.Refresh(bg); err != nil {
		t.Fatal(err)
	}
	start := ks.fetches.Load()
	payload := mustJSON(t, entraClaims(ks.issuer(), clock.Now()))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				tok := sign(t, hdr("RS256", fmt.Sprintf("random-%d-%d", g, i)), payload, "RS256", k1)
				if _, err := v.Verify(bg, tok); err == nil {
					t.Error("token with an unknown kid accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	// 400 unknown kids within the rate-limit window: at most one fetch.
	if n := ks.fetches.Load() - start; n > 1 {
		t.Fatalf("%d JWKS fetches for a random-kid flood, want at most 1", n)
	}
	// Later windows allow one more each, never one per token.
	clock.Add(5 * time.Minute)
	for i := 0; i < 100; i++ {
		v.Verify(bg, sign(t, hdr("RS256", fmt.Sprintf("again-%d", i)), payload, "RS256", k1))
	}
	if n := ks.fetches.Load() - start; n > 2 {
		t.Fatalf("%d JWKS fetches after two windows, want at most 2", n)
	}
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(bg, tok); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := ks.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 16 concurrent first requests, want 1", n)
	}
}

func TestMultiTenantTemplate(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.template = ks.srv.URL + "/{tenantid}/v2.0"
	clock := testkit.NewClock(testStart)
	cfg := ks.entraConfig()
	cfg.Issuer = ks.template
	cfg.DiscoveryURL = ks.srv.URL + "/organizations/v2.0/.well-known/openid-configuration"
	cfg.Tenants = []string{testTenant}
	v := ks.verifier(t, clock, cfg)
	tokenFor := func(tid string, edit func(map[string]any)) string {
		c := entraClaims(ks.srv.URL+"/"+tid+"/v2.0", clock.Now())
		c["tid"] = tid
		if edit != nil {
			edit(c)
		}
		return sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1)
	}
	if _, err := v.Verify(bg, tokenFor(testTenant, nil)); err != nil {
		t.Fatalf("allowed tenant: %v", err)
	}
	_, err := v.Verify(bg, tokenFor(otherTenant, nil))
	wantCheck(t, err, InvalidToken, CheckTenant)
	// iss of one tenant with tid of another.
	_, err = v.Verify(bg, tokenFor(testTenant, func(c map[string]any) { c["tid"] = otherTenant }))
	wantCheck(t, err, InvalidToken, CheckIssuer)

}

func TestKeyIssuerPinned(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.template = ks.srv.URL + "/{tenantid}/v2.0"
	// The key is published for one concrete tenant only (as Entra does for
	// the consumer tenant's keys).
	ks.keyIssuer = ks.srv.URL + "/" + otherTenant + "/v2.0"
	clock := testkit.NewClock(testStart)
	cfg := ks.entraConfig()
	cfg.Issuer = ks.template
	cfg.DiscoveryURL = ks.srv.URL + "/organizations/v2.0/.well-known/openid-configuration"
	cfg.Tenants = []string{"*"}
	v := ks.verifier(t, clock, cfg)
	tokenFor := func(tid string) string {
		c := entraClaims(ks.srv.URL+"/"+tid+"/v2.0", clock.Now())
		c["tid"] = tid
		return sign(t, hdr("RS256", "k1"), mustJSON(t, c), "RS256", k1)
	}
	_, err := v.Verify(bg, tokenFor(testTenant))
	wantCheck(t, err, InvalidToken, CheckIssuer)
	if _, err := v.Verify(bg, tokenFor(otherTenant)); err != nil {
		t.Fatalf("token of the key's own tenant: %v", err)
	}
}

func TestDiscoveryIssuerMismatchFails(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.template = "https://evil.example/" + testTenant + "/v2.0"
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	_, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1))
	wantCheck(t, err, Unavailable, CheckKeys)
}
