package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerifyWhenDevStops: README says verify exits 3 when the issuer's
// keys cannot be fetched. A token of the development IdP, verified after
// `gatehouse dev` stopped (it removes its endpoints file) or died (the
// file stays, nothing answers), exits 3 and says why; a bad token while
// dev runs still exits 1.
func TestVerifyWhenDevStops(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	tok := token(t, state, "--user", "alice")
	if _, errOut, code := verify(t, state, tok+"x"); code != 1 {
		t.Errorf("a bad token while dev runs: exit %d, want 1\n%s", code, errOut)
	}
	endpoints, err := os.ReadFile(filepath.Join(state, "endpoints.json"))
	if err != nil {
		t.Fatal(err)
	}
	d.stop(t)

	_, errOut, code := verify(t, state, tok)
	if code != 3 || !strings.Contains(errOut, "token not checked") || !strings.Contains(errOut, "no running 'gatehouse dev'") {
		t.Errorf("verify after dev stopped: exit %d, want 3\n%s", code, errOut)
	}
	// As if dev had died: its endpoints are there, nothing listens.
	if err := os.WriteFile(filepath.Join(state, "endpoints.json"), endpoints, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = verify(t, state, tok)
	if code != 3 || !strings.Contains(errOut, "keys check failed") {
		t.Errorf("verify after dev died: exit %d, want 3\n%s", code, errOut)
	}
	for _, args := range [][]string{
		{"policy", "explain", "--state-dir", state, "--token", tok, "--resource", "hello"},
		{"aws", "credentials", "--state-dir", state, "--token", tok, "--resource", "hello"},
	} {
		if _, errOut, code := run(t, "", args...); code != 3 {
			t.Errorf("%s after dev died: exit %d, want 3\n%s", args[0], code, errOut)
		}
	}
}

// TestCLIHints: against a running dev, the hints a user gets for their
// commonest mistakes, none of which shows the token.
func TestCLIHints(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	tok := token(t, state, "--user", "alice")
	noToken := func(name, s string) {
		t.Helper()
		if strings.Contains(s, tok[:40]) || strings.Contains(s, tok[len(tok)-40:]) {
			t.Errorf("%s shows the token:\n%s", name, s)
		}
	}

	// A token pasted with its "Bearer ": taken without it, with a note.
	out, errOut, code := run(t, "Bearer "+tok+"\n", "verify", "--state-dir", state, "-")
	if code != 0 || !strings.Contains(out, `"subject"`) || !strings.Contains(errOut, `starts with "Bearer ", which was dropped`) {
		t.Errorf(`verify "Bearer ...": exit %d\n%s%s`, code, out, errOut)
	}
	noToken("the Bearer note", errOut)

	cfg, _, _ := run(t, "", "dev", "--print-config")
	write := func(name, text string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	// An audience the configuration does not accept.
	i := strings.Index(cfg, "      audiences:\n")
	j := strings.Index(cfg[i:], "      algorithms:") + i
	other := write("other-aud.yaml", cfg[:i]+"      audiences: [api://other-api]\n"+cfg[j:])
	_, errOut, code = run(t, "", "verify", "--state-dir", state, "--config", other, tok)
	for _, w := range []string{"aud check failed", `the token's audience (aud) is "68e96204-b89d-4992-9e0e-90cc31a67403"`, `issuer dev accepts "api://other-api": authn.issuers[0].audiences in ` + other} {
		if code != 1 || !strings.Contains(errOut, w) {
			t.Errorf("verify with another audience: exit %d, stderr lacks %q:\n%s", code, w, errOut)
		}
	}
	noToken("the audience hint", errOut)

	// The dev IdP named by URL, without its CA.
	byURL := write("by-url.yaml", strings.Replace(cfg, "        authority: dev\n", "        authority: "+d.ready.IDP+"\n", 1))
	_, errOut, code = run(t, "", "verify", "--state-dir", state, "--config", byURL, tok)
	if code != 3 || !strings.Contains(errOut, "set authn.issuers[0].ca_file in the configuration") || !strings.Contains(errOut, d.ready.CAFile) {
		t.Errorf("verify with an untrusted issuer certificate: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(t, "", "token", "--state-dir", state, "--issuer", d.ready.Issuer, "--user", "alice")
	if code != 1 || !strings.Contains(errOut, "hint: the server's certificate is signed by an authority this system does not trust: pass --ca-file") || !strings.Contains(errOut, d.ready.CAFile) {
		t.Errorf("token --issuer without --ca-file: exit %d\n%s", code, errOut)
	}
	if out, errOut, code := run(t, "", "token", "--state-dir", state, "--issuer", d.ready.Issuer, "--ca-file", d.ready.CAFile, "--user", "alice"); code != 0 || !strings.HasPrefix(out, "eyJ") {
		t.Errorf("token --issuer --ca-file: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(t, "", "jwks", "snapshot", d.ready.Issuer)
	if code != 1 || !strings.Contains(errOut, "pass --ca-file") {
		t.Errorf("jwks snapshot without --ca-file: exit %d\n%s", code, errOut)
	}

	// STS named by URL, without its CA.
	sts := write("sts-by-url.yaml", strings.Replace(cfg, "  sts:\n    endpoint: dev\n",
		"  issuer:\n    url: https://gatehouse.example/oidc\n    key_dir: "+filepath.Join(t.TempDir(), "issuer")+"\n  sts:\n    endpoint: "+d.ready.STS+"\n", 1))
	_, errOut, code = run(t, "", "aws", "credentials", "--state-dir", state, "--config", sts, "--token", tok, "--resource", "function:hello")
	if code != 3 || !strings.Contains(errOut, "hint: STS's certificate is signed by an authority this system does not trust: set creds.sts.ca_file") {
		t.Errorf("aws credentials with an untrusted STS certificate: exit %d\n%s", code, errOut)
	}
	// With creds.sts.ca_file, STS is reached, and refuses an issuer it
	// does not trust.
	withCA := write("sts-ca.yaml", strings.Replace(string(mustRead(t, sts)), "    endpoint: "+d.ready.STS+"\n", "    endpoint: "+d.ready.STS+"\n    ca_file: "+d.ready.CAFile+"\n", 1))
	_, errOut, code = run(t, "", "aws", "credentials", "--state-dir", state, "--config", withCA, "--token", tok, "--resource", "function:hello")
	if code != 1 || !strings.Contains("\n"+errOut, "\n403 role \"reader\"") || strings.Contains(errOut, "hint:") {
		t.Errorf("aws credentials with creds.sts.ca_file: exit %d, want a 403 from STS\n%s", code, errOut)
	}

	// Names that are not in the development directory.
	_, errOut, code = run(t, "", "token", "--state-dir", state, "--user", "nosuchuser")
	if code != 1 || !strings.Contains(errOut, `user "nosuchuser"`) || !strings.Contains(errOut, "known users: alice, bob, carol, dave") {
		t.Errorf("token --user nosuchuser: exit %d\n%s", code, errOut)
	}
	_, errOut, code = run(t, "", "token", "--state-dir", state, "--client", "nosuchapp")
	if code != 1 || !strings.Contains(errOut, "known apps: ") || !strings.Contains(errOut, "report-agent") {
		t.Errorf("token --client nosuchapp: exit %d\n%s", code, errOut)
	}

	// --format json and the old --json give the token response.
	for _, flag := range [][]string{{"--format", "json"}, {"--json"}} {
		out, errOut, code := run(t, "", append([]string{"token", "--state-dir", state, "--user", "bob"}, flag...)...)
		var resp struct {
			AccessToken string `json:"access_token"`
			TokenType   string `json:"token_type"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &resp) != nil || !strings.HasPrefix(resp.AccessToken, "eyJ") || resp.TokenType == "" {
			t.Errorf("token %v: exit %d\n%s", flag, code, errOut)
		}
	}
}

// TestServeListenFlags: serve's --gateway-listen and --admin-listen replace
// the file's addresses (a file that would be refused for its address
// starts), --ready-file gets the bound URLs once they answer, with TLS too
// (the certificate names a host that is not this one), and an address the
// configuration's rules refuse is refused by flag as well.
func TestServeListenFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gh")
	// An issuer where nothing listens: serve starts without it.
	if out, errOut, code := run(t, "", "init", "--issuer", "https://127.0.0.1:1", "--audience", "api://x", "--dir", dir, "--gateway-listen", "127.0.0.1:8480"); code != 0 {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	b, _ := os.ReadFile(path)
	text := strings.Replace(string(b), "listen: 127.0.0.1:8480", "listen: 0.0.0.0:8480", 1)
	os.WriteFile(path, []byte(text), 0o600)

	if _, errOut, code := run(t, "", "serve", "--config", path); code != 1 || !strings.Contains(errOut, "gateway.listen") {
		t.Fatalf("serve with a public plain-HTTP address: exit %d\n%s", code, errOut)
	}
	_, errOut, code := run(t, "", "serve", "--config", path, "--gateway-listen", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, `--gateway-listen: "0.0.0.0:0": without tls_cert_file and tls_key_file`) || strings.Contains(errOut, "gateway.listen:") {
		t.Errorf("--gateway-listen 0.0.0.0:0: exit %d\n%s", code, errOut)
	}

	ready := startServeReady(t, path, "--gateway-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	c := &http.Client{Timeout: 5 * time.Second}
	for _, u := range []string{ready["gateway"] + "/healthz", ready["admin"] + "/metrics"} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(strings.Split(u, "/")[2], ":0") {
			t.Errorf("ready file URL %s: want the bound loopback address", u)
			continue
		}
		if resp, err := c.Get(u); err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", u, resp, err)
		} else {
			resp.Body.Close()
		}
	}

	// TLS, on a wildcard address, the admin listener off.
	cert, key := selfSigned(t, dir, "gatehouse.example")
	os.WriteFile(path, []byte(strings.Replace(text, "gateway:\n", "gateway:\n  tls_cert_file: "+cert+"\n  tls_key_file: "+key+"\n", 1)), 0o600)
	ready = startServeReady(t, path, "--gateway-listen", ":0", "--admin-listen", "off")
	if _, ok := ready["admin"]; ok || !strings.HasPrefix(ready["gateway"], "https://127.0.0.1:") {
		t.Errorf("ready file %v: want an https gateway on loopback and no admin", ready)
	}
	tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := tc.Get(ready["gateway"] + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %s/healthz: %v %v", ready["gateway"], resp, err)
	} else {
		resp.Body.Close()
	}
}

// startServeReady runs serve --config path with args until the test ends,
// and returns its ready file.
func startServeReady(t *testing.T, path string, args ...string) map[string]string {
	t.Helper()
	ready, _ := startServeWith(t, nil, path, args...)
	return ready
}

// selfSigned writes a certificate for host and its key to dir.
func selfSigned(t *testing.T, dir, host string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
