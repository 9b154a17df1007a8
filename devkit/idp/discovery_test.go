package idp

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestDiscoveryV2(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	issuer := f.ts.URL + "/" + tenantID + "/v2.0"
	for _, name := range []string{tenantID, strings.ToUpper(tenantID), tenantDNS, "CONTOSO.example"} {
		t.Run(name, func(t *testing.T) {
			resp, doc := f.getJSON(t, "/"+name+"/v2.0/.well-known/openid-configuration")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			for h, want := range map[string]string{
				"Content-Type":                "application/json; charset=utf-8",
				"Cache-Control":               "max-age=86400, private",
				"Access-Control-Allow-Origin": "*",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			wantClaims(t, doc, map[string]any{
				"issuer":                                issuer,
				"authorization_endpoint":                f.ts.URL + "/" + tenantID + "/oauth2/v2.0/authorize",
				"token_endpoint":                        f.ts.URL + "/" + tenantID + "/oauth2/v2.0/token",
				"jwks_uri":                              f.ts.URL + "/" + tenantID + "/discovery/v2.0/keys",
				"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
				"response_modes_supported":              []string{"query", "fragment", "form_post"},
				"code_challenge_methods_supported":      []string{"S256"},
				"id_token_signing_alg_values_supported": []string{"RS256"},
				"subject_types_supported":               []string{"pairwise"},
				"userinfo_endpoint":                     nil, // not served, so not advertised
			})
			grants, _ := doc["grant_types_supported"].([]any)
			for _, g := range []string{"authorization_code", "refresh_token", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:jwt-bearer"} {
				if !slices.Contains(grants, any(g)) {
					t.Errorf("grant_types_supported %v lacks %s", grants, g)
				}
			}
		})
	}
	if got := f.srv.Issuer(tenantDNS); got != issuer {
		t.Errorf("Issuer(%q) = %q, want %q", tenantDNS, got, issuer)
	}
	if got := f.srv.Issuer("nope"); got != "" {
		t.Errorf("Issuer(unknown) = %q, want empty", got)
	}
}

func TestDiscoveryV1(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, doc := f.getJSON(t, "/"+tenantDNS+"/.well-known/openid-configuration")
	wantClaims(t, doc, map[string]any{
		"issuer":                        f.ts.URL + "/" + tenantID + "/",
		"jwks_uri":                      f.ts.URL + "/" + tenantID + "/discovery/keys",
		"scopes_supported":              []string{"openid"},
		"microsoft_multi_refresh_token": true,
	})
	if got, want := f.srv.IssuerV1(tenantID), f.ts.URL+"/"+tenantID+"/"; got != want {
		t.Errorf("IssuerV1 = %q, want %q", got, want)
	}
}

func TestJWKSShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, v1 := range []bool{false, true} {
		resp, doc := f.getJSON(t, map[bool]string{false: "/" + tenantID + "/discovery/v2.0/keys", true: "/" + tenantDNS + "/discovery/keys"}[v1])
		if got := resp.Header.Get("Cache-Control"); got != "max-age=86400, private" {
			t.Errorf("Cache-Control = %q", got)
		}
		keys, _ := doc["keys"].([]any)
		if len(keys) != 2 {
			t.Fatalf("v1=%v: %d keys, want current and next", v1, len(keys))
		}
		wantIss := f.srv.Issuer(tenantID)
		if v1 {
			wantIss = f.srv.IssuerV1(tenantID)
		}
		for _, k := range keys {
			k := k.(map[string]any)
			wantClaims(t, k, map[string]any{"kty": "RSA", "use": "sig", "e": "AQAB", "issuer": wantIss, "alg": nil})
			if k["kid"] != k["x5t"] || len(k["kid"].(string)) != 27 {
				t.Errorf("kid %v, x5t %v: want equal 27-character SHA-1 thumbprints", k["kid"], k["x5t"])
			}
		}
	}
	// go-jose checks that x5c's certificate holds the key and x5t is its thumbprint.
	for _, k := range f.jwks(t, true).Keys {
		if len(k.Certificates) != 1 || !k.Valid() {
			t.Errorf("key %s: certificates %d, valid %v", k.KeyID, len(k.Certificates), k.Valid())
		}
	}
}

func TestUnknownTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{
		"/common/v2.0/.well-known/openid-configuration",
		"/nope.example/.well-known/openid-configuration",
		"/33333333-3333-4333-8333-333333333333/discovery/v2.0/keys",
	} {
		resp, body := f.getJSON(t, path)
		wantError(t, resp.StatusCode, body, http.StatusBadRequest, "invalid_request", 90002)
	}
	status, body := f.post(t, "/nope/oauth2/v2.0/token", nil)
	wantError(t, status, body, http.StatusBadRequest, "invalid_request", 90002)
}

func TestInstanceDiscovery(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	host := strings.TrimPrefix(f.ts.URL, "https://")
	resp, doc := f.getJSON(t, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+f.ts.URL+"/"+tenantID+"/oauth2/v2.0/authorize")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	wantClaims(t, doc, map[string]any{
		"tenant_discovery_endpoint": f.ts.URL + "/" + tenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}}},
	})
	resp, doc = f.getJSON(t, "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.example/x/oauth2/v2.0/authorize")
	wantError(t, resp.StatusCode, doc, http.StatusBadRequest, "invalid_instance", 50049)
}

func TestUserRealm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, want := range map[string]string{"ada@contoso.example": "Managed", "someone@elsewhere.example": "Unknown"} {
		resp, doc := f.getJSON(t, "/common/UserRealm/"+name+"?api-version=1.0")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		wantClaims(t, doc, map[string]any{"account_type": want, "domain_name": name[strings.IndexByte(name, '@')+1:],
			"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"})
	}
}
