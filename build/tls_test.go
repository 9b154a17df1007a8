package build

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// tlsTestCA issues server certificates for gatehouse.test.
type tlsTestCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

func newTLSTestCA(t *testing.T) *tlsTestCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1000), Subject: pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tlsTestCA{cert: cert, key: key, pool: pool}
}

// issue returns a certificate (DER) for pub signed by the CA; ca true
// makes an intermediate CA, which then signs with its key.
func (ca *tlsTestCA) issue(t *testing.T, serial int64, pub crypto.PublicKey, isCA bool) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gatehouse.test"},
		DNSNames: []string{"gatehouse.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage, tmpl.ExtKeyUsage = true, true, x509.KeyUsageCertSign, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8PEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certsPEM(ders ...[]byte) []byte {
	var out []byte
	for _, der := range ders {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

// keyLines are the base64 lines of a PEM key: none may show in an error
// or a log.
func keyLines(keyPEM []byte) []string {
	var out []string
	for l := range strings.Lines(string(keyPEM)) {
		if l = strings.TrimSpace(l); len(l) > 16 && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	return out
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var testTLSNames = tlsNames{key: "gateway.tls_key_file", cert: "gateway.tls_cert_file"}

// tlsPair takes a key with a certificate file, or a PEM bundle holding the
// key and its chain, in the formats stores hold them; a pair that does not
// match, a key without a chain and what is not PEM are refused, naming
// the field at fault and never what the PEM holds.
func TestTLSPair(t *testing.T) {
	ca := newTLSTestCA(t)
	key, other := newECKey(t), newECKey(t)
	leaf := ca.issue(t, 1, key.Public(), false)
	otherLeaf := ca.issue(t, 2, other.Public(), false)
	// A chain through an intermediate CA, as public CAs issue.
	interKey := newECKey(t)
	interDER := ca.issue(t, 3, interKey.Public(), true)
	interCert, _ := x509.ParseCertificate(interDER)
	inter := &tlsTestCA{cert: interCert, key: interKey}
	chained := inter.issue(t, 4, key.Public(), false)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPKCS1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	ecDER, _ := x509.MarshalECPrivateKey(key)
	ecSEC1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}})

	for _, tc := range []struct {
		name              string
		keyPEM, certPEM   []byte
		withCert          bool
		wantSerial        int64
		wantChain         int
		wantField, wantIn string
	}{
		{name: "key and certificate file", keyPEM: pkcs8PEM(t, key), certPEM: certsPEM(leaf), withCert: true, wantSerial: 1, wantChain: 1},
		{name: "bundle, key first", keyPEM: join(pkcs8PEM(t, key), certsPEM(chained, interDER)), wantSerial: 4, wantChain: 2},
		{name: "bundle, chain first", keyPEM: join(certsPEM(chained, interDER), pkcs8PEM(t, key)), wantSerial: 4, wantChain: 2},
		{name: "certificate file wins over a bundled chain", keyPEM: join(pkcs8PEM(t, key), certsPEM(otherLeaf)), certPEM: certsPEM(chained, interDER), withCert: true, wantSerial: 4, wantChain: 2},
		{name: "SEC 1 EC key", keyPEM: ecSEC1, certPEM: certsPEM(leaf), withCert: true, wantSerial: 1, wantChain: 1},
		{name: "PKCS#1 RSA key", keyPEM: join(rsaPKCS1, certsPEM(ca.issue(t, 5, rsaKey.Public(), false))), wantSerial: 5, wantChain: 1},
		{name: "Ed25519 key", keyPEM: join(pkcs8PEM(t, edKey), certsPEM(ca.issue(t, 6, edKey.Public(), false))), wantSerial: 6, wantChain: 1},

		{name: "key and certificate of different pairs", keyPEM: pkcs8PEM(t, other), certPEM: certsPEM(leaf), withCert: true,
			wantField: "gateway.tls_key", wantIn: "gateway.tls_key_file: does not match the certificate of gateway.tls_cert_file"},
		{name: "bundle of different pairs", keyPEM: join(pkcs8PEM(t, other), certsPEM(leaf)),
			wantField: "gateway.tls_key", wantIn: "the private key does not match the first certificate of its chain"},
		{name: "leaf not first", keyPEM: pkcs8PEM(t, key), certPEM: certsPEM(interDER, chained), withCert: true,
			wantField: "gateway.tls_key", wantIn: "does not match the certificate of gateway.tls_cert_file"},
		{name: "key without a chain", keyPEM: pkcs8PEM(t, key),
			wantField: "gateway.tls_key", wantIn: "holds no certificate chain: set gateway.tls_cert_file"},
		{name: "certificate file without a certificate", keyPEM: pkcs8PEM(t, key), certPEM: []byte("not a certificate\n"), withCert: true,
			wantField: "gateway.tls_cert", wantIn: "gateway.tls_cert_file: holds no PEM certificate"},
		{name: "certificate file holding a key", keyPEM: pkcs8PEM(t, key), certPEM: join(certsPEM(leaf), pkcs8PEM(t, key)), withCert: true,
			wantField: "gateway.tls_cert", wantIn: "holds a private key"},
		{name: "certificate that does not parse", keyPEM: pkcs8PEM(t, key), certPEM: certsPEM([]byte{0x30, 0x00}), withCert: true,
			wantField: "gateway.tls_cert", wantIn: "the leaf does not parse"},
		{name: "not PEM (PKCS#12, DER)", keyPEM: ecDER, certPEM: certsPEM(leaf), withCert: true,
			wantField: "gateway.tls_key", wantIn: "holds no PEM private key"},
		{name: "two keys", keyPEM: join(pkcs8PEM(t, key), pkcs8PEM(t, other), certsPEM(leaf)),
			wantField: "gateway.tls_key", wantIn: "holds 2 private keys"},
		{name: "encrypted key", keyPEM: join(encrypted, certsPEM(leaf)),
			wantField: "gateway.tls_key", wantIn: "holds an encrypted private key"},
		{name: "key that does not parse", keyPEM: join(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), certsPEM(leaf)),
			wantField: "gateway.tls_key", wantIn: "the private key does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tlsPair(tc.keyPEM, tc.certPEM, tc.withCert, testTLSNames)
			if tc.wantIn == "" {
				if err != nil {
					t.Fatalf("tlsPair: %v", err)
				}
				if c.Leaf == nil || c.Leaf.SerialNumber.Int64() != tc.wantSerial || len(c.Certificate) != tc.wantChain {
					t.Errorf("tlsPair: leaf %v, chain of %d; want serial %d, chain of %d", c.Leaf, len(c.Certificate), tc.wantSerial, tc.wantChain)
				}
				return
			}
			var te *TLSError
			if !errors.As(err, &te) || te.Field != tc.wantField || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("tlsPair = %v; want a *TLSError of %s with %q", err, tc.wantField, tc.wantIn)
			}
			for _, l := range keyLines(tc.keyPEM) {
				if strings.Contains(err.Error(), l) {
					t.Errorf("the error repeats the key's PEM: %v", err)
				}
			}
		})
	}
}

// tlsFiles are a key and a certificate file the test rewrites, and the
// secrets set that reads them as serve does.
type tlsFiles struct {
	dir     string
	f       *config.File
	secrets *Secrets
	log     *bytes.Buffer
	logMu   *sync.Mutex
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (tf *tlsFiles) write(t *testing.T, name string, b []byte) {
	t.Helper()
	// Replaced at once, as a secret volume or an ACME client does.
	tmp := filepath.Join(tf.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(tf.dir, name)); err != nil {
		t.Fatal(err)
	}
}

func (tf *tlsFiles) logged() string {
	tf.logMu.Lock()
	defer tf.logMu.Unlock()
	return tf.log.String()
}

// newTLSFiles writes keyPEM and certPEM (none if nil) and loads them
// through NewSecrets, as tls_key_file and tls_cert_file.
func newTLSFiles(t *testing.T, keyPEM, certPEM []byte) *tlsFiles {
	t.Helper()
	tf := &tlsFiles{dir: t.TempDir(), f: &config.File{}, log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	tf.write(t, "tls.key", keyPEM)
	tf.f.Gateway.TLSKeyFile = "tls.key"
	if certPEM != nil {
		tf.write(t, "tls.crt", certPEM)
		tf.f.Gateway.TLSCertFile = "tls.crt"
	}
	log := slog.New(slog.NewTextHandler(lockedWriter{tf.logMu, tf.log}, nil))
	s, err := NewSecrets(t.Context(), tf.f, Options{Dir: tf.dir, Logger: log}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	tf.secrets = s
	return tf
}

func (tf *tlsFiles) options() Options {
	return Options{Dir: tf.dir, Secrets: tf.secrets, Logger: slog.New(slog.NewTextHandler(lockedWriter{tf.logMu, tf.log}, nil))}
}

func servedSerial(t *testing.T, g *GatewayTLS) int64 {
	t.Helper()
	c, err := g.GetCertificate(&tls.ClientHelloInfo{ServerName: "gatehouse.test"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.Int64()
}

// A rotation of the key and the certificate files is served from the next
// refresh on. A refresh that catches the key rotated and not yet its
// certificate keeps the pair in use (and says so, never with the key); the
// next refresh takes the new pair. Handshakes of crypto/tls clients all
// through the rotation succeed, and a connection made before it keeps
// working.
func TestGatewayTLSRotation(t *testing.T) {
	ca := newTLSTestCA(t)
	keyA, keyB := newECKey(t), newECKey(t)
	pemA, pemB := pkcs8PEM(t, keyA), pkcs8PEM(t, keyB)
	tf := newTLSFiles(t, pemA, certsPEM(ca.issue(t, 1, keyA.Public(), false)))
	g, err := NewGatewayTLS(tf.f, tf.options())
	if err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, g); got != 1 {
		t.Fatalf("serial %d served at start, want 1", got)
	}

	// A server on loopback with the holder's configuration.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(tls.NewListener(ln, g.Config()))
	t.Cleanup(func() { hs.Close() })
	clientTLS := &tls.Config{RootCAs: ca.pool, ServerName: "gatehouse.test", MinVersion: tls.VersionTLS12}

	// A connection made before the rotation, used throughout.
	early := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS, MaxConnsPerHost: 1}}
	get := func(c *http.Client) error {
		resp, err := c.Get("https://" + ln.Addr().String() + "/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			return errors.New("unexpected body " + string(b))
		}
		return nil
	}
	if err := get(early); err != nil {
		t.Fatal(err)
	}

	// Handshakes in a loop, each on a new connection, recording the
	// serial it saw, while the files rotate.
	var handshakes, failures atomic.Int64
	var seenMu sync.Mutex
	seen := map[int64]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), clientTLS)
				handshakes.Add(1)
				if err != nil {
					failures.Add(1)
					t.Errorf("handshake: %v", err)
					continue
				}
				serial := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
				conn.Close()
				seenMu.Lock()
				seen[serial]++
				seenMu.Unlock()
			}
		})
	}
	refresh := func() {
		t.Helper()
		if err := tf.secrets.Set.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitHandshakes := func() {
		for n := handshakes.Load(); handshakes.Load() < n+50; {
			time.Sleep(time.Millisecond)
		}
	}
	waitHandshakes()

	// Half-way: the new key, the old certificate.
	tf.write(t, "tls.key", pemB)
	refresh()
	if got := servedSerial(t, g); got != 1 {
		t.Errorf("serial %d served after a key without its certificate, want 1 kept", got)
	}
	if l := tf.logged(); !strings.Contains(l, "is not taken") || !strings.Contains(l, "gateway.tls_key_file: does not match the certificate of gateway.tls_cert_file") {
		t.Errorf("the refused pair is not logged with its fields:\n%s", l)
	}
	waitHandshakes()

	// The certificate follows: the new pair is served.
	tf.write(t, "tls.crt", certsPEM(ca.issue(t, 2, keyB.Public(), false)))
	refresh()
	if got := servedSerial(t, g); got != 2 {
		t.Errorf("serial %d served after the pair rotated, want 2", got)
	}
	waitHandshakes()

	// Both at once, before a refresh: one refresh takes them.
	keyC := newECKey(t)
	pemC := pkcs8PEM(t, keyC)
	tf.write(t, "tls.key", pemC)
	tf.write(t, "tls.crt", certsPEM(ca.issue(t, 3, keyC.Public(), false)))
	refresh()
	if got := servedSerial(t, g); got != 3 {
		t.Errorf("serial %d served after both files rotated, want 3", got)
	}
	if n := strings.Count(tf.logged(), "is not taken"); n != 1 {
		t.Errorf("%d refusals logged, want 1 (a rotation whose halves both changed before the refresh is no mismatch):\n%s", n, tf.logged())
	}
	waitHandshakes()
	close(stop)
	wg.Wait()

	if err := get(early); err != nil {
		t.Errorf("the connection made before the rotation: %v", err)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d handshakes failed during the rotation", failures.Load(), handshakes.Load())
	}
	if seen[1] == 0 || seen[2] == 0 || seen[3] == 0 || len(seen) != 3 {
		t.Errorf("serials seen by new connections: %v; want 1, 2 and 3", seen)
	}
	// Handshakes after the last swap see the last pair only.
	conn, err := tls.Dial("tcp", ln.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); got != 3 {
		t.Errorf("a new connection sees serial %d, want 3", got)
	}
	conn.Close()
	l := tf.logged()
	if !strings.Contains(l, "serving a rotated TLS certificate") {
		t.Errorf("the swap is not logged:\n%s", l)
	}
	for _, p := range [][]byte{pemA, pemB, pemC} {
		for _, line := range keyLines(p) {
			if strings.Contains(l, line) {
				t.Fatalf("the log shows a key:\n%s", l)
			}
		}
	}
}

// A bundle (key and chain in one secret) rotates as one value; a new value
// that is not a pair is refused and the pair in use stays.
func TestGatewayTLSBundleRotation(t *testing.T) {
	ca := newTLSTestCA(t)
	keyA, keyB := newECKey(t), newECKey(t)
	tf := newTLSFiles(t, join(pkcs8PEM(t, keyA), certsPEM(ca.issue(t, 1, keyA.Public(), false))), nil)
	g, err := NewGatewayTLS(tf.f, tf.options())
	if err != nil {
		t.Fatal(err)
	}
	tf.write(t, "tls.key", pkcs8PEM(t, keyB)) // the chain forgotten
	if err := tf.secrets.Set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, g); got != 1 {
		t.Errorf("serial %d served after a bundle without its chain, want 1 kept", got)
	}
	if l := tf.logged(); !strings.Contains(l, "holds no certificate chain") {
		t.Errorf("the refused bundle is not logged:\n%s", l)
	}
	tf.write(t, "tls.key", join(certsPEM(ca.issue(t, 2, keyB.Public(), false)), pkcs8PEM(t, keyB)))
	if err := tf.secrets.Set.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, g); got != 2 {
		t.Errorf("serial %d served after the bundle rotated, want 2", got)
	}
}

// At start a pair that does not match is an error naming the fields, for
// serve (NewGatewayTLS) and its checks (CheckTLS) alike; a value that could
// not be read is left to the secrets' own report.
func TestGatewayTLSRefusedAtStart(t *testing.T) {
	ca := newTLSTestCA(t)
	key, other := newECKey(t), newECKey(t)
	tf := newTLSFiles(t, pkcs8PEM(t, other), certsPEM(ca.issue(t, 1, key.Public(), false)))
	_, err := NewGatewayTLS(tf.f, tf.options())
	var te *TLSError
	if !errors.As(err, &te) || te.Field != "gateway.tls_key" || te.Written != "gateway.tls_key_file" || !strings.Contains(te.Reason, "gateway.tls_cert_file") {
		t.Errorf("NewGatewayTLS with a mismatched pair = %v", err)
	}
	if err := CheckTLS(tf.f, tf.secrets); !errors.As(err, &te) || te.Field != "gateway.tls_key" {
		t.Errorf("CheckTLS with a mismatched pair = %v", err)
	}

	unread := &config.File{}
	unread.Gateway.TLSKeyFile, unread.Gateway.TLSCertFile = "missing.key", "missing.crt"
	s, err := NewSecrets(t.Context(), unread, Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Set.Load(t.Context()) == nil {
		t.Fatal("missing files loaded")
	}
	if err := CheckTLS(unread, s); err != nil {
		t.Errorf("CheckTLS of values that could not be read = %v, want nil (Load reports them)", err)
	}
	if err := CheckTLS(&config.File{}, s); err != nil {
		t.Errorf("CheckTLS without TLS = %v", err)
	}
}

// Past max_age without an answer from the key's store, handshakes fail
// rather than go on with a key that may have been revoked.
func TestGatewayTLSPastMaxAge(t *testing.T) {
	ca := newTLSTestCA(t)
	key := newECKey(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tls.key"), join(pkcs8PEM(t, key), certsPEM(ca.issue(t, 1, key.Public(), false))), 0o600)
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	set := secrets.New(secrets.Config{MaxAge: time.Hour, Now: func() time.Time { return *now.Load() }, Logger: slog.New(slog.DiscardHandler)})
	sec := set.Add(secrets.FileSource{Path: filepath.Join(dir, "tls.key"), Name: "tls.key"}, secrets.Raw)
	if err := set.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := &config.File{}
	f.Gateway.TLSKeyFile = "tls.key"
	g, err := NewGatewayTLS(f, Options{Secrets: &Secrets{Set: set, byField: map[string]*secrets.Secret{"gateway.tls_key": sec}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.GetCertificate(&tls.ClientHelloInfo{}); err != nil {
		t.Fatalf("fresh key: %v", err)
	}
	later := start.Add(2 * time.Hour)
	now.Store(&later)
	if c, err := g.GetCertificate(&tls.ClientHelloInfo{}); err == nil || c != nil || !strings.Contains(err.Error(), "gateway.tls_key_file") {
		t.Errorf("past max_age: GetCertificate = %v, %v; want an error naming the field", c, err)
	}
}
