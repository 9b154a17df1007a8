package mint

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

const testUpstream = "https://reports.internal.example"

// assertionPrincipal is testPrincipal with what an assertion needs: a
// token id, an expiry, app roles, scopes and an RFC 8693 actor chain of an
// app acting through another agent.
func assertionPrincipal(now time.Time) *authn.Principal {
	p := testPrincipal()
	p.Roles = []string{"Reports.Read", "Reports.Export"}
	p.Scopes = []string{"access_as_user", "reports.read"}
	p.TokenID = "uti-" + base64.RawURLEncoding.EncodeToString([]byte(now.String()))
	p.Expiry = now.Add(time.Hour)
	p.Actors = []authn.Actor{
		{Subject: testAgentID, App: testAgentID, Via: authn.ActorViaAct},
		{Subject: "orchestrator-sp", Issuer: testIssuer, Via: authn.ActorViaAct},
	}
	return p
}

// TestAssertionVerifiesWithAuthn checks the assertion with gatehouse's own
// strict verifier, as an upstream would: a plain OIDC issuer from the
// served discovery document and JWKS, the upstream's audience.
func TestAssertionVerifiesWithAuthn(t *testing.T) {
	iss, srv := serveIssuer(t, "/issuer", Config{})
	v, err := authn.NewVerifier(authn.Config{
		Issuers: []authn.IssuerConfig{{
			Name: "gatehouse", Type: authn.TypeOIDC, Issuer: iss.URL(), Audiences: []string{testUpstream},
			Types: []string{"JWT"}, Claims: authn.ClaimNames{Tenant: "tid"},
		}},
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p := assertionPrincipal(now)
	tok, err := iss.Assertion(p, testUpstream, "reports-reader", now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify(assertion) = %v", err)
	}
	want := &authn.Principal{
		IssuerName: "gatehouse",
		Issuer:     iss.URL(),
		Subject:    testUserOID,
		Tenant:     testTenant,
		Kind:       authn.KindUser,
		App:        testAppID,
		Roles:      p.Roles,
		Scopes:     p.Scopes,
		Actors: []authn.Actor{
			{Subject: testAgentID, App: testAgentID, Via: authn.ActorViaAct},
			{Subject: "orchestrator-sp", Via: authn.ActorViaAct},
		},
		IssuedAt:  time.Unix(now.Unix(), 0),
		NotBefore: time.Unix(now.Unix(), 0),
		Expiry:    time.Unix(now.Add(AssertionLifetime).Unix(), 0),
	}
	opts := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool {
			switch p.Last().String() {
			case ".Claims", ".TokenID", ".TokenVersion":
				return true
			}
			return false
		}, cmp.Ignore()),
	}
	if diff := cmp.Diff(want, got, opts); diff != "" {
		t.Errorf("verified assertion (-want +got):\n%s", diff)
	}
	if got.Claims["idp"] != testIssuer || got.Claims["gatehouse_role"] != "reports-reader" || got.Claims["kind"] != "user" {
		t.Errorf("claims idp, gatehouse_role, kind = %v, %v, %v", got.Claims["idp"], got.Claims["gatehouse_role"], got.Claims["kind"])
	}

	// Another upstream's verifier refuses it: the audience pins the
	// assertion to one upstream.
	other, err := authn.NewVerifier(authn.Config{
		Issuers:    []authn.IssuerConfig{{Name: "gatehouse", Issuer: iss.URL(), Audiences: []string{"https://other.internal.example"}}},
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ae *authn.Error
	if _, err := other.Verify(context.Background(), tok); !errors.As(err, &ae) || ae.Check != authn.CheckAudience {
		t.Errorf("Verify at another upstream = %v, want an aud failure", err)
	}
}

func TestAssertionClaims(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := assertionPrincipal(testNow)
	tok, err := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decodeJWT(t, tok)
	wantHeader := map[string]any{"alg": "RS256", "typ": "JWT", "kid": iss.keys.Load().current.kid}
	if diff := cmp.Diff(wantHeader, h); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	jti, _ := c["jti"].(string)
	if id, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(id) != 16 {
		t.Errorf("jti = %q, want 128 random bits in base64url", jti)
	}
	delete(c, "jti")
	want := map[string]any{
		"iss":   "https://gatehouse.example.com/issuer",
		"aud":   testUpstream,
		"sub":   testUserOID,
		"tid":   testTenant,
		"idp":   testIssuer,
		"kind":  "user",
		"azp":   testAppID,
		"roles": []any{"Reports.Read", "Reports.Export"},
		"scp":   "access_as_user reports.read",
		"act": map[string]any{
			"sub": testAgentID, "client_id": testAgentID,
			"act": map[string]any{"sub": "orchestrator-sp"},
		},
		"gatehouse_role": "reports-reader",
		"iat":            json.Number("1795608000"),
		"nbf":            json.Number("1795608000"),
		"exp":            json.Number("1795608300"),
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
}

func TestAssertionOmitsEmptyClaims(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := &authn.Principal{
		Issuer: "https://idp.example", Subject: "svc-1", Kind: authn.KindApp,
		TokenID: "t-omit", Expiry: testNow.Add(time.Hour),
	}
	tok, err := iss.Assertion(p, testUpstream, "batch", testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, c := decodeJWT(t, tok)
	want := []string{"aud", "exp", "gatehouse_role", "iat", "idp", "iss", "jti", "kind", "nbf", "sub"}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(c))); diff != "" {
		t.Errorf("claim names (-want +got):\n%s", diff)
	}
}

// TestAssertionNoDisplayClaims: names, UPNs and email addresses in the
// token's claims never reach the upstream's assertion.
func TestAssertionNoDisplayClaims(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := assertionPrincipal(testNow)
	p.Claims["given_name"] = "Ada"
	p.Claims["family_name"] = "Lovelace"
	p.Claims["unique_name"] = "ada@contoso.example"
	tok, err := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	assertNoPersonalData(t, "assertion payload", string(payload))
	_, c := decodeJWT(t, tok)
	for _, name := range []string{"name", "upn", "email", "preferred_username", "unique_name", "given_name", "family_name", "oid", "groups"} {
		if _, ok := c[name]; ok {
			t.Errorf("assertion carries %q", name)
		}
	}
}

func TestAssertionExpiryCappedByToken(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := assertionPrincipal(testNow)
	p.Expiry = testNow.Add(90*time.Second + 500*time.Millisecond)
	tok, err := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, c := decodeJWT(t, tok)
	if got, want := c["exp"], json.Number(fmt.Sprint(testNow.Unix()+90)); got != want {
		t.Errorf("exp = %v, want %v: the token's own expiry, never past it", got, want)
	}
	// 61 s later the assertion has 29 s left: below the reuse margin, so a
	// new one is signed, still capped by the token's expiry.
	later := testNow.Add(61 * time.Second)
	tok2, err := iss.Assertion(p, testUpstream, "reports-reader", later)
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok {
		t.Error("an assertion with less than 60 s left was reused")
	}
	if _, c2 := decodeJWT(t, tok2); c2["exp"] != c["exp"] || c2["iat"] != json.Number(fmt.Sprint(later.Unix())) {
		t.Errorf("second assertion iat, exp = %v, %v; want %d, %v", c2["iat"], c2["exp"], later.Unix(), c["exp"])
	}
}

func TestAssertionRefusesExpiredPrincipal(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	tests := []struct {
		name   string
		expiry time.Time
	}{
		{"expired", testNow.Add(-time.Second)},
		{"expires now", testNow},
		{"expires within the second", testNow.Add(500 * time.Millisecond)},
		{"no expiry", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := assertionPrincipal(testNow)
			p.Expiry = tt.expiry
			if tok, err := iss.Assertion(p, testUpstream, "reports-reader", testNow); !errors.Is(err, ErrPrincipalExpired) {
				t.Errorf("Assertion = %q, %v; want ErrPrincipalExpired", tok, err)
			}
		})
	}
	// A cached assertion is not handed out once the token has expired.
	p := assertionPrincipal(testNow)
	p.Expiry = testNow.Add(3 * time.Minute)
	if _, err := iss.Assertion(p, testUpstream, "reports-reader", testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Assertion(p, testUpstream, "reports-reader", testNow.Add(3*time.Minute)); !errors.Is(err, ErrPrincipalExpired) {
		t.Errorf("Assertion at the token's expiry = %v, want ErrPrincipalExpired", err)
	}
}

func TestAssertionRefuses(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	noSubject := assertionPrincipal(testNow)
	noSubject.Subject = ""
	badUTF8 := assertionPrincipal(testNow)
	badUTF8.Subject = "ada\xff"
	emptyActor := assertionPrincipal(testNow)
	emptyActor.Actors = []authn.Actor{{Via: authn.ActorViaAct}}
	tests := []struct {
		name     string
		p        *authn.Principal
		audience string
	}{
		{"no principal", nil, testUpstream},
		{"no audience", assertionPrincipal(testNow), ""},
		{"no subject", noSubject, testUpstream},
		{"subject not UTF-8", badUTF8, testUpstream},
		{"actor without subject or app", emptyActor, testUpstream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := iss.Assertion(tt.p, tt.audience, "reports-reader", testNow); err == nil {
				t.Errorf("Assertion = %q, want an error", tok)
			}
		})
	}
}

func TestAssertionCache(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	p := assertionPrincipal(testNow)
	first, err := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := iss.Assertion(p, testUpstream, "reports-reader", testNow.Add(3*time.Minute+59*time.Second)); again != first {
		t.Error("cache miss for the same principal, audience and role with 61 s left")
	}
	if again, _ := iss.Assertion(p, testUpstream, "reports-reader", testNow.Add(4*time.Minute)); again == first {
		t.Error("an assertion with 60 s left was reused")
	}

	// Each input the content derives from makes a different assertion.
	base := func() *authn.Principal { return assertionPrincipal(testNow) }
	variants := []struct {
		name     string
		p        *authn.Principal
		audience string
		role     string
	}{
		{"audience", base(), "https://other.internal.example", "reports-reader"},
		{"role", base(), testUpstream, "reports-admin"},
		{"token id", func() *authn.Principal { p := base(); p.TokenID = "other"; return p }(), testUpstream, "reports-reader"},
		{"expiry", func() *authn.Principal { p := base(); p.Expiry = p.Expiry.Add(time.Minute); return p }(), testUpstream, "reports-reader"},
		{"subject", func() *authn.Principal { p := base(); p.Subject = testAgentID; return p }(), testUpstream, "reports-reader"},
		{"tenant", func() *authn.Principal { p := base(); p.Tenant = "other"; return p }(), testUpstream, "reports-reader"},
		{"issuer", func() *authn.Principal { p := base(); p.Issuer = "https://idp.example"; return p }(), testUpstream, "reports-reader"},
		{"app", func() *authn.Principal { p := base(); p.App = "other"; return p }(), testUpstream, "reports-reader"},
		{"kind", func() *authn.Principal { p := base(); p.Kind = authn.KindApp; return p }(), testUpstream, "reports-reader"},
		{"roles", func() *authn.Principal { p := base(); p.Roles = p.Roles[:1]; return p }(), testUpstream, "reports-reader"},
		{"roles boundary", func() *authn.Principal { p := base(); p.Roles = []string{"Reports.ReadReports.Export"}; return p }(), testUpstream, "reports-reader"},
		{"scopes", func() *authn.Principal { p := base(); p.Scopes = nil; return p }(), testUpstream, "reports-reader"},
		{"actors", func() *authn.Principal { p := base(); p.Actors = p.Actors[1:]; return p }(), testUpstream, "reports-reader"},
		{"actor app", func() *authn.Principal { p := base(); p.Actors[1].App = "orchestrator-app"; return p }(), testUpstream, "reports-reader"},
	}
	seen := map[string]string{first: "original"}
	for _, v := range variants {
		tok, err := iss.Assertion(v.p, v.audience, v.role, testNow)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if prev, dup := seen[tok]; dup {
			t.Errorf("a different %s gave the same assertion as %s", v.name, prev)
		}
		seen[tok] = v.name
	}

	// No token id: never cached.
	p.TokenID = ""
	a, _ := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	b, _ := iss.Assertion(p, testUpstream, "reports-reader", testNow)
	if a == b {
		t.Error("an assertion for a principal without a token id was cached")
	}
}

// TestAssertionCacheKeyedOnSigningKey: another Issuer with the same URL
// but other keys, or this one after a rotation, never reuses an assertion
// signed with a key it does not sign with.
func TestAssertionCacheKeyedOnSigningKey(t *testing.T) {
	const url = "https://gatehouse.example.com/shared"
	a, b := newTestIssuer(t, url), newTestIssuer(t, url)
	p := assertionPrincipal(testNow)
	ta, _ := a.Assertion(p, testUpstream, "reports-reader", testNow)
	tb, _ := b.Assertion(p, testUpstream, "reports-reader", testNow)
	if ta == tb {
		t.Fatal("two issuers with different keys share an assertion")
	}
	if err := a.Rotate(); err != nil {
		t.Fatal(err)
	}
	tr, _ := a.Assertion(p, testUpstream, "reports-reader", testNow)
	hr, _ := decodeJWT(t, tr)
	if tr == ta || hr["kid"] != a.keys.Load().current.kid {
		t.Errorf("after a rotation the assertion is signed by kid %v, want the new current key", hr["kid"])
	}
}

// countingRand counts reads of the issuer's randomness: one per signed
// assertion (its jti).
type countingRand struct{ n atomic.Int64 }

func (c *countingRand) Read(b []byte) (int, error) {
	c.n.Add(1)
	return rand.Read(b)
}

func TestAssertionConcurrentMissesSignOnce(t *testing.T) {
	r := &countingRand{}
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com/flight", Rand: r})
	if err != nil {
		t.Fatal(err)
	}
	before := r.n.Load()
	p := assertionPrincipal(testNow)
	const n = 64
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		tokens [n]string
	)
	for k := range n {
		wg.Go(func() {
			<-start
			tok, err := iss.Assertion(p, testUpstream, "reports-reader", testNow)
			if err != nil {
				t.Error(err)
			}
			tokens[k] = tok
		})
	}
	close(start)
	wg.Wait()
	for k := range tokens {
		if tokens[k] != tokens[0] {
			t.Fatalf("caller %d got another assertion", k)
		}
	}
	if signed := r.n.Load() - before; signed != 1 {
		t.Errorf("%d concurrent callers signed %d assertions, want 1", n, signed)
	}
}

func TestAssertionCacheBound(t *testing.T) {
	c := newAssertionCache(8)
	now := testNow.Unix()
	fresh := func(i int) *cachedAssertion {
		return &cachedAssertion{token: fmt.Sprint("tok", i), iat: now, exp: now + 300}
	}
	for i := range 100 {
		c.put(fmt.Sprint("k", i), fresh(i), now)
		if n := c.len(); n > 8 {
			t.Fatalf("cache holds %d entries, bound 8", n)
		}
	}
	if e := c.get([]byte("k99"), now); e == nil || e.token != "tok99" {
		t.Errorf("latest entry = %v, want it cached", e)
	}
	// Entries no longer usable go first.
	c = newAssertionCache(4)
	for i := range 3 {
		c.put(fmt.Sprint("stale", i), &cachedAssertion{token: "stale", iat: now - 300, exp: now + 30}, now)
	}
	c.put("fresh", fresh(0), now)
	c.put("new", fresh(1), now)
	if c.get([]byte("fresh"), now) == nil || c.get([]byte("new"), now) == nil || c.len() != 2 {
		t.Errorf("after a sweep: %d entries; want the two usable ones kept", c.len())
	}
}

// fillAssertionCache puts n other entries in the cache, so lookups hash
// their keys as in a busy gateway (a map of one entry skips hashing).
func fillAssertionCache(now time.Time, n int) {
	for k := range n {
		assertions.put(fmt.Sprintf("%0400d", k), &cachedAssertion{token: "x", iat: now.Unix(), exp: now.Unix() + 300}, now.Unix())
	}
}

// BenchmarkAssertionCached is the cost of a cache hit: the gateway's cost
// of the assertion on every request of a token after the first.
func BenchmarkAssertionCached(b *testing.B) {
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com/oidc"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	fillAssertionCache(now, 5000)
	p := assertionPrincipal(now)
	if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAssertionCachedParallel(b *testing.B) {
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com/oidc"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	fillAssertionCache(now, 5000)
	p := assertionPrincipal(now)
	if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := iss.Assertion(p, testUpstream, "reports-reader", now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAssertionMiss is a new token's first request: key, lookup,
// signature (RSA-2048) and insertion, with the cache full and evicting.
func BenchmarkAssertionMiss(b *testing.B) {
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com/oidc"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	ids := make([]*authn.Principal, 4*assertionCacheEntries)
	for k := range ids {
		ids[k] = assertionPrincipal(now)
		ids[k].TokenID = fmt.Sprint("miss-", k)
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		if _, err := iss.Assertion(ids[k%len(ids)], testUpstream, "reports-reader", now); err != nil {
			b.Fatal(err)
		}
		k++
	}
}
