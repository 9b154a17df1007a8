package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// tlsCA issues certificates for 127.0.0.1, as an operator's CA would.
type tlsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTLSCA(t *testing.T) *tlsCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1000), Subject: pkix.Name{CommonName: "gatehouse e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tlsCA{cert: cert, key: key, pool: pool}
}

// pair is a new key and its certificate (serial), both PEM.
func (ca *tlsCA) pair(t *testing.T, serial int64) (keyPEM, certPEM []byte, pub crypto.PublicKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), &key.PublicKey
}

// replaceFile replaces path at once (a new file renamed over it), as a
// secret volume or an ACME client does, readable by its owner alone.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// pemLines are the base64 lines of a PEM block: none may show in a log
// or an answer.
func pemLines(b []byte) []string {
	var out []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); len(l) > 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

// TestServeTLSRotation: serve (configured by init --dev against a running
// gatehouse dev) listens with TLS from tls_key_file and tls_cert_file.
// The files are replaced with a new pair and `gatehouse secrets refresh`
// asks serve to read them again: new TLS connections get the new
// certificate (its serial and public key), a connection made before keeps
// working, and a request loop over old and new connections has no failure.
// A refresh that catches the key replaced and not its certificate keeps
// the pair in use; the certificate that follows (SIGHUP this time) is
// taken. serve --check and secrets check name a mismatched pair's fields;
// no key shows in serve's log or in /secrets.
func TestServeTLSRotation(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".local", "state", "gatehouse")
	startDev(t, state, "127.0.0.1:0")
	alice := token(t, state, "--user", "alice")
	dir := filepath.Join(t.TempDir(), "gatehouse")
	addr := freePort(t)
	if out, errOut, code := run(t, "", "init", "--dev", "--state-dir", state, "--dir", dir, "--gateway-listen", addr); code != 0 {
		t.Fatalf("init --dev: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "gateway:\n", "gateway:\n  tls_cert_file: tls/tls.crt\n  tls_key_file: tls/tls.key\n", 1)
	if !strings.Contains(cfg, "tls_key_file: tls/tls.key") {
		t.Fatalf("could not add TLS to the configuration:\n%s", b)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile, certFile := filepath.Join(dir, "tls", "tls.key"), filepath.Join(dir, "tls", "tls.crt")
	os.MkdirAll(filepath.Dir(keyFile), 0o700)
	ca := newTLSCA(t)
	key1, cert1, pub1 := ca.pair(t, 1)
	key2, cert2, pub2 := ca.pair(t, 2)
	key3, cert3, pub3 := ca.pair(t, 3)
	keys := [][]byte{key1, key2, key3}

	// A mismatched pair is refused before serve starts, naming the fields.
	replaceFile(t, keyFile, key2)
	replaceFile(t, certFile, cert1)
	out, errOut, code := run(t, "", "serve", "--check", "--config", path)
	if code != 1 || !strings.Contains(errOut, path+":") || !strings.Contains(errOut, "gateway.tls_key_file: does not match the certificate of gateway.tls_cert_file") {
		t.Errorf("serve --check with a mismatched pair: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = run(t, "", "secrets", "check", "--config", path)
	if code != 1 || !strings.Contains(out, "FAILED  gateway.tls_key") || !strings.Contains(out, "does not match the certificate of gateway.tls_cert_file") {
		t.Errorf("secrets check with a mismatched pair: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{out, errOut} {
		for _, l := range pemLines(key2) {
			if strings.Contains(s, l) {
				t.Fatalf("a check shows the key:\n%s", s)
			}
		}
	}

	replaceFile(t, keyFile, key1)
	if out, errOut, code := run(t, "", "serve", "--check", "--config", path); code != 0 {
		t.Fatalf("serve --check: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "", "secrets", "check", "--config", path); code != 0 || !strings.Contains(out, "ok  gateway.tls_key") || !strings.Contains(out, "ok  gateway.tls_cert") {
		t.Fatalf("secrets check: exit %d\n%s%s", code, out, errOut)
	}
	ready, stderr := startServeWith(t, nil, path, "--admin-listen", "127.0.0.1:0")
	base, admin := ready["gateway"], ready["admin"]
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("gateway %s: want https on loopback", base)
	}

	trusting := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	// One kept-alive connection, made before any rotation.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trusting, MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	// A new connection (and handshake) for every request.
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trusting, DisableKeepAlives: true}}
	// get returns the serial of the certificate the request's connection
	// was made with, and its public key.
	get := func(c *http.Client, path, bearer string) (int64, crypto.PublicKey, int, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		leaf := resp.TLS.PeerCertificates[0]
		return leaf.SerialNumber.Int64(), leaf.PublicKey, resp.StatusCode, nil
	}
	serialOf := func(c *http.Client) (int64, crypto.PublicKey) {
		t.Helper()
		serial, pub, status, err := get(c, "/healthz", "")
		if err != nil || status != 200 {
			t.Fatalf("GET /healthz: %d %v", status, err)
		}
		return serial, pub
	}
	if s, pub := serialOf(fresh); s != 1 || !pub1.(*ecdsa.PublicKey).Equal(pub) {
		t.Fatalf("serve presents serial %d, want 1 (the first pair)", s)
	}
	if s, _ := serialOf(old); s != 1 {
		t.Fatalf("the kept-alive connection has serial %d, want 1", s)
	}

	// Requests over the old connection and over new ones, through the
	// rotations: none may fail.
	var requests, failures atomic.Int64
	var mu sync.Mutex
	oldSerials, freshSerials := map[int64]int{}, map[int64]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(c *http.Client, seen map[int64]int) {
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			serial, _, status, err := get(c, "/healthz", "")
			requests.Add(1)
			if err != nil || status != 200 {
				if failures.Add(1) <= 3 {
					t.Errorf("GET /healthz during the rotation: %d %v", status, err)
				}
				continue
			}
			mu.Lock()
			seen[serial]++
			mu.Unlock()
		}
	}
	wg.Go(func() { loop(old, oldSerials) })
	wg.Go(func() { loop(fresh, freshSerials) })
	wg.Go(func() { loop(fresh, freshSerials) })
	var halted sync.Once
	halt := func() {
		halted.Do(func() { close(stop) })
		wg.Wait()
	}
	t.Cleanup(halt) // before serve stops, if the test ends early
	settle := func() {
		for n := requests.Load(); requests.Load() < n+30; {
			time.Sleep(10 * time.Millisecond)
		}
	}
	settle()

	// The second pair, taken at `gatehouse secrets refresh`.
	replaceFile(t, keyFile, key2)
	replaceFile(t, certFile, cert2)
	if out, errOut, code := run(t, "", "secrets", "refresh", "--admin", admin); code != 0 || !strings.Contains(out, "file:tls/tls.key") {
		t.Fatalf("secrets refresh: exit %d\n%s%s", code, out, errOut)
	}
	if s, pub := serialOf(fresh); s != 2 || !pub2.(*ecdsa.PublicKey).Equal(pub) {
		t.Errorf("a new connection after the rotation sees serial %d, want 2 (the new pair)", s)
	}
	if s, _ := serialOf(old); s != 1 {
		t.Errorf("the connection made before the rotation has serial %d, want 1 (its handshake kept)", s)
	}
	settle()

	// Half-way: the third key, the second certificate. The pair in use
	// stays, and the log says why.
	replaceFile(t, keyFile, key3)
	if out, errOut, code := run(t, "", "secrets", "refresh", "--admin", admin); code != 0 {
		t.Fatalf("secrets refresh: exit %d\n%s%s", code, out, errOut)
	}
	if s, _ := serialOf(fresh); s != 2 {
		t.Errorf("a new connection after a key without its certificate sees serial %d, want 2 kept", s)
	}
	// Logged once: the rotation of both files before was no mismatch.
	if l := stderr.String(); !strings.Contains(l, "gateway.tls_key_file: does not match the certificate of gateway.tls_cert_file") || strings.Count(l, "is not taken") != 1 {
		t.Errorf("serve's log does not name the mismatched pair, once:\n%s", l)
	}
	settle()

	// The certificate follows, read on SIGHUP.
	replaceFile(t, certFile, cert3)
	pid, _ := strconv.Atoi(ready["pid"])
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, pub := serialOf(fresh)
		if s == 3 && pub3.(*ecdsa.PublicKey).Equal(pub) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still see serial %d 20s after SIGHUP, want 3", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	settle()
	halt()

	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rotations", failures.Load(), requests.Load())
	}
	if len(oldSerials) != 1 || oldSerials[1] == 0 {
		t.Errorf("serials seen on the kept-alive connection: %v; want 1 only", oldSerials)
	}
	if freshSerials[1] == 0 || freshSerials[2] == 0 || freshSerials[3] == 0 {
		t.Errorf("serials seen on new connections: %v; want 1, 2 and 3", freshSerials)
	}
	// The whole pipeline, on a new connection with the last pair.
	if s, _, status, err := get(fresh, "/whoami", alice); err != nil || status != 200 || s != 3 {
		t.Errorf("alice GET /whoami after the rotations: %d %v, serial %d", status, err, s)
	}

	// Neither the log nor the admin listener's /secrets shows a key.
	resp, err := http.Get(admin + "/secrets")
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(listed), "file:tls/tls.key") || !strings.Contains(string(listed), "file:tls/tls.crt") {
		t.Errorf("/secrets does not list the TLS references:\n%s", listed)
	}
	for name, s := range map[string]string{"serve's log": stderr.String(), "/secrets": string(listed)} {
		for _, k := range keys {
			for _, l := range pemLines(k) {
				if strings.Contains(s, l) {
					t.Fatalf("%s shows a TLS key:\n%s", name, s)
				}
			}
		}
	}
}
