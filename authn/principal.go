package authn

import (
	"slices"
	"time"
)

// Kind says whether a token speaks for a person or for an application.
type Kind string

const (
	KindUser Kind = "user" // delegated token: a user, through a client app
	KindApp  Kind = "app"  // app-only token (client credentials)
)

// Actor is one party acting for the subject, from an RFC 8693 `act` claim
// (outermost first) or, for Entra delegated tokens, the calling client app.
type Actor struct {
	Subject string `json:"sub"`
	Issuer  string `json:"iss,omitempty"`
	App     string `json:"app,omitempty"` // client id, when the actor is known as an app
	// Via says where the actor was read: ActorViaAct (an RFC 8693 `act`
	// claim) or ActorViaClient (the client of a delegated token, which is
	// how Entra on-behalf-of tokens name the middle tier).
	Via string `json:"via"`
}

// Values of Actor.Via.
const (
	ActorViaAct    = "act"
	ActorViaClient = "client"
)

// Principal is the verified identity behind a token, normalised across Entra
// v1.0, v2.0 and generic OpenID Connect tokens. Identity is (Issuer, Tenant,
// Subject); display claims (name, upn, email) are never promoted to fields.
//
// A Principal returned by the Verifier may be shared between requests through
// the verified-token cache: treat it as read-only.
type Principal struct {
	// IssuerName is the configured name of the issuer that vouched for it.
	IssuerName string `json:"issuer_name"`
	Issuer     string `json:"issuer"`
	// Subject is the immutable id: Entra `oid` where present, else `sub`.
	Subject string `json:"subject"`
	// Tenant is Entra's `tid` (or the configured tenant claim); empty if none.
	Tenant string `json:"tenant,omitempty"`
	Kind   Kind   `json:"kind"`
	// App is the calling client's id: `azp`, `appid` or `client_id`.
	App string `json:"app,omitempty"`
	// Groups are group object ids. When GroupsOverage is true the issuer left
	// them out (Entra group overage): membership is unknown, not empty.
	Groups        []string `json:"groups,omitempty"`
	GroupsOverage bool     `json:"groups_overage,omitempty"`
	Roles         []string `json:"roles,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	// Actors is who acts for the subject, current actor first: the RFC 8693
	// `act` chain if present, else (for delegated tokens) the calling app.
	Actors       []Actor   `json:"actors,omitempty"`
	TokenID      string    `json:"token_id,omitempty"` // jti, or Entra's uti
	TokenVersion string    `json:"token_version,omitempty"`
	IssuedAt     time.Time `json:"issued_at,omitzero"`
	NotBefore    time.Time `json:"not_before,omitzero"`
	Expiry       time.Time `json:"expiry"`
	// Claims are all verified claims of the token, as decoded JSON.
	Claims map[string]any `json:"claims,omitempty"`
}

// Agent returns the subject of the current actor, or "" when nobody acts
// for the subject.
func (p *Principal) Agent() string {
	if len(p.Actors) == 0 {
		return ""
	}
	if p.Actors[0].App != "" {
		return p.Actors[0].App
	}
	return p.Actors[0].Subject
}

// HasScope reports whether the delegated scope s was granted.
func (p *Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }

// HasRole reports whether the app role r was granted.
func (p *Principal) HasRole(r string) bool { return slices.Contains(p.Roles, r) }

// InGroup reports whether the principal is known to be in group id g. It is
// false when membership is unknown (GroupsOverage): callers that must tell
// "not in group" from "unknown" check GroupsOverage first.
func (p *Principal) InGroup(g string) bool { return slices.Contains(p.Groups, g) }
