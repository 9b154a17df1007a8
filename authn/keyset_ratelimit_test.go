package authn

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// TestKeyFetchesBoundedPerInterval floods a verifier with tokens whose kid
// the issuer never published (and, while no keys are loaded, with tokens of
// a real kid), from many goroutines, over several rate-limit windows of a
// fake clock, with the issuer up, down or flapping: the issuer's endpoints
// see at most one fetch per min_refresh_interval, plus the first
// (SECURITY.md invariant 7).
func TestKeyFetchesBoundedPerInterval(t *testing.T) {
	never := func(int) bool { return false }
	always := func(int) bool { return true }
	odd := func(w int) bool { return w%2 == 1 }
	for _, tc := range []struct {
		name              string
		min, refresh      time.Duration // 0: the defaults
		loaded            bool          // keys fetched once before the flood
		down              func(window int) bool
		verifiesAtTheEnd  bool // a real token verifies once the issuer is back
		windows, steps    int  // windows of the flood; clock steps per window
		goroutines, calls int
	}{
		{"floor interval, issuer up", MinRefreshIntervalFloor, MinRefreshIntervalFloor, true, never, true, 6, 4, 32, 40},
		{"floor interval, issuer down", MinRefreshIntervalFloor, MinRefreshIntervalFloor, true, always, false, 6, 4, 32, 40},
		{"floor interval, issuer flapping", MinRefreshIntervalFloor, time.Minute, true, odd, true, 6, 4, 32, 40},
		{"defaults, issuer up", 0, 0, true, never, true, 4, 4, 32, 40},
		{"never loaded, issuer down", MinRefreshIntervalFloor, MinRefreshIntervalFloor, false, always, false, 6, 4, 32, 40},
		{"never loaded, issuer flapping", MinRefreshIntervalFloor, MinRefreshIntervalFloor, false, odd, true, 6, 4, 32, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks := newKeyServer(t)
			k1, _, _ := testKeys(t)
			ks.addKey("k1", k1, "RS256")
			clock := testkit.NewClock(testStart)
			cfg := ks.entraConfig()
			cfg.MinRefreshInterval, cfg.RefreshInterval = tc.min, tc.refresh
			// No verified-token cache: every token reaches the key set.
			v, err := NewVerifier(Config{Issuers: []IssuerConfig{cfg}, HTTPClient: ks.srv.Client(), Now: clock.Now, CacheEntries: -1})
			if err != nil {
				t.Fatal(err)
			}
			window := v.all[0].cfg.MinRefreshInterval
			if tc.loaded {
				if err := v.Refresh(bg); err != nil {
					t.Fatal(err)
				}
			}
			start := ks.discoveries.Load()
			payload := mustJSON(t, entraClaims(ks.issuer(), clock.Now()))
			genuine := sign(t, hdr("RS256", "k1"), payload, "RS256", k1)
			// The signature is never reached for an unknown kid: a fixed
			// one saves signing thousands of tokens.
			forged := func(g, i int) string {
				return b64enc([]byte(hdr("RS256", fmt.Sprintf("forged-%d-%d", g, i)))) + "." + b64enc([]byte(payload)) + ".AAAA"
			}

			var elapsed time.Duration
			for w := 0; w < tc.windows; w++ {
				ks.down.Store(tc.down(w))
				var wg sync.WaitGroup
				for g := 0; g < tc.goroutines; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < tc.calls; i++ {
							tok := forged(g, i)
							if i%4 == 0 {
								tok = genuine
							}
							p, err := v.Verify(bg, tok)
							if err == nil && tok != genuine {
								t.Errorf("a token with an unknown kid verified: %+v", p)
								return
							}
						}
					}()
				}
				// The clock moves during the flood, so that slots fall
				// due while goroutines are between checking and fetching.
				for s := 0; s < tc.steps; s++ {
					clock.Add(window / time.Duration(tc.steps))
					elapsed += window / time.Duration(tc.steps)
				}
				wg.Wait()
			}
			fetches := ks.discoveries.Load() - start
			if limit := int64(elapsed/window) + 1; fetches > limit {
				t.Errorf("%d key fetches in %s with min_refresh_interval %s, want at most %d", fetches, elapsed, window, limit)
			}
			if n := ks.fetches.Load(); n > ks.discoveries.Load() {
				t.Errorf("%d JWKS fetches for %d discovery fetches", n, ks.discoveries.Load())
			}
			if !tc.verifiesAtTheEnd {
				return
			}
			// Rate-limited, never locked out: once the issuer answers and
			// a window has passed, a real token verifies.
			ks.down.Store(false)
			clock.Add(window)
			fresh := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
			if _, err := v.Verify(bg, fresh); err != nil {
				t.Fatalf("Verify after the flood: %v", err)
			}
		})
	}
}

// TestKeyFetchFailureUsesTheSlot: a fetch that fails still uses the
// rate-limit slot, so an outage costs the issuer one request per interval,
// not one per token.
func TestKeyFetchFailureUsesTheSlot(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.down.Store(true)
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	for i := 0; i < 20; i++ {
		_, err := v.Verify(bg, tok)
		wantCheck(t, err, Unavailable, CheckKeys)
	}
	if n := ks.discoveries.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 requests while the issuer is down, want 1", n)
	}
	ks.down.Store(false)
	clock.Add(5 * time.Minute)
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatalf("after the issuer came back and the interval passed: %v", err)
	}
	if n := ks.discoveries.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// TestKeyFetchWaiterHonoursItsContext: a request whose context ends while
// the fetch it waits for is under way returns at once; the fetch goes on
// for the others and is not repeated.
func TestKeyFetchWaiterHonoursItsContext(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	ks.hold = make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(ks.hold) }) }
	t.Cleanup(release)
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)

	ctx, cancel := context.WithCancel(bg)
	cancel()
	// The fetch starts and is held by the server; this caller stops waiting.
	_, err := v.Verify(ctx, tok)
	wantCheck(t, err, Unavailable, CheckKeys)

	release()
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatalf("Verify after the held fetch was released: %v", err)
	}
	if n := ks.discoveries.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1: the second caller joins the fetch under way", n)
	}
}

func TestNewVerifierRefusesRefreshBelowFloor(t *testing.T) {
	for _, d := range []time.Duration{time.Nanosecond, time.Second, MinRefreshIntervalFloor - time.Millisecond, -time.Minute} {
		c := IssuerConfig{Name: "corp", Type: TypeOIDC, Issuer: "https://issuer.example", Audiences: []string{"api"},
			MinRefreshInterval: d, RefreshInterval: time.Minute}
		_, err := NewVerifier(Config{Issuers: []IssuerConfig{c}})
		if err == nil || !strings.Contains(err.Error(), "issuer corp") || !strings.Contains(err.Error(), "min_refresh_interval") {
			t.Errorf("NewVerifier with MinRefreshInterval %s = %v, want an error naming issuer corp and min_refresh_interval", d, err)
		}
	}
	c := IssuerConfig{Name: "corp", Type: TypeOIDC, Issuer: "https://issuer.example", Audiences: []string{"api"},
		MinRefreshInterval: MinRefreshIntervalFloor, RefreshInterval: MinRefreshIntervalFloor}
	if _, err := NewVerifier(Config{Issuers: []IssuerConfig{c}}); err != nil {
		t.Errorf("NewVerifier at the floor: %v", err)
	}
}
