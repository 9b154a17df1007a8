package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe runs `gatehouse serve` with a production-shaped configuration
// against the dev IdP (as an ordinary Entra authority) and the dev STS,
// where gatehouse's own issuer is not registered: verification and policy
// work, and the credentials step fails closed with a 403 naming the role.
func TestServe(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	cfg, _, _ := run(t, "", "dev", "--print-config")
	dir := t.TempDir()
	gwAddr := freePort(t)

	// authn: the dev IdP by its URL, trusted through the dev CA.
	cfg = strings.Replace(cfg, "        authority: dev\n", "        authority: "+d.ready.IDP+"\n", 1)
	cfg = strings.Replace(cfg, "      audiences:\n", "      ca_file: "+d.ready.CAFile+"\n      audiences:\n", 1)
	// creds: gatehouse's own issuer, which the dev STS does not trust.
	cfg = strings.Replace(cfg, "  sts:\n    endpoint: dev\n", "  issuer:\n    url: https://gatehouse.example/oidc\n    key_dir: "+filepath.Join(dir, "issuer")+"\n  sts:\n    endpoint: "+d.ready.STS+"\n", 1)
	// audit: explicit files, keys made beforehand.
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(filepath.Join(dir, "audit-key"), key, 0o600)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(filepath.Join(dir, "audit-signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	cfg = strings.Replace(cfg, "  sink: sqlite\n", "  sink: sqlite\n  path: "+filepath.Join(dir, "audit.db")+"\n  key_file: "+filepath.Join(dir, "audit-key")+"\n  signing_key_file: "+filepath.Join(dir, "audit-signing.pem")+"\n", 1)
	cfg = strings.Replace(cfg, "gateway:\n", "gateway:\n  listen: "+gwAddr+"\n  public_url: http://"+gwAddr+"\n", 1)
	// gateway: the dev upstream by its URL.
	cfg = strings.Replace(cfg, "        url: dev\n", "        url: "+d.ready.Upstream+"\n", 1)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(gatehouseBin, "serve", "--config", path)
	cmd.Env = append(os.Environ(), "AWS_CA_BUNDLE="+d.ready.CAFile, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	base := "http://" + gwAddr
	c := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not answering:\n%s", stderr.String())
		}
	}

	if r := call(t, c, "GET", base+"/whoami", "", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("no token: %d %v", r.status, r.header)
	}
	if r := call(t, c, "GET", base+"/whoami", token(t, state, "--user", "dave"), ""); r.status != 403 {
		t.Errorf("dave: %d %s", r.status, r.body)
	}
	r := call(t, c, "GET", base+"/whoami", token(t, state, "--user", "alice"), "")
	if r.status != 403 || !strings.Contains(r.body, `role \"reader\"`) {
		t.Errorf("alice with an untrusted gatehouse issuer: %d %s; want a 403 naming the role", r.status, r.body)
	}
	// An upstream needs no AWS credentials: its request goes through with
	// an assertion from serve's issuer (which the dev upstream, trusting
	// the dev gateway's issuer, reports as not its own).
	r = call(t, c, "GET", base+"/api/x", token(t, state, "--user", "bob"), "")
	if r.status != 200 || !strings.Contains(r.body, `"authorization": "absent"`) || !strings.Contains(r.body, `"X-Gatehouse-Assertion": [`) {
		t.Errorf("bob GET /api/x through serve: %d %s", r.status, r.body)
	}
	if r := call(t, c, "GET", base+"/.gatehouse-missing/../whoami", "", ""); r.status == 200 {
		t.Errorf("non-canonical path served")
	}
	var out bytes.Buffer
	verify := exec.Command(gatehouseBin, "audit", "verify", "--config", path)
	verify.Stdout = &out
	verify.Stderr = &out
	// Four requests to routes and one refused for its path: five events.
	if err := verify.Run(); err != nil || !strings.Contains(out.String(), "ok: 5 events") {
		t.Errorf("audit verify on serve's trail: %v\n%s", err, out.String())
	}
}
