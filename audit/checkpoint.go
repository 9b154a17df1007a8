package audit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Checkpoint is a signed statement by a writer: "my chain Chain had, at
// sequence number Seq, the event whose hash is Hash". Verify uses
// checkpoints to anchor a chain whose older events retention has deleted,
// to detect deleted newest events, and to tell a recorder's chain from one
// forged by someone without the key.
//
// A Recorder writes one at Seq 0 (Hash "") before a chain's first event,
// one every Config.CheckpointEvery events or CheckpointInterval, and a final
// one (Final true) when it closes: no event may follow a final checkpoint.
type Checkpoint struct {
	Chain string
	Seq   int64
	Hash  string
	Time  time.Time // when it was made; not before any event it covers
	Final bool
	KeyID string // KeyID of the signing key
	Sig   []byte // signature over SignedBytes()
}

type checkpointJSON struct {
	Chain string `json:"chain"`
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
	Time  string `json:"time"`
	Final bool   `json:"final,omitempty"`
	KeyID string `json:"key_id"`
	Sig   []byte `json:"sig,omitempty"`
}

func (cp *Checkpoint) wire() checkpointJSON {
	return checkpointJSON{Chain: cp.Chain, Seq: cp.Seq, Hash: cp.Hash, Time: FormatTime(cp.Time), Final: cp.Final, KeyID: cp.KeyID, Sig: cp.Sig}
}

// MarshalJSON encodes the checkpoint with its signature (base64).
func (cp Checkpoint) MarshalJSON() ([]byte, error) { return json.Marshal(cp.wire()) }

// UnmarshalJSON decodes a checkpoint strictly.
func (cp *Checkpoint) UnmarshalJSON(data []byte) error {
	var w checkpointJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	t, err := time.Parse(TimeLayout, w.Time)
	if err != nil {
		return fmt.Errorf("audit: checkpoint time: %w", err)
	}
	*cp = Checkpoint{Chain: w.Chain, Seq: w.Seq, Hash: w.Hash, Time: t, Final: w.Final, KeyID: w.KeyID, Sig: w.Sig}
	return nil
}

const checkpointDomain = "gatehouse-audit-checkpoint-v1\n"

// SignedBytes returns what the signature covers:
// "gatehouse-audit-checkpoint-v1\n" followed by the checkpoint's JSON
// without "sig".
func (cp *Checkpoint) SignedBytes() []byte {
	w := cp.wire()
	w.Sig = nil
	b, _ := json.Marshal(w) // strings, integers and a bool: cannot fail
	return append([]byte(checkpointDomain), b...)
}

// KeyID names a public key: unpadded base64url of the SHA-256 of its PKIX
// (SubjectPublicKeyInfo) DER encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("audit: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// ParseSigningKey reads a checkpoint signing key: a PKCS#8 PEM private
// key, Ed25519, ECDSA or RSA. Its errors never contain the key.
func ParseSigningKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("audit: signing key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("audit: signing key: not a PKCS#8 private key")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("audit: signing key: not a signing key")
	}
	if _, err := checkSigner(s); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSigner returns the signer's key id, or an error if its key type is
// not one checkpoints can use.
func checkSigner(s crypto.Signer) (string, error) {
	switch s.Public().(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return "", fmt.Errorf("audit: checkpoint signer has a %T; want Ed25519, ECDSA or RSA", s.Public())
	}
	return KeyID(s.Public())
}

// RotatingSigner is a checkpoint signer whose key can change while the
// recorder runs (a key kept in a vault, rotated there): each checkpoint is
// signed with Current's key and names that key.
type RotatingSigner interface {
	crypto.Signer
	// Current returns the signer of the key in use now.
	Current() crypto.Signer
}

// sign sets cp.KeyID and cp.Sig. Ed25519 signs SignedBytes itself; ECDSA
// (ASN.1 signature) and RSA (PKCS #1 v1.5) sign its SHA-256.
func (cp *Checkpoint) sign(s crypto.Signer, keyID string) error {
	cp.KeyID = keyID
	msg := cp.SignedBytes()
	var err error
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		cp.Sig, err = s.Sign(rand.Reader, msg, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(msg)
		cp.Sig, err = s.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return fmt.Errorf("audit: signing checkpoint: %w", err)
	}
	return nil
}

// keySet maps key ids to public keys. pub is nil (no keys: signatures are
// not checked), one crypto.PublicKey, or a []crypto.PublicKey (old and new
// keys after a rotation).
type keySet map[string]crypto.PublicKey

func newKeySet(pub crypto.PublicKey) (keySet, error) {
	if pub == nil {
		return nil, nil
	}
	list, ok := pub.([]crypto.PublicKey)
	if !ok {
		list = []crypto.PublicKey{pub}
	}
	ks := keySet{}
	for _, k := range list {
		if sig, ok := k.(crypto.Signer); ok { // a private key was passed: use its public half
			k = sig.Public()
		}
		switch k.(type) {
		case ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey:
		default:
			return nil, fmt.Errorf("audit: verification key is a %T; want Ed25519, ECDSA or RSA", k)
		}
		id, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		ks[id] = k
	}
	if len(ks) == 0 {
		return nil, errors.New("audit: empty verification key list")
	}
	return ks, nil
}

// verify checks cp's signature with the key its KeyID names.
func (ks keySet) verify(cp *Checkpoint) error {
	pub, ok := ks[cp.KeyID]
	if !ok {
		return fmt.Errorf("signed by key %q, not a given key", cp.KeyID)
	}
	msg := cp.SignedBytes()
	sum := sha256.Sum256(msg)
	var good bool
	switch k := pub.(type) {
	case ed25519.PublicKey:
		good = ed25519.Verify(k, msg, cp.Sig)
	case *ecdsa.PublicKey:
		good = ecdsa.VerifyASN1(k, sum[:], cp.Sig)
	case *rsa.PublicKey:
		good = rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], cp.Sig) == nil
	}
	if !good {
		return errors.New("bad signature")
	}
	return nil
}
