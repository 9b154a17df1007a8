package idp

import (
	"crypto/sha256"
	"sync"
	"time"
)

const (
	codeLifetime    = 10 * time.Minute
	refreshLifetime = 24 * time.Hour
	// maxGrants bounds each in-memory table; past it new codes, refresh
	// tokens or assertions are refused until entries expire.
	maxGrants     = 100_000
	sweepInterval = time.Minute
)

// authCode is what an authorization code stands for.
type authCode struct {
	tenantID    string
	clientID    string // lower-case
	redirectURI string
	userOID     string
	scope       string // the authorize request's scope
	nonce       string
	challenge   string // S256 code challenge; "" when the client sent none
	expires     time.Time
	used        bool
}

// refreshGrant is what a refresh token stands for.
type refreshGrant struct {
	tenantID string
	clientID string // lower-case
	userOID  string
	scope    string
	expires  time.Time
}

// grantStore keeps codes, refresh tokens and client-assertion ids, keyed by
// a SHA-256 of the secret value so the raw codes and tokens are not kept.
type grantStore struct {
	mu        sync.Mutex
	codes     map[[32]byte]*authCode
	refresh   map[[32]byte]*refreshGrant
	jtis      map[[32]byte]time.Time // client id + jti -> assertion expiry
	lastSweep time.Time
}

func newGrantStore() *grantStore {
	g := &grantStore{}
	g.clear()
	return g
}

func (g *grantStore) clear() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.codes = map[[32]byte]*authCode{}
	g.refresh = map[[32]byte]*refreshGrant{}
	g.jtis = map[[32]byte]time.Time{}
}

func hashKey(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// sweep drops expired entries, at most once per sweepInterval. Used codes
// are kept until they expire so that a second redemption is recognised.
func (g *grantStore) sweep(now time.Time) {
	if now.Sub(g.lastSweep) < sweepInterval && !now.Before(g.lastSweep) {
		return
	}
	g.lastSweep = now
	for k, c := range g.codes {
		if !now.Before(c.expires) {
			delete(g.codes, k)
		}
	}
	for k, r := range g.refresh {
		if !now.Before(r.expires) {
			delete(g.refresh, k)
		}
	}
	for k, exp := range g.jtis {
		if now.After(exp) {
			delete(g.jtis, k)
		}
	}
}

func errFull() *oauthError {
	return newError(errTemporarilyUnavailable, 90033, "A transient error has occurred: too many outstanding grants. Please try again later.")
}

func (g *grantStore) putCode(code string, c *authCode, now time.Time) *oauthError {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if len(g.codes) >= maxGrants {
		return errFull()
	}
	g.codes[hashKey(code)] = c
	return nil
}

// redeemCode returns the code's grant and marks it used. A code is refused
// when unknown, expired, issued to another client or already used (54005).
// A mismatched client does not use up the code.
func (g *grantStore) redeemCode(code, clientID string, now time.Time) (authCode, *oauthError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.codes[hashKey(code)]
	switch {
	case c == nil || !now.Before(c.expires):
		return authCode{}, newError(errInvalidGrant, 70008, "The provided authorization code or refresh token has expired due to inactivity or was revoked. Send a new interactive authorization request for this user and resource.")
	case c.clientID != clientID:
		return authCode{}, newError(errInvalidGrant, 70000, "The provided authorization code was issued to another client.")
	case c.used:
		return authCode{}, newError(errInvalidGrant, 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	}
	c.used = true
	return *c, nil
}

func (g *grantStore) putRefresh(token string, r *refreshGrant, now time.Time) *oauthError {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if len(g.refresh) >= maxGrants {
		return errFull()
	}
	g.refresh[hashKey(token)] = r
	return nil
}

// takeRefresh returns the refresh token's grant and revokes the token: a
// refresh token is good for one use (the response carries its successor).
// check runs first; when it refuses, the token stays valid.
func (g *grantStore) takeRefresh(token, clientID string, now time.Time, check func(refreshGrant) *oauthError) (refreshGrant, *oauthError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := hashKey(token)
	r := g.refresh[k]
	switch {
	case r == nil || !now.Before(r.expires):
		return refreshGrant{}, newError(errInvalidGrant, 70008, "The provided authorization code or refresh token has expired due to inactivity or was revoked.")
	case r.clientID != clientID:
		return refreshGrant{}, newError(errInvalidGrant, 70000, "The provided refresh token was issued to another client.")
	}
	if e := check(*r); e != nil {
		return refreshGrant{}, e
	}
	delete(g.refresh, k)
	return *r, nil
}

// seeAssertion records a client assertion's jti until the assertion expires
// and reports whether it was new (RFC 7523 §3: reject replays).
func (g *grantStore) seeAssertion(clientID, jti string, exp, now time.Time) (bool, *oauthError) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	k := hashKey(clientID, jti)
	if seen, ok := g.jtis[k]; ok && !now.After(seen) {
		return false, nil
	}
	if len(g.jtis) >= maxGrants {
		return false, errFull()
	}
	g.jtis[k] = exp
	return true, nil
}
