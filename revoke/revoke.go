// Package revoke ends access before tokens expire: revocations of a user,
// an app or agent, or one token, kept in PostgreSQL and fanned out to every
// replica with LISTEN/NOTIFY.
//
// Why PostgreSQL: the audit trail of a multi-replica deployment is already
// there, so revocation adds no moving part; a revocation is durable (a
// row) and ordered; NOTIFY reaches every listening replica in
// milliseconds, inside the transaction's commit. Each replica holds the
// active revocations in memory (a small set: revocations expire with the
// longest token lifetime) and checks every request against it — after
// authn and before any cache answers for the caller, so a cached token,
// decision, assertion or credential cannot outlive a revocation.
//
// When the store cannot be reached, a replica knows its set may be stale.
// Within Config.MaxStaleness it keeps checking against what it has; past
// it, OnStale decides: refuse every request (fail closed, the default) or
// keep serving with the last set.
package revoke

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Kind is what a revocation names.
type Kind string

// Kinds.
const (
	User  Kind = "user"  // a user or service principal: tenant and object id (or sub)
	App   Kind = "app"   // an app or agent: its client id, as caller or as actor
	Token Kind = "token" // one token: its uti or jti
)

// Revocation is one entry: Kind and Value (with Tenant for users) say
// whom; Expires when the entry lapses (no token it refuses lives longer).
type Revocation struct {
	ID      int64     `json:"id"`
	Kind    Kind      `json:"kind"`
	Tenant  string    `json:"tenant,omitempty"`
	Value   string    `json:"value"`
	Reason  string    `json:"reason"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

var (
	valueRE  = regexp.MustCompile(`^[A-Za-z0-9._:@/+=-]{1,256}$`)
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9.-]{0,128}$`)
)

// Check says what is wrong with r before it is stored.
func (r *Revocation) Check(now time.Time) error {
	switch r.Kind {
	case User, App, Token:
	default:
		return fmt.Errorf("revoke: kind %q: want user, app or token", r.Kind)
	}
	if !valueRE.MatchString(r.Value) {
		return errors.New("revoke: the value must be 1 to 256 characters of letters, digits and ._:@/+=-")
	}
	if !tenantRE.MatchString(r.Tenant) {
		return errors.New("revoke: malformed tenant")
	}
	if r.Kind != User && r.Tenant != "" {
		return errors.New("revoke: only a user revocation names a tenant")
	}
	if strings.TrimSpace(r.Reason) == "" || len(r.Reason) > 1000 {
		return errors.New("revoke: a reason (at most 1000 characters) is required")
	}
	if !r.Expires.After(now) {
		return errors.New("revoke: the revocation would already have expired")
	}
	return nil
}

// ErrRevoked is the error of a request whose caller is revoked: a 401
// invalid_token whose check is "revoked".
func errRevoked(what string) error {
	return &authn.Error{Kind: authn.InvalidToken, Check: CheckRevoked, Reason: "the " + what + " has been revoked"}
}

// CheckRevoked is the authn check a revoked caller fails.
const CheckRevoked = "revoked"

// ErrStale refuses requests when the revocation set could not be brought
// up to date within Config.MaxStaleness and OnStale is FailClosed.
var ErrStale = &authn.Error{Kind: authn.Unavailable, Check: CheckRevoked, Reason: "revocations cannot be checked right now"}

// set is an immutable snapshot of the active revocations, indexed.
type set struct {
	users  map[string]time.Time // tenant + "\x00" + subject
	apps   map[string]time.Time
	tokens map[string]time.Time
}

func newSet(rs []Revocation) *set {
	s := &set{users: map[string]time.Time{}, apps: map[string]time.Time{}, tokens: map[string]time.Time{}}
	for _, r := range rs {
		var m map[string]time.Time
		key := r.Value
		switch r.Kind {
		case User:
			m, key = s.users, r.Tenant+"\x00"+r.Value
		case App:
			m = s.apps
		case Token:
			m = s.tokens
		default:
			continue
		}
		if r.Expires.After(m[key]) {
			m[key] = r.Expires
		}
	}
	return s
}

// match returns what of p is revoked at now ("" if nothing): the user, the
// calling app, an agent in its actor chain, or the token.
func (s *set) match(p *authn.Principal, now time.Time) string {
	live := func(m map[string]time.Time, k string) bool {
		exp, ok := m[k]
		return ok && now.Before(exp)
	}
	switch {
	case len(s.users) > 0 && live(s.users, p.Tenant+"\x00"+p.Subject):
		return "caller"
	case p.TokenID != "" && live(s.tokens, p.TokenID):
		return "token"
	case p.App != "" && live(s.apps, p.App):
		return "calling app"
	}
	for _, a := range p.Actors {
		if a.App != "" && live(s.apps, a.App) {
			return "acting agent"
		}
		if a.Subject != "" && len(s.users) > 0 && live(s.users, p.Tenant+"\x00"+a.Subject) {
			return "acting agent"
		}
	}
	return ""
}
