package authn

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// snapshotOf takes a snapshot of ks's issuer at the clock's time.
func snapshotOf(t *testing.T, ks *keyServer, clock *testkit.Clock) []byte {
	t.Helper()
	cfg := ks.entraConfig()
	b, err := FetchSnapshot(bg, cfg, ks.srv.Client(), clock.Now())
	if err != nil {
		t.Fatalf("FetchSnapshot: %v", err)
	}
	return b
}

func seededVerifier(t *testing.T, ks *keyServer, clock *testkit.Clock, snapshot []byte) (*Verifier, error) {
	t.Helper()
	cfg := ks.entraConfig()
	cfg.Snapshot = snapshot
	return NewVerifier(Config{Issuers: []IssuerConfig{cfg}, HTTPClient: ks.srv.Client(), Now: clock.Now})
}

func TestSnapshotVerifiesWithIssuerUnreachable(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	snap := snapshotOf(t, ks, clock)
	info, err := ReadSnapshot(snap)
	if err != nil || info.Issuer != ks.issuer() || info.Keys != 1 || !info.FetchedAt.Equal(clock.Now()) {
		t.Fatalf("ReadSnapshot = %+v, %v", info, err)
	}

	ks.down.Store(true)
	clock.Add(2 * time.Hour) // a cold start some hours after the build
	v, err := seededVerifier(t, ks, clock, snap)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Ready() {
		t.Error("Ready() = false with a fresh snapshot")
	}
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatalf("Verify with the issuer down: %v", err)
	}
	// A key outside the snapshot fails closed.
	_, k2, _ := testKeys(t)
	_, err = v.Verify(bg, sign(t, hdr("RS256", "k2"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k2))
	wantCheck(t, err, InvalidToken, CheckKid)
}

func TestSnapshotStartsBackgroundRefresh(t *testing.T) {
	ks := newKeyServer(t)
	k1, k2, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	snap := snapshotOf(t, ks, clock)
	before := ks.fetches.Load()
	// Since the snapshot the issuer withdrew k1 and rolled to k2.
	ks.removeKey("k1")
	ks.addKey("k2", k2, "RS256")
	v, err := seededVerifier(t, ks, clock, snap)
	if err != nil {
		t.Fatal(err)
	}
	if n := ks.fetches.Load(); n != before {
		t.Fatalf("NewVerifier fetched %d times; it does no I/O", n-before)
	}
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	if _, err := v.Verify(bg, tok); err != nil {
		t.Fatalf("first Verify from the snapshot: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ks.fetches.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh after the first use of a snapshot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once the refresh is installed, the withdrawn key stops verifying.
	for {
		_, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1))
		if err != nil {
			wantCheck(t, err, InvalidToken, CheckKid)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a key withdrawn since the snapshot still verifies after the refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotOlderThanMaxKeyAgeFailsClosed(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	snap := snapshotOf(t, ks, clock)
	ks.down.Store(true)
	clock.Add(24*time.Hour + time.Minute) // past the default MaxKeyAge
	v, err := seededVerifier(t, ks, clock, snap)
	if err != nil {
		t.Fatalf("an old snapshot is accepted at start (it only saves nothing): %v", err)
	}
	if v.Ready() {
		t.Error("Ready() = true with a snapshot older than MaxKeyAge")
	}
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	_, err = v.Verify(bg, tok)
	wantCheck(t, err, Unavailable, CheckKeys)

	// With the issuer back, the same old snapshot is refreshed before use.
	ks.down.Store(false)
	clock.Add(6 * time.Minute)
	if _, err := v.Verify(bg, sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
}

func TestSnapshotRefused(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	snap := snapshotOf(t, ks, clock)
	var good map[string]any
	if err := json.Unmarshal(snap, &good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		b, _ := json.Marshal(good)
		var m map[string]any
		json.Unmarshal(b, &m)
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakJWK, _ := jose.JSONWebKey{Key: &weak.PublicKey, KeyID: "weak", Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	var weakKey any
	json.Unmarshal(weakJWK, &weakKey)
	privJWK, _ := jose.JSONWebKey{Key: k1, KeyID: "priv", Algorithm: "RS256", Use: "sig"}.MarshalJSON()
	var privKey any
	json.Unmarshal(privJWK, &privKey)

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"another issuer", edit(func(m map[string]any) { m["issuer"] = "https://login.example/" + otherTenant + "/v2.0" }), "not"},
		{"fetched in the future", edit(func(m map[string]any) { m["fetched_at"] = clock.Now().Add(time.Hour).Format(time.RFC3339) }), "future"},
		{"no fetched_at", edit(func(m map[string]any) { delete(m, "fetched_at") }), "fetched_at"},
		{"unknown member", edit(func(m map[string]any) { m["max_age"] = 1e9 }), "unknown"},
		{"jwks_uri over http to a remote host", edit(func(m map[string]any) { m["jwks_uri"] = "http://keys.example/jwks" }), "https"},
		{"only a weak key", edit(func(m map[string]any) { m["keys"] = []any{weakKey} }), "no usable"},
		{"a private key", edit(func(m map[string]any) { m["keys"] = []any{privKey} }), "no usable"},
		{"two keys under one kid", edit(func(m map[string]any) {
			k := m["keys"].([]any)[0]
			m["keys"] = []any{k, k}
		}), "duplicate kid"},
		{"duplicate member", []byte(strings.Replace(string(snap), `"issuer"`, `"issuer": "https://evil.example", "issuer"`, 1)), "duplicate"},
		{"not JSON", []byte("keys"), "snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seededVerifier(t, ks, clock, tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewVerifier with a snapshot (%s) = %v, want an error mentioning %q", tc.name, err, tc.want)
			}
		})
	}
	// A weak key beside a good one is skipped, as in a fetched JWKS.
	mixed := edit(func(m map[string]any) { m["keys"] = append(m["keys"].([]any), weakKey) })
	if info, err := ReadSnapshot(mixed); err != nil || info.Keys != 1 {
		t.Fatalf("ReadSnapshot(good + weak) = %+v, %v; want 1 usable key", info, err)
	}
}

func TestFetchSnapshotFollowsDiscoveryRules(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	// The discovery document names another issuer: no snapshot.
	ks.template = "https://evil.example/" + testTenant + "/v2.0"
	if _, err := FetchSnapshot(bg, ks.entraConfig(), ks.srv.Client(), clock.Now()); err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("FetchSnapshot with a mismatched discovery issuer = %v", err)
	}
	ks.template = ""
	cfg := ks.entraConfig()
	cfg.DiscoveryURL = "http://idp.example/.well-known/openid-configuration"
	if _, err := FetchSnapshot(bg, cfg, ks.srv.Client(), clock.Now()); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("FetchSnapshot over http to a remote host = %v", err)
	}
	ks.down.Store(true)
	if _, err := FetchSnapshot(bg, ks.entraConfig(), ks.srv.Client(), clock.Now()); err == nil {
		t.Fatal("FetchSnapshot with the issuer down succeeded")
	}
}
