package mint

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// KeyFileName is the file in Config.KeyDir that holds the issuer's
// signing keys (PKCS #8 PEM inside JSON, mode 0600).
const KeyFileName = "issuer-signing-keys.json"

// Key states. Every key in the file is published in the JWKS (a retired one
// only while tokens it signed may still be presented); only the current key
// signs. A key is published as next for one rotation before it signs, so
// AWS, which caches the JWKS it fetched, already knows it when it starts
// signing.
const (
	keyNext    = "next"
	keyCurrent = "current"
	keyRetired = "retired"
)

const (
	issuerKeyBits = 2048
	// retiredPublished is how long a retired key stays in the JWKS: longer
	// than any token it signed lives (5 min) plus IAM's 5 min clock skew.
	retiredPublished = 15 * time.Minute
	// retiredKept is how long RotateKeys keeps a retired key in the file.
	retiredKept = 24 * time.Hour
)

type issuerKey struct {
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Retired time.Time `json:"retired,omitzero"`
	Key     string    `json:"private_key"` // PEM, PKCS #8

	// signer signs: the parsed private key of a key file, or a vault's
	// sign operation (vault.go).
	signer crypto.Signer
	pub    crypto.PublicKey
	alg    string // RS256 or ES256
	kid    string // RFC 7638 SHA-256 thumbprint, base64url
}

type issuerKeyFile struct {
	Keys []*issuerKey `json:"keys"`
}

// issuerKeys is an immutable snapshot of the keys.
type issuerKeys struct {
	keys      []*issuerKey
	current   *issuerKey
	discovery []byte // the discovery document, naming the keys' algorithms
}

func newIssuerKey(state string, now time.Time, random io.Reader) (*issuerKey, error) {
	if random == nil {
		random = rand.Reader
	}
	priv, err := rsa.GenerateKey(random, issuerKeyBits)
	if err != nil {
		return nil, fmt.Errorf("mint: generate issuer key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	k := &issuerKey{State: state, Created: now.UTC(), Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))}
	return k, k.parse()
}

func (k *issuerKey) parse() error {
	block, _ := pem.Decode([]byte(k.Key))
	if block == nil || block.Type != "PRIVATE KEY" {
		return errors.New("mint: issuer key is not a PKCS #8 PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return fmt.Errorf("mint: issuer key: %w", err)
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok || priv.N.BitLen() < issuerKeyBits {
		return errors.New("mint: issuer key is not an RSA key of at least 2048 bits")
	}
	return k.setSigner(priv)
}

// setSigner sets the key's signer, public key, algorithm and key id: an RSA
// key signs RS256, an ECDSA P-256 key ES256.
func (k *issuerKey) setSigner(s crypto.Signer) error {
	pub := s.Public()
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < issuerKeyBits {
			return errors.New("mint: issuer key: an RSA key of at least 2048 bits is needed")
		}
		k.alg = "RS256"
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return errors.New("mint: issuer key: an ECDSA key must be on P-256")
		}
		k.alg = "ES256"
	default:
		return fmt.Errorf("mint: issuer key: a %T key: want RSA or ECDSA P-256", pub)
	}
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	k.signer, k.pub, k.kid = s, pub, base64.RawURLEncoding.EncodeToString(tp)
	return nil
}

func newIssuerKeys(f *issuerKeyFile) (*issuerKeys, error) {
	ks := &issuerKeys{}
	for _, k := range f.Keys {
		if k.signer == nil {
			if err := k.parse(); err != nil {
				return nil, err
			}
		}
		switch k.State {
		case keyCurrent:
			if ks.current != nil {
				return nil, errors.New("mint: issuer key file has two current keys")
			}
			ks.current = k
		case keyNext, keyRetired:
		default:
			return nil, fmt.Errorf("mint: issuer key file: unknown key state %q", k.State)
		}
		ks.keys = append(ks.keys, k)
	}
	if ks.current == nil {
		return nil, errors.New("mint: issuer key file has no current key")
	}
	return ks, nil
}

// published returns the keys the JWKS lists at now.
func (ks *issuerKeys) published(now time.Time) []*issuerKey {
	var out []*issuerKey
	for _, k := range ks.keys {
		if k.State == keyRetired && now.Sub(k.Retired) > retiredPublished {
			continue
		}
		out = append(out, k)
	}
	return out
}

// jwks is the public JSON Web Key Set of the published keys.
func (ks *issuerKeys) jwks(now time.Time) ([]byte, error) {
	set := jose.JSONWebKeySet{}
	for _, k := range ks.published(now) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	return json.Marshal(set)
}

func initialIssuerKeys(now time.Time, random io.Reader) (*issuerKeyFile, error) {
	cur, err := newIssuerKey(keyCurrent, now, random)
	if err != nil {
		return nil, err
	}
	next, err := newIssuerKey(keyNext, now, random)
	if err != nil {
		return nil, err
	}
	return &issuerKeyFile{Keys: []*issuerKey{cur, next}}, nil
}

// rotateIssuerKeys makes next current, current retired, adds a new next,
// and drops retired keys older than retiredKept.
func rotateIssuerKeys(f *issuerKeyFile, now time.Time, random io.Reader) (*issuerKeyFile, error) {
	out := &issuerKeyFile{}
	var promoted bool
	for _, k := range f.Keys {
		c := *k
		switch k.State {
		case keyCurrent:
			c.State, c.Retired = keyRetired, now.UTC()
		case keyNext:
			if promoted {
				continue // more than one next key: keep the first
			}
			c.State, promoted = keyCurrent, true
		case keyRetired:
			if now.Sub(k.Retired) > retiredKept {
				continue
			}
		}
		out.Keys = append(out.Keys, &c)
	}
	if !promoted {
		k, err := newIssuerKey(keyCurrent, now, random)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, k)
	}
	next, err := newIssuerKey(keyNext, now, random)
	if err != nil {
		return nil, err
	}
	out.Keys = append(out.Keys, next)
	return out, nil
}

// RotateKeys rotates the issuer keys kept in keyDir: the next key (already
// published) becomes current and signs, the current key is retired (still
// published for 15 minutes, kept for 24 hours), and a new next key is
// created. With no key file yet, keys are created and rotated once. A
// running Issuer on that directory notices the change within a second.
//
// If the discovery document and keys are hosted as static files (Export),
// export and upload again after each rotation, so the new next key is
// published before the following rotation makes it sign.
func RotateKeys(keyDir string, now time.Time) error {
	path := filepath.Join(keyDir, KeyFileName)
	f, _, err := readIssuerKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(keyDir, 0o700); err != nil {
			return fmt.Errorf("mint: %w", err)
		}
		f, err = initialIssuerKeys(now, nil)
	}
	if err != nil {
		return err
	}
	f, err = rotateIssuerKeys(f, now, nil)
	if err != nil {
		return err
	}
	return writeIssuerKeyFile(path, f)
}

func readIssuerKeyFile(path string) (*issuerKeyFile, os.FileInfo, error) {
	b, fi, err := privatefile.Read(path, 1<<20)
	if err != nil {
		return nil, nil, err
	}
	var f issuerKeyFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, nil, fmt.Errorf("mint: %s: %w", path, err)
	}
	if _, err := newIssuerKeys(&f); err != nil {
		return nil, nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return &f, fi, nil
}

// writeIssuerKeyFile writes f to path atomically with mode 0600.
func writeIssuerKeyFile(path string, f *issuerKeyFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := privatefile.Write(path, append(b, '\n')); err != nil {
		return fmt.Errorf("mint: %w", err)
	}
	return nil
}
