package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gatewayClient trusts the local CA of a running dev.
func gatewayClient(t *testing.T, d *devProcess) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(d.ready.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 60 * time.Second}
}

type gwResponse struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, c *http.Client, method, url, bearer, body string) gwResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return gwResponse{resp.StatusCode, resp.Header, string(b)}
}

// TestGatewayPipeline: requests through the development gateway run the
// five steps: a real function invoked with the caller's identity and its
// execution role, RFC 6750 errors, canonical paths, and an audit trail that
// finds alice's calls by pseudonym without storing who she is.
func TestGatewayPipeline(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	c := gatewayClient(t, d)
	gw := d.ready.Gateway
	alice := token(t, state, "--user", "alice")

	r := call(t, c, "GET", gw+"/whoami", alice, "")
	if r.status != 200 || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("alice GET /whoami: %d %s", r.status, r.body)
	}
	if !strings.Contains(r.body, "assumed-role/gatehouse-fn-whoami/whoami") || !strings.Contains(r.body, "2d4acc68-9d83-4609-a6f0-96e989303d16") {
		t.Errorf("whoami does not show its execution role and the caller:\n%s", r.body)
	}

	r = call(t, c, "POST", gw+"/echo", alice, `{"message":"hello gatehouse"}`)
	if r.status != 200 || !strings.Contains(r.body, "HELLO GATEHOUSE") {
		t.Errorf("POST /echo: %d %s", r.status, r.body)
	}

	r = call(t, c, "GET", gw+"/whoami", "", "")
	if wa := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.HasPrefix(wa, "Bearer ") || strings.Contains(wa, "error=") || !strings.Contains(wa, "resource_metadata=") {
		t.Errorf("no token: %d, WWW-Authenticate %q", r.status, wa)
	}
	r = call(t, c, "GET", gw+"/whoami", alice[:len(alice)-4]+"AAAA", "")
	if wa := r.header.Get("WWW-Authenticate"); r.status != 401 || !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "signature") {
		t.Errorf("bad signature: %d, WWW-Authenticate %q", r.status, wa)
	}
	dave := token(t, state, "--user", "dave")
	if r = call(t, c, "GET", gw+"/whoami", dave, ""); r.status != 403 {
		t.Errorf("dave: %d %s, want 403", r.status, r.body)
	}
	for _, p := range []string{"/./whoami", "//whoami", "/x/../whoami", "/whoami%2F"} {
		req, _ := http.NewRequest("GET", gw+"/", nil)
		req.URL.RawPath, req.URL.Path = p, p
		req.URL.Opaque = p
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400", p, resp.StatusCode)
		}
	}
	r = call(t, c, "GET", gw+"/.well-known/oauth-protected-resource", "", "")
	var meta struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	if json.Unmarshal([]byte(r.body), &meta); r.status != 200 || meta.Resource != gw || len(meta.AuthorizationServers) == 0 {
		t.Errorf("protected-resource metadata: %d %s", r.status, r.body)
	}

	// The audit trail: alice's calls, found by pseudonym.
	out, errOut, code := run(t, "", "audit", "query", "--state-dir", state, "--user", "alice@contoso.example", "--format", "json")
	if code != 0 {
		t.Fatalf("audit query: exit %d %s", code, errOut)
	}
	// Two calls carried alice's verified identity (the forged token had
	// none to record).
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); n != 2 {
		t.Errorf("%d events for alice, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, `"decision":"allow"`) || !strings.Contains(out, `"role":"reader"`) || !strings.Contains(out, `"route":"whoami"`) {
		t.Errorf("alice's events lack decision, role or route:\n%s", out)
	}
	db := filepath.Join(state, "audit.db")
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, personal := range []string{"alice@contoso.example", "Alice Example", "alice"} {
		if strings.Contains(strings.ToLower(string(raw)), strings.ToLower(personal)) {
			t.Errorf("the audit store holds %q in clear", personal)
		}
	}
	if _, errOut, code := run(t, "", "audit", "verify", "--state-dir", state); code != 0 {
		t.Fatalf("audit verify on an untouched trail: exit %d %s", code, errOut)
	}

	// Editing one row with the sqlite3 shell is found, naming that row.
	if _, err := exec.LookPath("sqlite3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sqlite3 shell missing in CI")
		}
		t.Skip("sqlite3 shell not installed")
	}
	d.stop(t)
	// dave's denied call becomes an allowed one.
	edit := exec.Command("sqlite3", db, `UPDATE audit_events SET data = replace(data, '"decision":"deny"', '"decision":"allow"') WHERE data LIKE '%"decision":"deny"%';`)
	if out, err := edit.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	out, _, code = run(t, "", "audit", "verify", "--state-dir", state)
	if code != 1 || !strings.Contains(out, "TAMPERED") || !strings.Contains(out, "position") {
		t.Fatalf("verify after an edit: exit %d\n%s", code, out)
	}
}
