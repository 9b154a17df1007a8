package mint

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/authn"
)

var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// The test directory: an Entra tenant, a user, the client and an agent.
const (
	testTenant  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testUserOID = "690222be-ff1a-4d56-abd1-7e4f7d38e474"
	testAppID   = "6e74172b-be56-4843-9ff4-e66a39bb12e3" // calling client
	testAgentID = "0b8d4c43-7a2b-4b6f-9d38-1d1b7b5f0a11" // agent acting for the user
	testIssuer  = "https://login.microsoftonline.com/" + testTenant + "/v2.0"
	// testPseudonym stands for the pseudonym creds derives for the user.
	testPseudonym = "W2S7cQm0dL9pX4vK1nR8tA"
)

// personal is the personal data in testPrincipal's claims that must never
// reach a token. (Long enough that a random token id or signature cannot
// contain one by chance.)
var personal = []string{"Ada Lovelace", "Lovelace", "ada@contoso.example", "ada.lovelace@contoso.example", "contoso.example"}

func testPrincipal() *authn.Principal {
	return &authn.Principal{
		IssuerName: "entra",
		Issuer:     testIssuer,
		Subject:    testUserOID,
		Tenant:     testTenant,
		Kind:       authn.KindUser,
		App:        testAppID,
		Groups:     []string{"11111111-2222-4333-8444-555555555501", "11111111-2222-4333-8444-555555555502"},
		Actors:     []authn.Actor{{Subject: testAgentID, App: testAgentID, Via: authn.ActorViaClient}},
		Claims: map[string]any{
			"oid": testUserOID, "tid": testTenant, "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
			"name": "Ada Lovelace", "preferred_username": "ada@contoso.example",
			"upn": "ada@contoso.example", "email": "ada.lovelace@contoso.example",
		},
	}
}

func assertNoPersonalData(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range personal {
		if strings.Contains(strings.ToLower(s), strings.ToLower(p)) {
			t.Errorf("%s contains personal data %q: %s", what, p, s)
		}
	}
}

// testLogger sends the package's logs to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWebIdentity is what creds asks of a token for the user under the
// role "reader" with every session tag.
func testWebIdentity() WebIdentity {
	return WebIdentity{
		Audience:       "sts.amazonaws.com",
		Subject:        "role:reader:" + testPseudonym,
		SourceIdentity: testPseudonym,
		Tags: []Tag{
			{"tenant", testTenant}, {"kind", "user"}, {"agent", testAgentID}, {"app", testAppID}, {"groups", ":admins:ops:"},
		},
	}
}

// decodeJWT returns the header and payload of a compact JWS, decoded
// without verification (verification is TestMintVerifiesWithAuthn's job).
func decodeJWT(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	dec := func(s string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("segment not base64url: %v", err)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

func newTestIssuer(t *testing.T, url string) *Issuer {
	t.Helper()
	iss, err := NewIssuer(Config{URL: url, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func TestMintClaims(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	tok, err := iss.Mint(testWebIdentity(), testNow)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decodeJWT(t, tok)
	if h["alg"] != "RS256" || h["typ"] != "JWT" || h["kid"] != iss.keys.Load().current.kid || len(h) != 3 {
		t.Errorf("header = %v, want alg RS256, typ JWT and the current kid only", h)
	}
	want := map[string]any{
		"iss":                                    "https://gatehouse.example.com/issuer",
		"sub":                                    "role:reader:" + testPseudonym,
		"aud":                                    "sts.amazonaws.com",
		"iat":                                    json.Number("1795608000"),
		"nbf":                                    json.Number("1795608000"),
		"exp":                                    json.Number("1795608300"),
		"https://aws.amazon.com/source_identity": testPseudonym,
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if jti, _ := c["jti"].(string); len(jti) != 22 {
		t.Errorf("jti = %v, want 22 characters of base64url (128 bits)", c["jti"])
	}
	tags, _ := c[ClaimTags].(map[string]any)
	if len(tags) != 2 {
		t.Fatalf("tags claim = %v, want principal_tags and transitive_tag_keys", c[ClaimTags])
	}
	pt, _ := tags["principal_tags"].(map[string]any)
	wantTags := map[string]string{"tenant": testTenant, "kind": "user", "agent": testAgentID, "app": testAppID, "groups": ":admins:ops:"}
	if len(pt) != len(wantTags) {
		t.Errorf("principal_tags = %v, want %v", pt, wantTags)
	}
	for k, v := range wantTags {
		arr, _ := pt[k].([]any)
		if len(arr) != 1 || arr[0] != v {
			t.Errorf("principal_tags[%s] = %v, want [%q] (exactly one string)", k, pt[k], v)
		}
	}
	tk, _ := tags["transitive_tag_keys"].([]any)
	if got, want := fmt.Sprint(tk), "[tenant kind agent app groups]"; got != want {
		t.Errorf("transitive_tag_keys = %v, want every tag key in the order given: %v", got, want)
	}
	if len(c) != 9 {
		t.Errorf("claims = %v: want exactly iss sub aud iat nbf exp jti and the two AWS claims", c)
	}

	// Two tokens for the same identity differ in jti only.
	tok2, _ := iss.Mint(testWebIdentity(), testNow)
	_, c2 := decodeJWT(t, tok2)
	if c2["jti"] == c["jti"] {
		t.Error("two tokens share a jti")
	}
}

func TestMintNoTags(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	id := testWebIdentity()
	id.Tags = nil
	tok, err := iss.Mint(id, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, c := decodeJWT(t, tok)
	if _, ok := c[ClaimTags]; ok {
		t.Errorf("tags claim present with no tags given: %v", c)
	}
}

func TestMintNoSourceIdentity(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	id := testWebIdentity()
	id.SourceIdentity = ""
	tok, err := iss.Mint(id, testNow)
	if err != nil {
		t.Fatal(err)
	}
	_, c := decodeJWT(t, tok)
	if _, ok := c[ClaimSourceIdentity]; ok {
		t.Errorf("source identity claim present with none given: %v", c)
	}
}

func TestMintRejects(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com")
	noAudience, noSubject := testWebIdentity(), testWebIdentity()
	noAudience.Audience, noSubject.Subject = "", ""
	for name, id := range map[string]WebIdentity{"no audience": noAudience, "no subject": noSubject} {
		if tok, err := iss.Mint(id, testNow); err == nil {
			t.Errorf("Mint with %s = %q, want an error", name, tok)
		}
	}
}

func TestTokenLifetime(t *testing.T) {
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com", TokenLifetime: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint(testWebIdentity(), testNow)
	_, c := decodeJWT(t, tok)
	if c["exp"] != json.Number("1795608120") {
		t.Errorf("exp = %v, want iat + 2 min", c["exp"])
	}
	if _, err := NewIssuer(Config{URL: "https://gatehouse.example.com", TokenLifetime: 6 * time.Minute}); err == nil {
		t.Error("NewIssuer accepted a 6 min token lifetime")
	}
}

func TestNewIssuerURL(t *testing.T) {
	for _, u := range []string{
		"http://gatehouse.example.com",
		"https://gatehouse.example.com/",
		"https://gatehouse.example.com/issuer/",
		"https://gatehouse.example.com?x=1",
		"https://gatehouse.example.com#f",
		"https://user@gatehouse.example.com",
		"https:gatehouse.example.com",
		"https://gatehouse.example.com/a//b",
		"https://gatehouse.example.com/a/../b",
		"https://gatehouse.example.com/a%2Fb",
		"gatehouse.example.com",
		"",
	} {
		if _, err := NewIssuer(Config{URL: u}); err == nil {
			t.Errorf("NewIssuer(%q) succeeded", u)
		}
	}
	for _, u := range []string{"https://gatehouse.example.com", "https://gatehouse.example.com/issuer", "https://127.0.0.1:8443/oidc/gatehouse"} {
		if _, err := NewIssuer(Config{URL: u}); err != nil {
			t.Errorf("NewIssuer(%q): %v", u, err)
		}
	}
}

// serveIssuer serves iss over TLS at its URL's path and returns a client
// trusting the server. The issuer URL must be the server's: so the issuer
// is made here, for the server's address.
func serveIssuer(t *testing.T, path string, cfg Config) (*Issuer, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg.URL = srv.URL + path
	iss, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(path+"/", iss.Handler())
	return iss, srv
}

// TestMintVerifiesWithAuthn checks minted tokens with gatehouse's own strict
// verifier, configured as a plain OIDC issuer from the served discovery
// document and JWKS.
func TestMintVerifiesWithAuthn(t *testing.T) {
	iss, srv := serveIssuer(t, "/issuer", Config{})
	v, err := authn.NewVerifier(authn.Config{
		Issuers:    []authn.IssuerConfig{{Name: "gatehouse", Issuer: iss.URL(), Audiences: []string{"sts.amazonaws.com"}}},
		HTTPClient: srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(testWebIdentity(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != "role:reader:"+testPseudonym || got.Issuer != iss.URL() {
		t.Errorf("verified principal = %s at %s", got.Subject, got.Issuer)
	}
	if exp := got.Expiry.Sub(got.IssuedAt); exp != 5*time.Minute {
		t.Errorf("lifetime = %v, want 5m", exp)
	}
	// After a rotation the new key signs and tokens still verify (the new
	// current key was published as next before).
	if err := iss.Rotate(); err != nil {
		t.Fatal(err)
	}
	tok2, _ := iss.Mint(testWebIdentity(), time.Now())
	if h1, _ := decodeJWT(t, tok); true {
		if h2, _ := decodeJWT(t, tok2); h1["kid"] == h2["kid"] {
			t.Error("Rotate did not change the signing key")
		}
	}
	if _, err := v.Verify(context.Background(), tok2); err != nil {
		t.Errorf("Verify after rotation: %v", err)
	}
}

func TestIssuerHandler(t *testing.T) {
	iss, srv := serveIssuer(t, "/issuer", Config{})
	c := srv.Client()
	get := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("GET", "/issuer/.well-known/openid-configuration")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("discovery: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var disc map[string]any
	if err := json.Unmarshal(body, &disc); err != nil {
		t.Fatal(err)
	}
	if disc["issuer"] != iss.URL() || disc["jwks_uri"] != iss.URL()+"/keys.json" {
		t.Errorf("discovery = %v", disc)
	}
	resp, body = get("GET", "/issuer/keys.json")
	if resp.StatusCode != 200 {
		t.Fatalf("jwks: %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Errorf("JWKS has %d keys, want current and next", len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || k.Algorithm != "RS256" || k.Use != "sig" || k.KeyID == "" {
			t.Errorf("JWKS key %s: public %v alg %q use %q", k.KeyID, k.IsPublic(), k.Algorithm, k.Use)
		}
	}
	if strings.Contains(string(body), `"d"`) || strings.Contains(string(body), `"p"`) {
		t.Error("JWKS leaks private key members")
	}
	for _, tt := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/issuer/keys.json", 405},
		{"HEAD", "/issuer/keys.json", 200},
		{"GET", "/issuer/keys", 404},
		{"GET", "/issuer/.well-known/openid-configuration/", 404},
	} {
		if resp, _ := get(tt.method, tt.path); resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestIssuerKeyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	cfg := Config{URL: "https://gatehouse.example.com", KeyDir: dir, Logger: testLogger(t)}
	iss, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %v, want 0700", di.Mode().Perm())
	}
	kid := iss.keys.Load().current.kid

	// A restart keeps the keys, so tokens and the hosted JWKS stay valid.
	iss2, err := NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if iss2.keys.Load().current.kid != kid {
		t.Error("restart changed the signing key")
	}

	// RotateKeys on the directory reaches the running issuer.
	next := ""
	for _, k := range iss.keys.Load().keys {
		if k.State == keyNext {
			next = k.kid
		}
	}
	if err := RotateKeys(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	iss.checked.Store(0) // skip the once-a-second wait
	if got := iss.snapshot().current.kid; got != next {
		t.Errorf("after RotateKeys the current key is %s, want the former next key %s", got, next)
	}
	jwks, _ := iss.snapshot().jwks(time.Now())
	if !strings.Contains(string(jwks), kid) {
		t.Error("the retired key left the JWKS at once; tokens it signed still live")
	}
	if jwks, _ := iss.snapshot().jwks(time.Now().Add(time.Hour)); strings.Contains(string(jwks), kid) {
		t.Error("the retired key is still published an hour later")
	}

	// A key file readable by others is refused, not used.
	if err := os.Chmod(filepath.Join(dir, KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(cfg); err == nil || !strings.Contains(err.Error(), "accessible to other users") {
		t.Errorf("NewIssuer with a 0644 key file: err = %v", err)
	}
}

func TestExport(t *testing.T) {
	iss := newTestIssuer(t, "https://gatehouse.example.com/issuer")
	dir := t.TempDir()
	if err := iss.Export(dir); err != nil {
		t.Fatal(err)
	}
	disc, err := os.ReadFile(filepath.Join(dir, ".well-known", "openid-configuration"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(disc, &d); err != nil {
		t.Fatal(err)
	}
	if d["issuer"] != "https://gatehouse.example.com/issuer" || d["jwks_uri"] != "https://gatehouse.example.com/issuer/keys.json" {
		t.Errorf("exported discovery = %v", d)
	}
	keys, err := os.ReadFile(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(keys, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("exported keys: %v, %d keys", err, len(set.Keys))
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Error("exported a private key")
		}
	}
	// The exported files are what the handler serves.
	rec := httptest.NewRecorder()
	iss.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/issuer/.well-known/openid-configuration", nil))
	if strings.TrimSpace(rec.Body.String()) != strings.TrimSpace(string(disc)) {
		t.Error("exported discovery differs from the served one")
	}
}

// BenchmarkMint is the token alone (for reading creds' brokered round trip).
func BenchmarkMint(b *testing.B) {
	iss, err := NewIssuer(Config{URL: "https://gatehouse.example.com/oidc"})
	if err != nil {
		b.Fatal(err)
	}
	id := testWebIdentity()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Mint(id, now); err != nil {
			b.Fatal(err)
		}
	}
}
