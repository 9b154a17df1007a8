package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cc := func(kv ...string) url.Values {
		return form(append([]string{"grant_type", "client_credentials", "client_id", daemonID, "client_secret", daemonSecret}, kv...)...)
	}
	pw := func(kv ...string) url.Values {
		return form(append([]string{"grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword}, kv...)...)
	}
	tests := []struct {
		name       string
		form       url.Values
		header     []string
		wantStatus int
		wantError  string
		wantCode   int
	}{
		{"grant_type is required", form("client_id", daemonID), nil, 400, "invalid_request", 900144},
		{"unknown grant type", form("grant_type", "urn:example:magic"), nil, 400, "unsupported_grant_type", 70003},
		{"resource is a v1 parameter", cc("scope", apiDefault, "resource", apiID), nil, 400, "invalid_request", 901002},
		{"client_id is required", form("grant_type", "client_credentials", "scope", apiDefault), nil, 400, "invalid_request", 900144},
		{"unknown client", cc("client_id", "c0000000-0000-4000-8000-0000000000ff", "scope", apiDefault), nil, 400, "unauthorized_client", 700016},
		{"client of another tenant", cc("client_id", "c0000000-0000-4000-8000-000000000099", "scope", apiDefault), nil, 400, "unauthorized_client", 700016},
		{"wrong client secret", cc("client_secret", "nope", "scope", apiDefault), nil, 401, "invalid_client", 7000215},
		{"public client must not send a secret", pw("client_secret", "x", "scope", apiScope), nil, 401, "invalid_client", 700025},
		{"confidential client must send a credential", form("grant_type", "client_credentials", "client_id", daemonID, "scope", apiDefault), nil, 401, "invalid_client", 7000218},
		{"confidential client without public flows needs a credential for the password grant",
			form("grant_type", "password", "client_id", webID, "username", "ada@contoso.example", "password", adaPassword, "scope", apiScope), nil, 401, "invalid_client", 7000218},
		{"secret in Basic and body", cc("scope", apiDefault), []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(daemonID+":x"))}, 400, "invalid_request", 9002313},
		{"wrong secret in Basic", form("grant_type", "client_credentials", "scope", apiDefault), []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(daemonID+":nope"))}, 401, "invalid_client", 7000215},
		{"client credentials from a browser", cc("scope", apiDefault), []string{"Origin", "https://evil.example"}, 400, "invalid_request", 9002326},
		{"client credentials need /.default", cc("scope", "api://gatehouse-dev/access_as_user"), nil, 400, "invalid_scope", 1002012},
		{"client credentials need a resource", cc("scope", "openid offline_access profile"), nil, 400, "invalid_scope", 1002012},
		{"scope is required", cc(), nil, 400, "invalid_request", 900144},
		{"one resource per request", pw("scope", apiScope+" "+legacyURI+"/user_impersonation"), nil, 400, "invalid_scope", 700022},
		{"unknown resource", cc("scope", "https://graph.microsoft.com/.default"), nil, 400, "invalid_resource", 500011},
		{"scope the resource does not expose", pw("scope", "api://gatehouse-dev/Nope"), nil, 400, "invalid_scope", 70011},
		{"bare scope names Microsoft Graph", pw("scope", "User.Read"), nil, 400, "invalid_scope", 70011},
		{".default with other scopes", pw("scope", apiDefault+" "+apiScope), nil, 400, "invalid_scope", 70011},
		{"delegated permission not granted", form("grant_type", "password", "client_id", webID, "client_secret", webSecret,
			"username", "ada@contoso.example", "password", adaPassword, "scope", "api://gatehouse-dev/Jobs.Read"), nil, 400, "invalid_grant", 65001},
		{"wrong password", pw("password", "nope", "scope", apiScope), nil, 400, "invalid_grant", 50126},
		{"unknown user", pw("username", "eve@contoso.example", "scope", apiScope), nil, 400, "invalid_grant", 50126},
		{"user without a password", pw("username", "bob@contoso.example", "password", "", "scope", apiScope), nil, 400, "invalid_request", 900144},
		{"user without a password, any password", pw("username", "bob@contoso.example", "password", "x", "scope", apiScope), nil, 400, "invalid_grant", 50126},
		{"unknown authorization code", form("grant_type", "authorization_code", "client_id", cliID, "code", "nope", "redirect_uri", "http://localhost"), nil, 400, "invalid_grant", 70008},
		{"unknown refresh token", form("grant_type", "refresh_token", "client_id", cliID, "refresh_token", "nope"), nil, 400, "invalid_grant", 70008},
		{"assertion of the wrong type", form("grant_type", "client_credentials", "client_id", certDaemonID, "scope", apiDefault,
			"client_assertion", "a.b.c", "client_assertion_type", "urn:example"), nil, 400, "invalid_request", 9002313},
		{"malformed assertion", form("grant_type", "client_credentials", "client_id", certDaemonID, "scope", apiDefault,
			"client_assertion", "a.b.c", "client_assertion_type", clientAssertionType), nil, 401, "invalid_client", 700027},
		{"on-behalf-of needs requested_token_use", form("grant_type", grantTypeJWTBearer, "client_id", middleID, "client_secret", middleSecret,
			"assertion", "a.b.c", "scope", apiScope), nil, 400, "invalid_request", 900144},
		{"on-behalf-of with a garbage assertion", form("grant_type", grantTypeJWTBearer, "client_id", middleID, "client_secret", middleSecret,
			"assertion", "a.b.c", "scope", apiScope, "requested_token_use", "on_behalf_of"), nil, 400, "invalid_grant", 50013},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.post(t, tokenPath, tt.form, tt.header...)
			wantError(t, status, body, tt.wantStatus, tt.wantError, tt.wantCode)
		})
	}
}

func TestTokenEndpointRejectsMalformedRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	send := func(method, contentType, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, f.url(tokenPath), strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		return f.do(t, req)
	}
	status, body := send(http.MethodPost, "application/x-www-form-urlencoded", "grant_type=password&grant_type=client_credentials")
	wantError(t, status, body, 400, "invalid_request", 9002313)
	status, body = send(http.MethodPost, "application/json", `{"grant_type":"client_credentials"}`)
	wantError(t, status, body, 400, "invalid_request", 9002313)
	status, body = send(http.MethodPost, "application/x-www-form-urlencoded", "grant_type=client_credentials&x="+strings.Repeat("a", maxBodyBytes))
	wantError(t, status, body, 400, "invalid_request", 9002313)
	status, body = send(http.MethodPost, "application/x-www-form-urlencoded", "grant_type=%zz")
	wantError(t, status, body, 400, "invalid_request", 9002313)
	status, body = send(http.MethodGet, "", "")
	wantError(t, status, body, 400, "invalid_request", 900561)
}

func TestTokenResponseHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req, _ := http.NewRequest(http.MethodPost, f.url(tokenPath), strings.NewReader(
		form("grant_type", "client_credentials", "client_id", daemonID, "client_secret", daemonSecret,
			"scope", apiDefault+" openid offline_access profile").Encode())) // MSAL's extra scopes are tolerated
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("client-request-id", "0e3b5b2a-1a2b-4c3d-8e4f-5a6b7c8d9e0f")
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Errorf("status %d, Cache-Control %q, Pragma %q", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
	}
	// Errors echo MSAL's client-request-id as the correlation id.
	req, _ = http.NewRequest(http.MethodPost, f.url(tokenPath), strings.NewReader("grant_type=nope"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("client-request-id", "0e3b5b2a-1a2b-4c3d-8e4f-5a6b7c8d9e0f")
	_, body := f.do(t, req)
	if body["correlation_id"] != "0e3b5b2a-1a2b-4c3d-8e4f-5a6b7c8d9e0f" {
		t.Errorf("correlation_id = %v", body["correlation_id"])
	}
}

func TestAppOnlyTokenWithoutGrantsHasNoRoles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := f.tokenOK(t, form("grant_type", "client_credentials", "client_id", noGrantsID, "client_secret", "no-grants-secret", "scope", apiDefault))
	_, claims := f.verify(t, body["access_token"].(string))
	wantClaims(t, claims, map[string]any{"aud": apiID, "oid": noGrantsSP, "idtyp": "app", "roles": nil, "scp": nil})
	if body["scope"] != nil || body["refresh_token"] != nil {
		t.Errorf("client credentials answered scope %v, refresh_token %v", body["scope"], body["refresh_token"])
	}
}

func TestV1TokenShape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct{ scope, wantAud string }{
		{legacyURI + "/.default", legacyURI},
		{legacyURI + "//.default", legacyURI + "/"}, // aud is the resource as the client named it
		{legacyID + "/.default", legacyID},
	} {
		body := f.tokenOK(t, form("grant_type", "client_credentials", "client_id", daemonID, "client_secret", daemonSecret, "scope", tt.scope))
		raw := body["access_token"].(string)
		header, claims := f.verify(t, raw)
		if header["kid"] == nil || header["x5t"] != header["kid"] || header["typ"] != "JWT" || header["alg"] != "RS256" {
			t.Errorf("v1 header %v: want typ JWT, alg RS256, kid = x5t", header)
		}
		wantClaims(t, claims, map[string]any{
			"iss": f.ts.URL + "/" + tenantID + "/", "aud": tt.wantAud, "ver": "1.0", "appid": daemonID, "appidacr": "1",
			"roles": []string{"Legacy.Admin"}, "azp": nil, "azpacr": nil, "tid": tenantID, "oid": daemonSP,
		})
	}
	// A user token: upn and unique_name instead of preferred_username.
	body := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword,
		"scope", legacyURI+"/user_impersonation"))
	wantClaims(t, claimsOf(t, body["access_token"].(string)), map[string]any{
		"ver": "1.0", "upn": "ada@contoso.example", "unique_name": "ada@contoso.example", "preferred_username": nil,
		"scp": "user_impersonation", "appid": cliID, "appidacr": "0", "name": "Ada Lovelace",
	})
	// v2 tokens carry kid only.
	body = f.tokenOK(t, form("grant_type", "client_credentials", "client_id", daemonID, "client_secret", daemonSecret, "scope", apiDefault))
	if header, _ := f.verify(t, body["access_token"].(string)); header["x5t"] != nil {
		t.Errorf("v2 header has x5t: %v", header)
	}
}

func TestGroupClaimsAndOverage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	get := func(user, password string) map[string]any {
		body := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", user, "password", password, "scope", apiScope))
		return claimsOf(t, body["access_token"].(string))
	}
	wantClaims(t, get("ada@contoso.example", adaPassword), map[string]any{"groups": []string{group1, group2}, "_claim_names": nil})
	// Carol has 3 groups; the API's overage limit is 2.
	wantClaims(t, get("carol@contoso.example", "carol-password"), map[string]any{
		"groups":       nil,
		"_claim_names": map[string]string{"groups": "src1"},
		"_claim_sources": map[string]any{"src1": map[string]string{
			"endpoint": "https://graph.windows.net/" + tenantID + "/users/" + carolOID + "/getMemberObjects"}},
	})
	// Apps without GroupClaims get no groups.
	body := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword,
		"scope", legacyURI+"/user_impersonation"))
	wantClaims(t, claimsOf(t, body["access_token"].(string)), map[string]any{"groups": nil})
}

func TestPairwiseSubject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	body := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword,
		"scope", apiScope+" openid"))
	at, id := claimsOf(t, body["access_token"].(string)), claimsOf(t, body["id_token"].(string))
	if at["sub"] == id["sub"] || at["oid"] != id["oid"] {
		t.Errorf("access token sub %v, ID token sub %v: want different (pairwise per audience), same oid", at["sub"], id["sub"])
	}
	if sub, _ := at["sub"].(string); len(sub) != 43 || sub != pairwiseSub(tenantID, adaOID, apiID) {
		t.Errorf("sub %q", sub)
	}
	ci, _ := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
	if string(ci) != `{"uid":"`+adaOID+`","utid":"`+tenantID+`"}` {
		t.Errorf("client_info = %s", ci)
	}
}

func TestOnBehalfOf(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The user signs in to the middle tier through the CLI client.
	user := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword,
		"scope", middleURI+"/access_as_user"))
	incoming := user["access_token"].(string)
	wantClaims(t, claimsOf(t, incoming), map[string]any{"aud": middleID, "azp": cliID})

	obo := func(assertion string, kv ...string) (int, map[string]any) {
		return f.post(t, tokenPath, form(append([]string{"grant_type", grantTypeJWTBearer, "client_id", middleID, "client_secret", middleSecret,
			"assertion", assertion, "scope", apiScope + " offline_access", "requested_token_use", "on_behalf_of"}, kv...)...))
	}
	status, body := obo(incoming)
	if status != http.StatusOK {
		t.Fatalf("OBO: %d %v", status, body)
	}
	_, claims := f.verify(t, body["access_token"].(string))
	wantClaims(t, claims, map[string]any{
		"aud": apiID, "azp": middleID, "azpacr": "1", "oid": adaOID, "tid": tenantID, "scp": "access_as_user",
		"roles": []string{"Reader"}, "idtyp": nil, "preferred_username": "ada@contoso.example",
	})
	if body["refresh_token"] == nil {
		t.Error("no refresh token with offline_access")
	}

	t.Run("assertion for another audience", func(t *testing.T) {
		other := f.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword, "scope", apiScope))
		status, body := obo(other["access_token"].(string))
		wantError(t, status, body, 400, "invalid_grant", 50013)
	})
	t.Run("app-only assertion", func(t *testing.T) {
		app := f.tokenOK(t, form("grant_type", "client_credentials", "client_id", noGrantsID, "client_secret", "no-grants-secret", "scope", middleURI+"/.default"))
		status, body := obo(app["access_token"].(string))
		wantError(t, status, body, 400, "invalid_grant", 50013)
	})
	t.Run("tampered assertion", func(t *testing.T) {
		parts := strings.Split(incoming, ".")
		payload := claimsOf(t, incoming)
		payload["oid"] = carolOID
		b, _ := jsonMarshal(payload)
		status, body := obo(parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2])
		wantError(t, status, body, 400, "invalid_grant", 50013)
	})
	t.Run("assertion from another IdP", func(t *testing.T) {
		g := newFixture(t)
		foreign := g.tokenOK(t, form("grant_type", "password", "client_id", cliID, "username", "ada@contoso.example", "password", adaPassword,
			"scope", middleURI+"/access_as_user"))
		status, body := obo(foreign["access_token"].(string))
		wantError(t, status, body, 400, "invalid_grant", 50013)
	})
	t.Run("OBO needs the middle tier's credential", func(t *testing.T) {
		status, body := obo(incoming, "client_secret", "nope")
		wantError(t, status, body, 401, "invalid_client", 7000215)
	})
	t.Run("expired assertion", func(t *testing.T) {
		f.clock.Add(2 * time.Hour)
		status, body := obo(incoming)
		wantError(t, status, body, 400, "invalid_grant", 500133)
	})
}

// assertion signs a client assertion for the cert-daemon app.
func assertion(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestClientAssertion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, cert := assertionCert()
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	aud := f.url(tokenPath)
	jti := 0
	claims := func(edit ...func(jwt.MapClaims)) jwt.MapClaims {
		jti++
		c := jwt.MapClaims{"aud": aud, "iss": certDaemonID, "sub": certDaemonID, "jti": "jti-" + itoa(jti),
			"nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for _, e := range edit {
			e(c)
		}
		return c
	}
	msalHeader := map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(s256[:])}
	tests := []struct {
		name     string
		method   jwt.SigningMethod
		key      any
		header   map[string]any
		claims   jwt.MapClaims
		wantCode int // 0: accepted
	}{
		{"PS256 with standard-base64 x5t#S256, as MSAL sends", jwt.SigningMethodPS256, key, msalHeader, claims(), 0},
		{"RS256 with base64url x5t#S256", jwt.SigningMethodRS256, key, map[string]any{"x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}, claims(), 0},
		{"RS256 with base64url x5t", jwt.SigningMethodRS256, key, map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(s1[:])}, claims(), 0},
		{"RS256 with standard-base64 x5t", jwt.SigningMethodRS256, key, map[string]any{"x5t": base64.StdEncoding.EncodeToString(s1[:])}, claims(), 0},
		{"aud may be the issuer", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["aud"] = f.srv.Issuer(tenantID) }), 0},
		{"aud may be a list holding the token endpoint", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["aud"] = []string{"x", aud} }), 0},
		{"missing iat is tolerated, present iat too", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["iat"] = now.Unix() }), 0},
		{"expired", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), 700024},
		{"not yet valid", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), 700024},
		{"exp too far ahead", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(2 * time.Hour).Unix() }), 700024},
		{"exp is required", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { delete(c, "exp") }), 700027},
		{"jti is required", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { delete(c, "jti") }), 700027},
		{"aud of another endpoint", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token" }), 700027},
		{"iss is not the client", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["iss"] = daemonID }), 700027},
		{"sub is not the client", jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["sub"] = daemonID }), 700027},
		{"thumbprint of no registered certificate", jwt.SigningMethodPS256, key, map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(make([]byte, 32))}, claims(), 700027},
		{"no thumbprint", jwt.SigningMethodPS256, key, nil, claims(), 700027},
		{"signed by another key", jwt.SigningMethodPS256, otherKey, msalHeader, claims(), 700027},
		{"HMAC with the certificate as secret", jwt.SigningMethodHS256, cert.Raw, msalHeader, claims(), 700027},
		{"RS384 is not accepted", jwt.SigningMethodRS384, key, msalHeader, claims(), 700027},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := assertion(t, tt.method, tt.key, tt.header, tt.claims)
			status, body := f.post(t, tokenPath, form("grant_type", "client_credentials", "client_id", certDaemonID,
				"client_assertion_type", clientAssertionType, "client_assertion", a, "scope", apiDefault))
			if tt.wantCode == 0 {
				if status != http.StatusOK {
					t.Fatalf("status %d, body %v", status, body)
				}
				wantClaims(t, claimsOf(t, body["access_token"].(string)), map[string]any{"azp": certDaemonID, "azpacr": "2"})
				return
			}
			wantError(t, status, body, http.StatusUnauthorized, "invalid_client", tt.wantCode)
		})
	}

	t.Run("a jti is good once", func(t *testing.T) {
		a := assertion(t, jwt.SigningMethodPS256, key, msalHeader, claims())
		send := func() (int, map[string]any) {
			return f.post(t, tokenPath, form("grant_type", "client_credentials", "client_id", certDaemonID,
				"client_assertion_type", clientAssertionType, "client_assertion", a, "scope", apiDefault))
		}
		if status, body := send(); status != http.StatusOK {
			t.Fatalf("first use: %d %v", status, body)
		}
		status, body := send()
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client", 700027)
	})
	t.Run("an app with only a secret takes no assertion", func(t *testing.T) {
		a := assertion(t, jwt.SigningMethodPS256, key, msalHeader, claims(func(c jwt.MapClaims) { c["iss"], c["sub"] = daemonID, daemonID }))
		status, body := f.post(t, tokenPath, form("grant_type", "client_credentials", "client_id", daemonID,
			"client_assertion_type", clientAssertionType, "client_assertion", a, "scope", apiDefault))
		wantError(t, status, body, http.StatusUnauthorized, "invalid_client", 700027)
	})
}
