package mint

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// AssertionLifetime is the longest an identity assertion lives: it is only
// ever sent to an upstream along with the one request it describes.
const AssertionLifetime = 5 * time.Minute

const (
	// assertionReuseMargin: a cached assertion is handed out again only
	// while it has more than this much life left, so an upstream that
	// checks exp with a little clock skew still accepts it.
	assertionReuseMargin = 60 // seconds
	// assertionCacheEntries bounds the assertion cache.
	assertionCacheEntries = 10_000
	// assertionKeyBuffer is the stack space for a cache key; longer keys
	// (long role or scope lists) spill to the heap.
	assertionKeyBuffer = 1024
)

// Errors Assertion returns for a principal it cannot vouch for.
var (
	// ErrNoPrincipal: Assertion was called without a principal.
	ErrNoPrincipal = errors.New("mint: no principal")
	// ErrPrincipalExpired: the principal's token has expired (or expires
	// within the second): an assertion never outlives the token it vouches
	// for.
	ErrPrincipalExpired = errors.New("mint: the principal's token has expired")
)

// assertionClaims is the payload of an identity assertion, in a fixed
// order. Identity is (iss, sub) of the caller's issuer — idp and sub — or
// (tid, sub) for Entra; display claims are never carried.
type assertionClaims struct {
	Issuer    string    `json:"iss"`
	Audience  string    `json:"aud"`
	Subject   string    `json:"sub"`
	Tenant    string    `json:"tid,omitempty"`
	IdP       string    `json:"idp"`
	Kind      string    `json:"kind"`
	App       string    `json:"azp,omitempty"`
	Roles     []string  `json:"roles,omitempty"`
	Scopes    string    `json:"scp,omitempty"`
	Role      string    `json:"gatehouse_role"`
	Actor     *actClaim `json:"act,omitempty"`
	IssuedAt  int64     `json:"iat"`
	NotBefore int64     `json:"nbf"`
	Expiry    int64     `json:"exp"`
	ID        string    `json:"jti"`
}

// actClaim is an RFC 8693 §4.1 actor: the current actor outermost, the one
// it acts for nested inside.
type actClaim struct {
	Subject  string    `json:"sub"`
	ClientID string    `json:"client_id,omitempty"`
	Actor    *actClaim `json:"act,omitempty"`
}

// Assertion returns a short-lived JWT, signed with the issuer's current key
// (RS256, kid, typ "JWT"), that tells an HTTP upstream who is calling:
//
//   - iss the issuer URL, aud the upstream's audience;
//   - sub p.Subject, tid p.Tenant (omitted if empty), idp p.Issuer, kind
//     p.Kind, azp p.App (omitted if empty);
//   - roles the token's app roles p.Roles and scp the space-joined p.Scopes
//     (each omitted if empty), gatehouse_role the logical role granted;
//   - act the RFC 8693 actor chain of p.Actors, current actor outermost
//     ({"sub": ..., "act": {...}}; an actor known as an app is
//     {"sub": App, "client_id": App}), omitted when nobody acts for p;
//   - iat and nbf now, exp now + AssertionLifetime but never past
//     p.Expiry, and a random jti.
//
// It carries no name, upn, email or other display claim, whatever
// p.Claims holds. It refuses (ErrPrincipalExpired) when p.Expiry is not
// after now.
//
// Assertions are cached (at most 10,000, process-wide) under everything
// their content derives from: the issuer URL and signing key, the
// principal's issuer, subject, tenant, kind, app, roles, scopes, actors,
// token id and expiry, the audience and the role. A cached assertion is
// returned again while it has more than 60 s left — so an upstream sees the
// same jti on several requests of one token — and a new one is signed after
// a key rotation. Principals without a token id are never cached. A hit
// takes no lock but a read lock and allocates nothing; concurrent misses
// for one key share one signature.
func (i *Issuer) Assertion(p *authn.Principal, audience, role string, now time.Time) (string, error) {
	if p == nil {
		return "", ErrNoPrincipal
	}
	if audience == "" {
		return "", errors.New("mint: assertion: no audience")
	}
	nowUnix := now.Unix()
	if !p.Expiry.After(now) || p.Expiry.Unix() <= nowUnix {
		return "", ErrPrincipalExpired
	}
	k := i.snapshot().current
	if p.TokenID == "" {
		e, err := i.signAssertion(k, p, audience, role, now)
		if err != nil {
			return "", err
		}
		return e.token, nil
	}
	var buf [assertionKeyBuffer]byte
	key := appendAssertionKey(buf[:0], i.url, k.kid, p, audience, role)
	if e := assertions.get(key, nowUnix); e != nil {
		return e.token, nil
	}
	return i.assertionMiss(string(key), k, p, audience, role, now)
}

// assertionMiss signs an assertion for key, sharing the signature with
// concurrent misses for the same key, and caches it.
func (i *Issuer) assertionMiss(key string, k *issuerKey, p *authn.Principal, audience, role string, now time.Time) (string, error) {
	nowUnix := now.Unix()
	v, err, _ := assertionFlights.Do(key, func() (any, error) {
		// A flight that finished just before this one started may have
		// filled the entry.
		if e := assertions.get([]byte(key), nowUnix); e != nil {
			return e, nil
		}
		e, err := i.signAssertion(k, p, audience, role, now)
		if err != nil {
			return nil, err
		}
		if e.usable(nowUnix) {
			assertions.put(key, e, nowUnix)
		}
		return e, nil
	})
	if err != nil {
		return "", err
	}
	e := v.(*cachedAssertion)
	// Callers that joined the flight with another clock reading still get
	// an assertion valid for them; otherwise they sign their own.
	if e.exp <= nowUnix {
		e, err = i.signAssertion(k, p, audience, role, now)
		if err != nil {
			return "", err
		}
	}
	return e.token, nil
}

// signAssertion builds and signs the assertion's claims with k.
func (i *Issuer) signAssertion(k *issuerKey, p *authn.Principal, audience, role string, now time.Time) (*cachedAssertion, error) {
	if p.Subject == "" {
		return nil, errors.New("mint: assertion: the principal has no subject")
	}
	if err := assertionUTF8(p, audience, role); err != nil {
		return nil, err
	}
	var id [16]byte
	if _, err := io.ReadFull(i.rand, id[:]); err != nil {
		return nil, fmt.Errorf("mint: assertion id: %w", err)
	}
	c := assertionClaims{
		Issuer:    i.url,
		Audience:  audience,
		Subject:   p.Subject,
		Tenant:    p.Tenant,
		IdP:       p.Issuer,
		Kind:      string(p.Kind),
		App:       p.App,
		Roles:     p.Roles,
		Scopes:    strings.Join(p.Scopes, " "),
		Role:      role,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    min(now.Add(AssertionLifetime).Unix(), p.Expiry.Unix()),
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
	}
	for j := len(p.Actors) - 1; j >= 0; j-- {
		a := p.Actors[j]
		act := &actClaim{Subject: a.Subject, Actor: c.Actor}
		if a.App != "" {
			act.Subject, act.ClientID = a.App, a.App
		}
		if act.Subject == "" {
			return nil, errors.New("mint: assertion: an actor has neither subject nor app")
		}
		c.Actor = act
	}
	tok, err := signJWT(k, c)
	if err != nil {
		return nil, err
	}
	return &cachedAssertion{token: tok, iat: c.IssuedAt, exp: c.Expiry}, nil
}

// assertionUTF8 refuses strings that JSON encoding would silently alter
// (invalid UTF-8 becomes U+FFFD), so two identities never share a claim.
func assertionUTF8(p *authn.Principal, audience, role string) error {
	ok := utf8.ValidString(p.Subject) && utf8.ValidString(p.Tenant) && utf8.ValidString(p.Issuer) &&
		utf8.ValidString(string(p.Kind)) && utf8.ValidString(p.App) && utf8.ValidString(audience) && utf8.ValidString(role)
	for _, s := range p.Roles {
		ok = ok && utf8.ValidString(s)
	}
	for _, s := range p.Scopes {
		ok = ok && utf8.ValidString(s)
	}
	for _, a := range p.Actors {
		ok = ok && utf8.ValidString(a.Subject) && utf8.ValidString(a.App)
	}
	if !ok {
		return errors.New("mint: assertion: the principal, audience or role is not valid UTF-8")
	}
	return nil
}

// signJWT signs claims as a compact JWS, for minted web-identity tokens and
// assertions alike: RS256 or ES256 (as k's key is RSA or P-256) with k,
// header {"alg","kid","typ":"JWT"}. k may sign through a vault.
func signJWT(k *issuerKey, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	header, _ := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg, k.kid, "JWT"})
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signing))
	sig, err := k.signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("mint: sign token: %w", err)
	}
	if k.alg == "ES256" {
		// crypto.Signer returns ASN.1 DER; JWS wants r || s (RFC 7518 §3.4).
		if sig, err = ecdsaRaw(sig); err != nil {
			return "", fmt.Errorf("mint: sign token: %w", err)
		}
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// ecdsaRaw turns an ASN.1 DER ECDSA P-256 signature into the 64 bytes of
// r || s.
func ecdsaRaw(der []byte) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 256 || s.BitLen() > 256 {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// appendAssertionKey appends the cache key of an assertion: every input
// its content derives from, each length-prefixed so no field's content can
// shift a boundary. The issuer URL and the signing key's thumbprint make
// the cache safe to share between Issuers, and a rotation start afresh.
func appendAssertionKey(dst []byte, issuerURL, kid string, p *authn.Principal, audience, role string) []byte {
	dst = appendKeyField(dst, issuerURL)
	dst = appendKeyField(dst, kid)
	dst = appendKeyField(dst, audience)
	dst = appendKeyField(dst, role)
	dst = appendKeyField(dst, p.Issuer)
	dst = appendKeyField(dst, p.Tenant)
	dst = appendKeyField(dst, p.Subject)
	dst = appendKeyField(dst, p.TokenID)
	dst = appendKeyField(dst, string(p.Kind))
	dst = appendKeyField(dst, p.App)
	dst = binary.AppendVarint(dst, p.Expiry.Unix())
	dst = binary.AppendUvarint(dst, uint64(len(p.Roles)))
	for _, s := range p.Roles {
		dst = appendKeyField(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Scopes)))
	for _, s := range p.Scopes {
		dst = appendKeyField(dst, s)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.Actors)))
	for _, a := range p.Actors {
		dst = appendKeyField(dst, a.Subject)
		dst = appendKeyField(dst, a.App)
	}
	return dst
}

func appendKeyField(dst []byte, s string) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(s))), s...)
}

// The process-wide assertion cache and its in-flight signatures. Sharing
// is safe because the key holds the issuer URL and the signing key's
// thumbprint: equal keys mean byte-for-byte interchangeable assertions.
var (
	assertions       = newAssertionCache(assertionCacheEntries)
	assertionFlights singleflight.Group
)

// cachedAssertion is one signed assertion; fixed once made.
type cachedAssertion struct {
	token    string
	iat, exp int64 // unix seconds
}

// usable reports whether the assertion may be handed out at now: not
// before its iat, and with more than assertionReuseMargin left.
func (e *cachedAssertion) usable(now int64) bool {
	return e.iat <= now && e.exp-now > assertionReuseMargin
}

// assertionCache is a bounded map of assertions. When it is full, entries
// no longer usable are dropped, then arbitrary ones down to 7/8 of the
// bound, so the sweep's cost spreads over many insertions.
type assertionCache struct {
	mu  sync.RWMutex
	max int
	m   map[string]*cachedAssertion
}

func newAssertionCache(max int) *assertionCache {
	return &assertionCache{max: max, m: make(map[string]*cachedAssertion)}
}

// get returns the assertion cached under key if it is usable at now, else
// nil.
func (c *assertionCache) get(key []byte, now int64) *cachedAssertion {
	c.mu.RLock()
	e := c.m[string(key)]
	c.mu.RUnlock()
	if e == nil || !e.usable(now) {
		return nil
	}
	return e
}

func (c *assertionCache) put(key string, e *cachedAssertion, now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k, old := range c.m {
			if !old.usable(now) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max-c.max/8 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = e
}

func (c *assertionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
