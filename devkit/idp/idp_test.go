package idp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// The test directory: one tenant with users, groups and the app shapes the
// flows need, and a second tenant to check isolation.
const (
	tenantID  = "11111111-1111-4111-8111-111111111111"
	tenantDNS = "contoso.example"
	tenant2ID = "22222222-2222-4222-8222-222222222222"

	adaOID   = "aaaaaaaa-0000-4000-8000-000000000001"
	bobOID   = "aaaaaaaa-0000-4000-8000-000000000002"
	carolOID = "aaaaaaaa-0000-4000-8000-000000000003"
	group1   = "99999999-0000-4000-8000-000000000001"
	group2   = "99999999-0000-4000-8000-000000000002"
	group3   = "99999999-0000-4000-8000-000000000003"

	apiID         = "c0000000-0000-4000-8000-000000000001"
	apiSP         = "d0000000-0000-4000-8000-000000000001"
	legacyID      = "c0000000-0000-4000-8000-000000000002"
	daemonID      = "c0000000-0000-4000-8000-000000000003"
	daemonSP      = "d0000000-0000-4000-8000-000000000003"
	certDaemonID  = "c0000000-0000-4000-8000-000000000004"
	cliID         = "c0000000-0000-4000-8000-000000000005"
	webID         = "c0000000-0000-4000-8000-000000000006"
	middleID      = "c0000000-0000-4000-8000-000000000007"
	noGrantsID    = "c0000000-0000-4000-8000-000000000008"
	noGrantsSP    = "d0000000-0000-4000-8000-000000000008"
	daemonSecret  = "daemon s3cr+t/=&%"
	webSecret     = "web-secret"
	middleSecret  = "middle-secret"
	adaPassword   = "ada-password"
	webRedirect   = "https://app.contoso.example/callback"
	apiScope      = "api://gatehouse-dev/access_as_user"
	apiDefault    = "api://gatehouse-dev/.default"
	legacyURI     = "https://legacy.contoso.example"
	middleURI     = "api://middle"
	graphClientID = "00000003-0000-0000-c000-000000000000"
)

// assertionCert is the certificate credential of the cert-daemon app.
var assertionCert = sync.OnceValues(func() (*rsa.PrivateKey, *x509.Certificate) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "cert-daemon"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert
})

func testTenants() []Tenant {
	_, cert := assertionCert()
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	return []Tenant{{
		ID:     tenantID,
		Domain: tenantDNS,
		Users: []User{
			{ObjectID: adaOID, UserPrincipalName: "ada@contoso.example", DisplayName: "Ada Lovelace", Password: adaPassword,
				Groups: []string{"Engineers", group2}, AppRoles: map[string][]string{"api": {"Reader"}}},
			{ObjectID: bobOID, UserPrincipalName: "bob@contoso.example", DisplayName: `Bob <script>alert("x")</script>`},
			{ObjectID: carolOID, UserPrincipalName: "carol@contoso.example", DisplayName: "Carol", Password: "carol-password",
				Groups: []string{group1, group2, group3}},
		},
		Groups: []Group{{ObjectID: group1, DisplayName: "Engineers"}, {ObjectID: group2, DisplayName: "Admins"}, {ObjectID: group3, DisplayName: "Ops"}},
		Apps: []App{
			{Name: "api", ClientID: apiID, ObjectID: apiSP, AppIDURI: "api://gatehouse-dev",
				Scopes:             []string{"access_as_user", "Jobs.Read"},
				AppRoles:           []AppRole{{Value: "Reader", MemberTypes: []string{"User"}}, {Value: "Jobs.Run", MemberTypes: []string{"Application"}}},
				AccessTokenVersion: 2, GroupClaims: true, GroupOverageLimit: 2},
			{Name: "legacy", ClientID: legacyID, ObjectID: "d0000000-0000-4000-8000-000000000002", AppIDURI: legacyURI,
				Scopes: []string{"user_impersonation"}, AppRoles: []AppRole{{Value: "Legacy.Admin", MemberTypes: []string{"Application"}}},
				AccessTokenVersion: 1},
			{Name: "daemon", ClientID: daemonID, ObjectID: daemonSP, Secrets: []string{daemonSecret},
				Permissions: []Permission{{Resource: "api", Roles: []string{"Jobs.Run"}}, {Resource: legacyID, Roles: []string{"Legacy.Admin"}}}},
			{Name: "cert-daemon", ClientID: certDaemonID, ObjectID: "d0000000-0000-4000-8000-000000000004", Certificates: []string{certPEM},
				Permissions: []Permission{{Resource: "api", Roles: []string{"Jobs.Run"}}}},
			{Name: "cli", ClientID: cliID, ObjectID: "d0000000-0000-4000-8000-000000000005", PublicClient: true,
				RedirectURIs: []string{"http://localhost"},
				Permissions: []Permission{{Resource: "api", Scopes: []string{"access_as_user", "Jobs.Read"}},
					{Resource: "legacy", Scopes: []string{"user_impersonation"}}, {Resource: "middle", Scopes: []string{"access_as_user"}}}},
			{Name: "web", ClientID: webID, ObjectID: "d0000000-0000-4000-8000-000000000006", Secrets: []string{webSecret},
				RedirectURIs: []string{webRedirect}, Permissions: []Permission{{Resource: "api", Scopes: []string{"access_as_user"}}}},
			{Name: "middle", ClientID: middleID, ObjectID: "d0000000-0000-4000-8000-000000000007", AppIDURI: middleURI,
				Secrets: []string{middleSecret}, Scopes: []string{"access_as_user"},
				Permissions: []Permission{{Resource: "api", Scopes: []string{"access_as_user"}}}},
			{Name: "no-grants", ClientID: noGrantsID, ObjectID: noGrantsSP, Secrets: []string{"no-grants-secret"}},
		},
	}, {
		ID: tenant2ID,
		Apps: []App{{Name: "other", ClientID: "c0000000-0000-4000-8000-000000000099", ObjectID: "d0000000-0000-4000-8000-000000000099",
			Secrets: []string{"other-secret"}, Scopes: []string{"x"}}},
	}}
}

type fixture struct {
	srv   *Server
	ts    *httptest.Server
	clock *testkit.Clock
}

// newFixture starts the IdP on an httptest TLS server on 127.0.0.1. The clock
// starts at the real time, because MSAL signs client assertions with it.
func newFixture(t *testing.T, edit ...func(*Config)) *fixture {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	clock := testkit.NewClock(time.Now().Truncate(time.Second))
	cfg := Config{
		BaseURL: "https://" + ts.Listener.Addr().String(),
		Tenants: testTenants(),
		Now:     clock.Now,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.StartTLS()
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &fixture{srv: srv, ts: ts, clock: clock}
}

func (f *fixture) url(path string) string { return f.ts.URL + path }

// post sends a form to path (relative to the server) and decodes the JSON answer.
func (f *fixture) post(t *testing.T, path string, form url.Values, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(t, req)
}

func (f *fixture) do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: status %d, body is not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func (f *fixture) getJSON(t *testing.T, path string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := f.ts.Client().Get(f.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, m
}

const tokenPath = "/" + tenantID + "/oauth2/v2.0/token"

// tokenOK posts to the token endpoint and fails unless it answered 200.
func (f *fixture) tokenOK(t *testing.T, form url.Values) map[string]any {
	t.Helper()
	status, body := f.post(t, tokenPath, form)
	if status != http.StatusOK {
		t.Fatalf("token endpoint: status %d, body %v", status, body)
	}
	return body
}

// jwks fetches and parses the tenant's JWKS with go-jose, which also checks
// that each key's x5c certificate and x5t thumbprint match the key.
func (f *fixture) jwks(t *testing.T, v1 bool) jose.JSONWebKeySet {
	t.Helper()
	path := "/" + tenantID + "/discovery/v2.0/keys"
	if v1 {
		path = "/" + tenantID + "/discovery/keys"
	}
	resp, err := f.ts.Client().Get(f.url(path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS %s: %v", path, err)
	}
	return set
}

// verify checks a token's RS256 signature against the published JWKS and
// returns its header and claims.
func (f *fixture) verify(t *testing.T, raw string) (map[string]any, jwt.MapClaims) {
	t.Helper()
	set := f.jwks(t, false)
	claims := jwt.MapClaims{}
	tok, err := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(f.clock.Now)).
		ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			keys := set.Key(kid)
			if len(keys) != 1 {
				return nil, jwt.ErrTokenUnverifiable
			}
			return keys[0].Key, nil
		})
	if err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	return tok.Header, claims
}

// claimsOf decodes a token's payload without verifying it.
func claimsOf(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantClaims compares the named claims; a nil want means "absent".
func wantClaims(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w == nil && ok:
			t.Errorf("claim %s = %v, want absent", k, g)
		case w == nil:
		case !ok:
			t.Errorf("claim %s absent, want %v", k, w)
		default:
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			if string(gj) != string(wj) {
				t.Errorf("claim %s = %s, want %s", k, gj, wj)
			}
		}
	}
}

var descPattern = regexp.MustCompile(`^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)

// wantError checks Entra's error body (spec §10): class, AADSTS code in
// error_codes and error_description, and every member's shape.
func wantError(t *testing.T, status int, body map[string]any, wantStatus int, class string, code int) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d (body %v)", status, wantStatus, body)
	}
	if body["error"] != class {
		t.Errorf("error = %v, want %s (description %q)", body["error"], class, body["error_description"])
	}
	codes, _ := body["error_codes"].([]any)
	if len(codes) != 1 || codes[0] != float64(code) {
		t.Errorf("error_codes = %v, want [%d] (description %q)", body["error_codes"], code, body["error_description"])
	}
	desc, _ := body["error_description"].(string)
	if m := descPattern.FindStringSubmatch(desc); m == nil || m[1] != itoa(code) {
		t.Errorf("error_description = %q, want AADSTS%d: ... with trace, correlation and timestamp lines", desc, code)
	}
	for _, k := range []string{"timestamp", "trace_id", "correlation_id", "error_uri"} {
		if s, _ := body[k].(string); s == "" {
			t.Errorf("member %s missing", k)
		}
	}
	if !strings.Contains(desc, body["trace_id"].(string)) || !strings.Contains(desc, body["timestamp"].(string)) {
		t.Errorf("error_description does not repeat trace_id and timestamp: %q", desc)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
