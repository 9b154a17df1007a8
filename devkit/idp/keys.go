package idp

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// KeyFileName is the file in Config.KeyDir that holds the signing keys.
const KeyFileName = "idp-signing-keys.json"

// Key states. A key is published in the JWKS in every state; only the
// current key signs. A new key is published as next one rotation before it
// signs, so verifiers that cached the JWKS already know it (spec §8).
const (
	stateNext    = "next"
	stateCurrent = "current"
	stateRetired = "retired"
)

const (
	// retiredKeyMaxAge bounds how long RotateKeys keeps a retired key on disk.
	// It is also the longest TokenLifetime New accepts, so every token a
	// retired key signed has expired before the key is dropped.
	retiredKeyMaxAge = 24 * time.Hour
	// publishMargin keeps a retired key published a little longer than the
	// tokens it signed live, for clock skew between the IdP and verifiers.
	publishMargin = 5 * time.Minute
	// reloadInterval is how often a running server stats the key file.
	reloadInterval = time.Second
	rsaBits        = 2048
)

// signingKey is one RSA key with its self-signed certificate (x5c).
type signingKey struct {
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
	Key     string    `json:"private_key"` // PEM, PKCS #8
	Cert    string    `json:"certificate"` // PEM

	priv *rsa.PrivateKey
	cert *x509.Certificate
	kid  string // base64url SHA-1 thumbprint of the certificate, as Entra
}

type keyFile struct {
	Keys []*signingKey `json:"keys"`
}

// keySet is an immutable snapshot of the keys.
type keySet struct {
	keys    []*signingKey
	current *signingKey
}

func (ks *keySet) byKid(kid string) *signingKey {
	for _, k := range ks.keys {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

// published lists the keys in the JWKS at now, current first: a retired key
// stays until the tokens it signed have expired.
func (ks *keySet) published(now time.Time, lifetime time.Duration) []*signingKey {
	out := []*signingKey{ks.current}
	for _, st := range []string{stateNext, stateRetired} {
		for _, k := range ks.keys {
			if k.State == st && (st != stateRetired || now.Before(k.Retired.Add(lifetime+publishMargin))) {
				out = append(out, k)
			}
		}
	}
	return out
}

func newSigningKey(state string, now time.Time) (*signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "gatehouse development IdP signing key"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	k := &signingKey{
		State:   state,
		Created: now.UTC(),
		Key:     string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})),
		Cert:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
	return k, k.parse()
}

// parse decodes the PEM members and checks that key and certificate match.
func (k *signingKey) parse() error {
	kb, _ := pem.Decode([]byte(k.Key))
	cb, _ := pem.Decode([]byte(k.Cert))
	if kb == nil || kb.Type != "PRIVATE KEY" || cb == nil || cb.Type != "CERTIFICATE" {
		return errors.New("key or certificate is not PEM (PRIVATE KEY, CERTIFICATE)")
	}
	pk, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return err
	}
	priv, ok := pk.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < rsaBits {
		return fmt.Errorf("key is not RSA of at least %d bits", rsaBits)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return err
	}
	if !priv.PublicKey.Equal(cert.PublicKey) {
		return errors.New("certificate does not match the key")
	}
	sum := sha1.Sum(cert.Raw)
	k.priv, k.cert, k.kid = priv, cert, base64.RawURLEncoding.EncodeToString(sum[:])
	return nil
}

// newKeySet checks the states: exactly one current key, any number of next
// and retired keys.
func newKeySet(f *keyFile) (*keySet, error) {
	ks := &keySet{keys: f.Keys}
	for i, k := range f.Keys {
		if err := k.parse(); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		switch k.State {
		case stateCurrent:
			if ks.current != nil {
				return nil, errors.New("more than one current key")
			}
			ks.current = k
		case stateNext, stateRetired:
		default:
			return nil, fmt.Errorf("key %d: unknown state %q", i, k.State)
		}
	}
	if ks.current == nil {
		return nil, errors.New("no current key")
	}
	return ks, nil
}

// initialKeys makes a current key and a next key.
func initialKeys(now time.Time) (*keyFile, error) {
	cur, err := newSigningKey(stateCurrent, now)
	if err != nil {
		return nil, err
	}
	next, err := newSigningKey(stateNext, now)
	if err != nil {
		return nil, err
	}
	return &keyFile{Keys: []*signingKey{cur, next}}, nil
}

// rotate promotes the oldest next key to current, retires the current key,
// drops retired keys older than retiredKeyMaxAge and adds a new next key.
func rotate(f *keyFile, now time.Time) (*keyFile, error) {
	out := &keyFile{}
	promoted := false
	for _, k := range f.Keys {
		k := *k
		switch k.State {
		case stateCurrent:
			k.State, k.Retired = stateRetired, now.UTC()
		case stateNext:
			if !promoted {
				k.State, promoted = stateCurrent, true
			}
		case stateRetired:
			if !now.Before(k.Retired.Add(retiredKeyMaxAge)) {
				continue
			}
		}
		out.Keys = append(out.Keys, &k)
	}
	if !promoted {
		cur, err := newSigningKey(stateCurrent, now)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, cur)
	}
	next, err := newSigningKey(stateNext, now)
	if err != nil {
		return nil, err
	}
	out.Keys = append(out.Keys, next)
	return out, nil
}

// RotateKeys rotates the signing keys kept in keyDir: the next key becomes
// current (it has been published for a while, so verifiers know it), the
// current key is retired (published until its tokens have expired) and a
// new next key is created. If keyDir holds no keys yet, they are created and
// rotated once. A running Server notices the new file within a second (it
// stats the file at most once a second) and signs with the new key.
func RotateKeys(keyDir string, now time.Time) error {
	if keyDir == "" {
		return errors.New("idp: RotateKeys needs a key directory")
	}
	path := filepath.Join(keyDir, KeyFileName)
	f, _, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = initialKeys(now)
	}
	if err != nil {
		return fmt.Errorf("idp: rotate keys: %w", err)
	}
	if f, err = rotate(f, now); err != nil {
		return fmt.Errorf("idp: rotate keys: %w", err)
	}
	if err := writeKeyFile(path, f); err != nil {
		return fmt.Errorf("idp: rotate keys: %w", err)
	}
	return nil
}

func readKeyFile(path string) (*keyFile, os.FileInfo, error) {
	b, fi, err := privatefile.Read(path, 1<<20)
	if err != nil {
		return nil, nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f keyFile
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := newKeySet(&f); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, fi, nil
}

// writeKeyFile replaces the file atomically (temporary file, then rename), so
// a reader sees the old or the new keys, never half of them. The file is
// created 0600 in a 0700 directory.
func writeKeyFile(path string, f *keyFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return privatefile.Write(path, append(b, '\n'))
}

// keyStore holds the keys of a server: in memory, or in a file it re-reads
// when RotateKeys (possibly in another process) has replaced it.
type keyStore struct {
	path string // "" keeps keys in memory
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	set     *keySet
	file    *keyFile
	stat    os.FileInfo
	checked time.Time
}

func openKeyStore(dir string, now func() time.Time, log *slog.Logger) (*keyStore, error) {
	ks := &keyStore{now: now, log: log}
	if dir == "" {
		f, err := initialKeys(now())
		if err != nil {
			return nil, err
		}
		return ks, ks.install(f, nil)
	}
	ks.path = filepath.Join(dir, KeyFileName)
	f, fi, err := readKeyFile(ks.path)
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = initialKeys(now()); err != nil {
			return nil, err
		}
		if err = writeKeyFile(ks.path, f); err != nil {
			return nil, err
		}
		f, fi, err = readKeyFile(ks.path)
	}
	if err != nil {
		return nil, err
	}
	return ks, ks.install(f, fi)
}

func (ks *keyStore) install(f *keyFile, fi os.FileInfo) error {
	set, err := newKeySet(f)
	if err != nil {
		return err
	}
	ks.set, ks.file, ks.stat = set, f, fi
	ks.checked = ks.now()
	return nil
}

// snapshot returns the keys, first re-reading the key file if it changed
// (checked at most once per reloadInterval). A file that cannot be read
// keeps the keys already loaded.
func (ks *keyStore) snapshot() *keySet {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := ks.now()
	if ks.path == "" || now.Sub(ks.checked) < reloadInterval && !now.Before(ks.checked) {
		return ks.set
	}
	ks.checked = now
	fi, err := os.Stat(ks.path)
	if err != nil {
		ks.log.Error("idp: key file unreadable; keeping the loaded keys", "file", ks.path, "err", err)
		return ks.set
	}
	if ks.stat != nil && os.SameFile(fi, ks.stat) && fi.ModTime().Equal(ks.stat.ModTime()) && fi.Size() == ks.stat.Size() {
		return ks.set
	}
	f, fi, err := readKeyFile(ks.path)
	if err == nil {
		err = ks.install(f, fi)
	}
	if err != nil {
		ks.log.Error("idp: key file invalid; keeping the loaded keys", "file", ks.path, "err", err)
		return ks.set
	}
	ks.log.Info("idp: signing keys reloaded", "file", ks.path, "kid", ks.set.current.kid)
	return ks.set
}

// rotate rotates the keys of this server (in memory, or in its key file).
func (ks *keyStore) rotate() error {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	f := ks.file
	if ks.path != "" {
		// Start from the file, which another process may have rotated.
		cur, _, err := readKeyFile(ks.path)
		if err != nil {
			return err
		}
		f = cur
	}
	f, err := rotate(f, ks.now())
	if err != nil {
		return err
	}
	if ks.path == "" {
		return ks.install(f, nil)
	}
	if err := writeKeyFile(ks.path, f); err != nil {
		return err
	}
	f, fi, err := readKeyFile(ks.path)
	if err != nil {
		return err
	}
	return ks.install(f, fi)
}

// Rotate rotates the server's signing keys now, as RotateKeys does for a key
// directory; with no KeyDir the keys rotate in memory.
func (s *Server) Rotate() error {
	if err := s.keys.rotate(); err != nil {
		return fmt.Errorf("idp: rotate keys: %w", err)
	}
	return nil
}

// jwk is one key of the JWKS in Entra's shape (spec §8).
type jwk struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	Kid    string   `json:"kid"`
	X5t    string   `json:"x5t"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X5c    []string `json:"x5c"`
	Issuer string   `json:"issuer"`
}

// jwks serves the published keys; each names the issuer of the document's
// version (Entra's per-key issuer, spec §6).
func (s *Server) jwks(v1 bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := s.dir.lookup(r.PathValue("tenant"))
		if t == nil {
			s.writeError(w, r, errUnknownTenant(r.PathValue("tenant")))
			return
		}
		iss := s.issuerV2(t)
		if v1 {
			iss = s.issuerV1(t)
		}
		keys := []jwk{}
		for _, k := range s.keys.snapshot().published(s.now(), s.lifetime) {
			keys = append(keys, jwk{
				Kty: "RSA", Use: "sig", Kid: k.kid, X5t: k.kid,
				N:      base64.RawURLEncoding.EncodeToString(k.priv.N.Bytes()),
				E:      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.priv.E)).Bytes()),
				X5c:    []string{base64.StdEncoding.EncodeToString(k.cert.Raw)},
				Issuer: iss,
			})
		}
		metadataHeaders(w.Header())
		writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
	}
}
