package build

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// GatewayTLS holds the certificate `gatehouse serve` presents: the private
// key of gateway.tls_key (or tls_key_file) with the chain of
// gateway.tls_cert_file, or with the chain in the key's own PEM when no
// certificate file is named. When either is rotated (a refresh of the
// secrets set finds a new version) the pair is rebuilt to the side and
// swapped in with one atomic store: new handshakes get the new certificate,
// connections already made keep theirs. A pair that does not match (a
// rotation caught half-way: a new key, the old certificate) is logged and
// not taken; the last good pair stays until a later refresh brings a
// consistent one.
//
// The certificate served depends on nothing a caller sends (the server
// name, the offered algorithms): there is one. Past secrets.max_age
// without an answer from the key's store, handshakes fail (the key is
// unavailable, as every secret then is) and /readyz says so.
type GatewayTLS struct {
	key, cert *secrets.Secret // cert nil: the chain is in the key's PEM
	names     tlsNames
	log       *slog.Logger

	mu  sync.Mutex // one rebuild at a time
	cur atomic.Pointer[tls.Certificate]
	// rereading is set while a reload reads the other half of a pair
	// again: the reload that half's change starts leaves the verdict to it.
	rereading atomic.Bool
}

// tlsNames are the fields of the key and certificate as the file writes
// them, for problems and logs.
type tlsNames struct{ key, cert string }

// TLSError is a key or certificate the gateway cannot serve. It never
// holds key material.
type TLSError struct {
	// Field is the reference at fault, as File.SecretRefs names it:
	// gateway.tls_key or gateway.tls_cert.
	Field string
	// Written is that field as the file writes it (gateway.tls_key,
	// gateway.tls_key_file or gateway.tls_cert_file).
	Written string
	// Reason says what is wrong, naming the other field when the two do
	// not match.
	Reason string
}

func (e *TLSError) Error() string { return e.Written + ": " + e.Reason }

// NewGatewayTLS returns the holder of the gateway's certificate, built from
// the references in o.Secrets (loaded), and follows their rotations from
// then on. It fails, with a *TLSError, when the key and certificate do not
// make a pair to serve.
func NewGatewayTLS(f *config.File, o Options) (*GatewayTLS, error) {
	g, err := gatewayTLS(f, o)
	if err != nil {
		return nil, err
	}
	c, err := g.read()
	if err != nil {
		return nil, err
	}
	g.cur.Store(c)
	g.key.OnChange(func(secrets.Value) { g.reload(g.cert) })
	if g.cert != nil && g.cert != g.key {
		g.cert.OnChange(func(secrets.Value) { g.reload(g.key) })
	}
	return g, nil
}

// CheckTLS takes the key and certificate the file names from s (loaded)
// and returns what keeps them from making a pair to serve (a *TLSError),
// or nil. A value that could not be read is the secrets' own problem
// (Set.Load names it): CheckTLS says nothing of it, nor of a file that
// names no TLS key.
func CheckTLS(f *config.File, s *Secrets) error {
	if !f.Gateway.TLSEnabled() {
		return nil
	}
	g, err := gatewayTLS(f, Options{Secrets: s})
	if err != nil {
		return err
	}
	for _, sec := range []*secrets.Secret{g.key, g.cert} {
		if sec == nil {
			continue
		}
		v, err := sec.Get()
		clear(v.Bytes)
		if err != nil {
			return nil
		}
	}
	_, err = g.read()
	return err
}

func gatewayTLS(f *config.File, o Options) (*GatewayTLS, error) {
	g := &GatewayTLS{names: tlsNames{key: f.Gateway.TLSKeyField(), cert: "gateway.tls_cert_file"}, log: o.logger()}
	if g.key = o.Secrets.Field("gateway.tls_key"); g.key == nil {
		return nil, &TLSError{Field: "gateway.tls_key", Written: g.names.key, Reason: "is not set or not loaded"}
	}
	if f.Gateway.TLSCertFile != "" {
		if g.cert = o.Secrets.Field("gateway.tls_cert"); g.cert == nil {
			return nil, &TLSError{Field: "gateway.tls_cert", Written: g.names.cert, Reason: "is not loaded"}
		}
	}
	return g, nil
}

// GetCertificate is tls.Config.GetCertificate: the pair in use, whatever
// the client says.
func (g *GatewayTLS) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	// The key's usability, not its value: past max_age it is unavailable
	// and the gateway fails closed, as every consumer of a secret does.
	v, err := g.key.Get()
	clear(v.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", g.names.key, err)
	}
	return g.cur.Load(), nil
}

// Certificate returns the pair in use.
func (g *GatewayTLS) Certificate() *tls.Certificate { return g.cur.Load() }

// Config is the server's TLS configuration: TLS 1.2 at least, the
// certificate from GetCertificate.
func (g *GatewayTLS) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: g.GetCertificate}
}

// reload rebuilds the pair after a rotation of the key or the certificate,
// and swaps it in if it is one; else the pair in use stays. other is the
// half that did not change (nil for a bundle): when the halves do not
// match, it is read again first, as a refresh that read the key just
// before its certificate was replaced would otherwise leave the new key
// waiting a whole refresh interval (and log a mismatch at every
// rotation).
func (g *GatewayTLS) reload(other *secrets.Secret) {
	err := g.swap()
	if err == nil || g.rereading.Load() {
		return
	}
	if other != nil {
		g.rereading.Store(true)
		_ = other.Refresh(context.Background()) // a failure is the set's to log; its change reloads
		g.rereading.Store(false)
		err = g.swap()
	}
	if err != nil {
		g.log.Warn("gateway: the rotated TLS key or certificate is not taken; the pair in use stays until a refresh brings a matching pair",
			"key", g.key.String(), "cert", g.certRef(), "error", err.Error())
	}
}

// swap builds the pair from the current values and, if it is one, swaps
// it in.
func (g *GatewayTLS) swap() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.read()
	if err != nil {
		return err
	}
	old := g.cur.Swap(c)
	if old != nil && old.Leaf != nil && old.Leaf.Equal(c.Leaf) && sameKey(old.PrivateKey, c.PrivateKey) {
		return nil // read again, unchanged
	}
	g.log.Info("gateway: serving a rotated TLS certificate to new connections",
		"key", g.key.String(), "cert", g.certRef(), "serial", c.Leaf.SerialNumber.Text(16), "not_after", c.Leaf.NotAfter)
	return nil
}

func (g *GatewayTLS) certRef() string {
	if g.cert == nil {
		return g.key.String()
	}
	return g.cert.String()
}

// read builds the pair from the current values.
func (g *GatewayTLS) read() (*tls.Certificate, error) {
	kv, err := g.key.Get()
	if err != nil {
		return nil, &TLSError{Field: "gateway.tls_key", Written: g.names.key, Reason: err.Error()}
	}
	defer clear(kv.Bytes)
	var certPEM []byte
	if g.cert != nil {
		cv, err := g.cert.Get()
		if err != nil {
			return nil, &TLSError{Field: "gateway.tls_cert", Written: g.names.cert, Reason: err.Error()}
		}
		certPEM = cv.Bytes
	}
	return tlsPair(kv.Bytes, certPEM, g.cert != nil, g.names)
}

// tlsPair makes the certificate to serve from the key's PEM (one private
// key, and perhaps its chain) and, when withCert, the certificate file's
// PEM, which is then the chain served. The chain's first certificate (the
// leaf) must hold the key's public key. Its errors name the fields and
// never repeat what the PEM holds.
func tlsPair(keyPEM, certPEM []byte, withCert bool, n tlsNames) (*tls.Certificate, error) {
	keyErr := func(format string, args ...any) error {
		return &TLSError{Field: "gateway.tls_key", Written: n.key, Reason: fmt.Sprintf(format, args...)}
	}
	certErr := func(format string, args ...any) error {
		return &TLSError{Field: "gateway.tls_cert", Written: n.cert, Reason: fmt.Sprintf(format, args...)}
	}
	var keys []*pem.Block
	var bundled [][]byte
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			bundled = append(bundled, b.Bytes)
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return nil, keyErr("holds an encrypted private key: store it unencrypted, where gatehouse alone may read it")
		case b.Type == "PRIVATE KEY" || strings.HasSuffix(b.Type, " PRIVATE KEY"):
			keys = append(keys, b)
		}
	}
	switch len(keys) {
	case 0:
		return nil, keyErr("holds no PEM private key (a PKCS#12 bundle is not read: keep the key as PEM, for Key Vault a certificate of content type application/x-pem-file)")
	case 1:
	default:
		return nil, keyErr("holds %d private keys: want one", len(keys))
	}
	key, err := parsePrivateKey(keys[0])
	if err != nil {
		return nil, keyErr("the private key does not parse: %v", err)
	}
	chain, from := bundled, n.key
	if withCert {
		chain, from = nil, n.cert
		for rest := certPEM; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			switch {
			case b.Type == "CERTIFICATE":
				chain = append(chain, b.Bytes)
			case strings.HasSuffix(b.Type, "PRIVATE KEY"):
				return nil, certErr("holds a private key: keep the key in %s alone", n.key)
			}
		}
		if len(chain) == 0 {
			return nil, certErr("holds no PEM certificate")
		}
	} else if len(chain) == 0 {
		return nil, keyErr("holds no certificate chain: set gateway.tls_cert_file, or keep the chain in the key's PEM")
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			what := "the leaf"
			if i > 0 {
				what = fmt.Sprintf("certificate %d", i+1)
			}
			if withCert {
				return nil, certErr("%s does not parse: %v", what, err)
			}
			return nil, keyErr("%s of the chain does not parse: %v", what, err)
		}
	}
	if !publicKeyOf(key).Equal(certs[0].PublicKey) {
		if withCert {
			return nil, keyErr("does not match the certificate of %s (its first certificate, the leaf): a key and a certificate of different pairs", n.cert)
		}
		return nil, keyErr("the private key does not match the first certificate of its chain (the leaf)")
	}
	// The standard library builds the pair, so what is served is what it
	// would load from the same PEM.
	var chainPEM []byte
	for _, der := range chain {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyOnly := pem.EncodeToMemory(keys[0])
	defer clear(keyOnly)
	c, err := tls.X509KeyPair(chainPEM, keyOnly)
	if err != nil {
		return nil, keyErr("with the chain of %s: %v", from, err)
	}
	return &c, nil
}

// parsePrivateKey reads a PKCS#8, PKCS#1 (RSA) or SEC 1 (EC) key.
func parsePrivateKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q: want PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY", b.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	}
	return nil, errors.New("not an RSA, ECDSA or Ed25519 key")
}

// publicKeyOf is the public half of a key parsePrivateKey returned.
func publicKeyOf(k crypto.Signer) interface{ Equal(crypto.PublicKey) bool } {
	return k.Public().(interface{ Equal(crypto.PublicKey) bool })
}

// sameKey reports whether two private keys are one.
func sameKey(a, b crypto.PrivateKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PrivateKey) bool })
	return ok && ka.Equal(b)
}
