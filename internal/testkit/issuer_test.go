package testkit_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func claims(iss *testkit.Issuer, now time.Time) map[string]any {
	return map[string]any{
		"iss": iss.URL(), "sub": "user-1", "aud": "api://test",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// TestIssuerWithGoOIDC: go-oidc, as any relying party would, discovers the
// issuer, fetches its JWKS over TLS and verifies what Sign makes; tokens of
// another issuer, or naming a key the issuer never published, fail.
func TestIssuerWithGoOIDC(t *testing.T) {
	for _, cfg := range []testkit.IssuerConfig{{}, {Alg: "ES256"}, {Path: "/tenant/v2.0"}, {Path: "/gatehouse", Alg: "ES256"}} {
		t.Run(cfg.Alg+cfg.Path, func(t *testing.T) {
			iss := testkit.NewIssuer(t, cfg)
			u, err := url.Parse(iss.URL())
			if err != nil || u.Scheme != "https" || u.Hostname() != "127.0.0.1" || u.Path != cfg.Path {
				t.Fatalf("URL() = %q (%v); want https://127.0.0.1:PORT%s", iss.URL(), err, cfg.Path)
			}
			ctx := oidc.ClientContext(t.Context(), iss.Client())
			provider, err := oidc.NewProvider(ctx, iss.URL())
			if err != nil {
				t.Fatalf("NewProvider: %v", err)
			}
			v := provider.Verifier(&oidc.Config{ClientID: "api://test"})
			now := time.Now()
			tok, err := v.Verify(ctx, iss.Sign(claims(iss, now)))
			if err != nil {
				t.Fatalf("Verify(Sign(...)): %v", err)
			}
			if tok.Subject != "user-1" || tok.Issuer != iss.URL() {
				t.Errorf("verified token: sub %q iss %q", tok.Subject, tok.Issuer)
			}
			wantAlg := cfg.Alg
			if wantAlg == "" {
				wantAlg = "RS256"
			}
			if h := header(t, iss.Sign(claims(iss, now))); h["alg"] != wantAlg || h["kid"] != testkit.KeyID || h["typ"] != "JWT" {
				t.Errorf("header = %v, want alg %s, kid %s, typ JWT", h, wantAlg, testkit.KeyID)
			}

			other := testkit.NewIssuer(t, cfg)
			if _, err := v.Verify(ctx, other.Sign(claims(iss, now))); err == nil {
				t.Error("a token signed by another issuer's key under the same kid verified")
			}
			if _, err := v.Verify(ctx, iss.SignHeader(map[string]any{"kid": "k2"}, claims(iss, now))); err == nil {
				t.Error("a token naming a kid the issuer never published verified")
			}
		})
	}
}

func TestIssuerSignHeader(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{Alg: "ES256"})
	h := header(t, iss.SignHeader(map[string]any{"typ": "at+jwt", "kid": nil, "x5t": "abc"}, map[string]any{"sub": "x"}))
	want := map[string]any{"alg": "ES256", "typ": "at+jwt", "x5t": "abc"}
	if len(h) != len(want) || h["alg"] != want["alg"] || h["typ"] != want["typ"] || h["x5t"] != want["x5t"] {
		t.Errorf("header = %v, want %v", h, want)
	}
}

// TestIssuerServesOnlyItsDocuments: GET of the two documents, 404 for
// anything else, 405 for other methods.
func TestIssuerServesOnlyItsDocuments(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{Path: "/gatehouse"})
	get := func(method, u string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := iss.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if resp.StatusCode == 200 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s: Content-Type %q", method, u, ct)
			}
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
				t.Fatalf("%s %s: %v", method, u, err)
			}
		}
		return resp.StatusCode, m
	}
	status, doc := get("GET", iss.URL()+"/.well-known/openid-configuration")
	if status != 200 || doc["issuer"] != iss.URL() || doc["jwks_uri"] != iss.URL()+"/jwks" {
		t.Errorf("discovery: %d %v", status, doc)
	}
	status, set := get("GET", iss.URL()+"/jwks")
	keys, _ := set["keys"].([]any)
	if status != 200 || len(keys) != 1 {
		t.Fatalf("JWKS: %d %v", status, set)
	}
	if k := keys[0].(map[string]any); k["kid"] != testkit.KeyID || k["alg"] != "RS256" || k["use"] != "sig" || k["d"] != nil {
		t.Errorf("JWK = %v; want the public key only, kid %s, alg RS256, use sig", k, testkit.KeyID)
	}
	base := strings.TrimSuffix(iss.URL(), "/gatehouse")
	for _, u := range []string{base + "/.well-known/openid-configuration", base + "/jwks", iss.URL() + "/", iss.URL() + "/token"} {
		if status, _ := get("GET", u); status != 404 {
			t.Errorf("GET %s: %d, want 404", u, status)
		}
	}
	if status, _ := get("POST", iss.URL()+"/jwks"); status != 405 {
		t.Errorf("POST jwks: %d, want 405", status)
	}
}

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestIssuerClose: a closed issuer serves nothing, as an identity provider
// that is down; its tokens are still signed, and verify against keys
// fetched before it closed.
func TestIssuerClose(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	ctx := oidc.ClientContext(t.Context(), iss.Client())
	keys := oidc.NewRemoteKeySet(ctx, iss.URL()+"/jwks")
	before := iss.Sign(claims(iss, time.Now()))
	if _, err := keys.VerifySignature(ctx, before); err != nil {
		t.Fatalf("VerifySignature before Close: %v", err)
	}
	iss.Close()
	iss.Close() // twice, and once more by t's Cleanup
	for _, u := range []string{iss.URL() + "/.well-known/openid-configuration", iss.URL() + "/jwks"} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := iss.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("GET %s after Close: %d, want a connection error", u, resp.StatusCode)
		}
	}
	if _, err := oidc.NewProvider(ctx, iss.URL()); err == nil {
		t.Error("NewProvider of a closed issuer succeeded")
	}
	after := iss.Sign(claims(iss, time.Now()))
	if _, err := keys.VerifySignature(ctx, after); err != nil {
		t.Errorf("a token signed after Close does not verify against the keys fetched before: %v", err)
	}
}
