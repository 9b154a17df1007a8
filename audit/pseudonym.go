package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
)

// MinKeyBytes is the shortest pseudonymisation key NewPseudonymizer accepts.
const MinKeyBytes = 32

// PseudonymPrefix starts every pseudonym; it names the construction, so a
// later one can be told apart.
const PseudonymPrefix = "p1:"

// KeyIDPrefix starts every pseudonym key id (Pseudonymizer.KeyID); it names
// the construction.
const KeyIDPrefix = "k1:"

// keyIDMessage is what a key id is the HMAC of. Every pseudonym's HMAC input
// holds a zero byte (tenant, 0x00, subject) and this message holds none, so
// no (tenant, subject) pair gives a pseudonym equal to a key id.
const keyIDMessage = "gatehouse audit pseudonym key id"

// keyIDChars is how many base64url characters of the HMAC a key id keeps:
// 96 bits, so two keys of one deployment never share an id by chance.
const keyIDChars = 16

// Pseudonymizer turns a (tenant, subject) pair into a stable pseudonym with a
// secret key: the same person always gets the same pseudonym under one key,
// so their events can be found by whoever holds the key, while the stored
// value says nothing about who they are. Without the key a pseudonym can be
// neither reversed nor computed from a guessed subject.
//
// It is safe for concurrent use.
type Pseudonymizer struct {
	key []byte
	id  string
}

// NewPseudonymizer returns a Pseudonymizer keyed with a copy of key, which
// must hold at least MinKeyBytes bytes (32 random bytes is right).
func NewPseudonymizer(key []byte) (*Pseudonymizer, error) {
	if len(key) < MinKeyBytes {
		return nil, errors.New("audit: pseudonymisation key shorter than 32 bytes")
	}
	p := &Pseudonymizer{key: append([]byte(nil), key...)}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(keyIDMessage))
	p.id = KeyIDPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))[:keyIDChars]
	return p, nil
}

// KeyID names the key, as events record it (Event.PseudonymKey): "k1:"
// followed by the first 16 characters (96 bits) of the unpadded base64url
// HMAC-SHA-256 under the key of "gatehouse audit pseudonym key id". It is
// stable for a key and says nothing about it: like a pseudonym, it can be
// computed only by whoever holds the key.
func (p *Pseudonymizer) KeyID() string { return p.id }

// Principal returns the pseudonym of subject (Entra `oid`, else `sub`) in
// tenant (Entra `tid`, "" if none): "p1:" followed by the unpadded base64url
// HMAC-SHA-256 under the key of tenant, a zero byte, and subject.
func (p *Pseudonymizer) Principal(tenant, subject string) string {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(tenant))
	m.Write([]byte{0})
	m.Write([]byte(subject))
	return PseudonymPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// LogValue keeps the key out of logs.
func (p *Pseudonymizer) LogValue() slog.Value { return slog.StringValue("REDACTED") }
