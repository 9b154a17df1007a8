package keyvault

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
)

// The test directory: one tenant with Key Vault's registration (as Entra
// has it: App ID URI https://vault.azure.net, version 1.0 tokens), a client
// with access, one without, and an API that is not Key Vault; and a second
// tenant.
const (
	tenantID  = "11111111-1111-4111-8111-111111111111"
	tenant2ID = "22222222-2222-4222-8222-222222222222"

	kvSP         = "d0000000-0000-4000-8000-0000000000aa"
	clientID     = "c0000000-0000-4000-8000-000000000001"
	clientSP     = "d0000000-0000-4000-8000-000000000001"
	clientSecret = "client-s3cret"
	otherID      = "c0000000-0000-4000-8000-000000000002"
	otherSP      = "d0000000-0000-4000-8000-000000000002"
	otherSecret  = "other-s3cret"
	groupClient  = "c0000000-0000-4000-8000-000000000003"
	apiID        = "c0000000-0000-4000-8000-000000000004"
	foreignID    = "c0000000-0000-4000-8000-000000000099"
)

func testTenants() []idp.Tenant {
	return []idp.Tenant{{
		ID:     tenantID,
		Domain: "contoso.example",
		Apps: []idp.App{
			{Name: "azure-key-vault", ClientID: AppID, ObjectID: kvSP, AppIDURI: Resource, AccessTokenVersion: 1,
				Scopes: []string{"user_impersonation"}},
			{Name: "vault-client", ClientID: clientID, ObjectID: clientSP, Secrets: []string{clientSecret}},
			{Name: "no-access", ClientID: otherID, ObjectID: otherSP, Secrets: []string{otherSecret}},
			{Name: "api", ClientID: apiID, ObjectID: "d0000000-0000-4000-8000-000000000004", AppIDURI: "api://not-key-vault"},
		},
	}, {
		ID: tenant2ID,
		Apps: []idp.App{
			{Name: "azure-key-vault", ClientID: AppID, ObjectID: kvSP, AppIDURI: Resource, AccessTokenVersion: 1},
			{Name: "foreign", ClientID: foreignID, ObjectID: clientSP, Secrets: []string{clientSecret}},
		},
	}}
}

// fixture is the dev IdP and a vault, each on its own HTTPS server on
// 127.0.0.1 with a certificate from a development CA, and an HTTP client
// trusting that CA: what `gatehouse dev` wires.
type fixture struct {
	idp      *idp.Server
	idpURL   string
	vault    *Server
	vaultURL string
	client   *http.Client
	logs     *syncBuffer
	calls    *callLog
}

// newFixture starts the IdP and a vault whose access policy gives the
// vault-client app every permission.
func newFixture(t testing.TB, edit ...func(*Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, testTenants(), edit...)
}

// newFixtureWith is newFixture with another directory.
func newFixtureWith(t testing.TB, tenants []idp.Tenant, edit ...func(*Config)) *fixture {
	t.Helper()
	ca, err := devca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{logs: &syncBuffer{}, calls: &callLog{}}
	f.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}}}
	idpTS := startTLS(t, ca)
	f.idpURL = idpTS.URL
	if f.idp, err = idp.New(idp.Config{BaseURL: f.idpURL, Tenants: tenants,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Fatal(err)
	}
	idpTS.Config.Handler = f.idp.Handler()

	vaultTS := startTLS(t, ca)
	f.vaultURL = vaultTS.URL
	cfg := Config{
		VaultURL:   f.vaultURL,
		Authority:  f.idpURL,
		Tenant:     tenantID,
		HTTPClient: f.client,
		Access:     []Access{{ObjectID: clientSP, Secrets: []string{"all"}, Keys: []string{"all"}}},
		Logger:     slog.New(slog.NewTextHandler(f.logs, nil)),
	}
	for _, e := range edit {
		e(&cfg)
	}
	if f.vault, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	vaultTS.Config.Handler = f.calls.wrap(f.vault.Handler())
	return f
}

// startTLS starts an HTTPS test server on 127.0.0.1 with a leaf from ca;
// its handler is set once the server's URL is known.
func startTLS(t testing.TB, ca *devca.CA) *httptest.Server {
	t.Helper()
	tlsCfg, err := ca.ServerTLSConfig("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.TLS = tlsCfg
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// credential is azidentity's client secret credential against the dev IdP:
// instance discovery off, the IdP as authority host, the CA trusted.
func (f *fixture) credential(t testing.TB, tenant, client, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: f.idpURL + "/"}, Transport: f.client},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// clientOptions are the options a real client of a vault outside
// vault.azure.net has: challenge resource verification off, the CA trusted.
func (f *fixture) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Transport: f.client}
}

func (f *fixture) secrets(t testing.TB, cred azcore.TokenCredential) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(f.vaultURL, cred, &azsecrets.ClientOptions{ClientOptions: f.clientOptions(), DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) keys(t testing.TB, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(f.vaultURL, cred, &azkeys.ClientOptions{ClientOptions: f.clientOptions(), DisableChallengeResourceVerification: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// token gets an access token for Key Vault with the credential.
func token(t testing.TB, cred azcore.TokenCredential, scope string) string {
	t.Helper()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("token for %s: %v", scope, err)
	}
	return tok.Token
}

// do sends a raw request to the vault and decodes the JSON answer.
func (f *fixture) do(t testing.TB, method, path, bearer string, body any) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.vaultURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp, m
}

// wantKVError checks Key Vault's error body.
func wantKVError(t testing.TB, resp *http.Response, body map[string]any, status int, code, inner, msgPart string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %v)", resp.StatusCode, status, body)
	}
	e, _ := body["error"].(map[string]any)
	if e == nil {
		t.Fatalf("no error member in %v", body)
	}
	if e["code"] != code {
		t.Errorf("error.code %v, want %s (message %v)", e["code"], code, e["message"])
	}
	if msg, _ := e["message"].(string); !strings.Contains(msg, msgPart) {
		t.Errorf("error.message %q does not say %q", msg, msgPart)
	}
	ie, _ := e["innererror"].(map[string]any)
	switch {
	case inner == "" && ie != nil:
		t.Errorf("innererror %v, want none", ie)
	case inner != "" && (ie == nil || ie["code"] != inner):
		t.Errorf("innererror %v, want code %s", ie, inner)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

// callLog records what reached the vault: method, path, whether a bearer
// token came with it, and the status answered.
type callLog struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	method, path string
	bearer       bool
	status       int
	challenge    string
}

func (l *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.calls = append(l.calls, call{method: r.Method, path: r.URL.Path, bearer: r.Header.Get("Authorization") != "",
			status: sw.status, challenge: w.Header().Get("WWW-Authenticate")})
	})
}

func (l *callLog) all() []call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]call(nil), l.calls...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
