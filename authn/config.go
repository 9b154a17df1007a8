package authn

import (
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Verifier. Zero values mean the documented defaults.
type Config struct {
	Issuers []IssuerConfig
	// MaxTokenBytes bounds the size of a token; 0 means 16 KiB.
	MaxTokenBytes int
	// CacheEntries bounds the verified-token cache; 0 means 10000, negative
	// disables the cache.
	CacheEntries int
	// HTTPClient fetches discovery documents and JWKS; nil means a client
	// with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives key refresh events; nil means slog.Default(). Tokens
	// are never logged.
	Logger *slog.Logger
}

// Issuer types.
const (
	TypeEntra = "entra" // Microsoft Entra ID: tid/oid, v1/v2 shapes, tenant template
	TypeOIDC  = "oidc"  // any OpenID Connect issuer, claims named by ClaimNames
)

// IssuerConfig describes one trusted issuer. Each Entra token version is its
// own IssuerConfig (v1.0 and v2.0 tokens carry different `iss` values).
type IssuerConfig struct {
	// Name identifies the issuer in logs, errors and Principal.IssuerName.
	Name string
	// Type is TypeEntra or TypeOIDC; "" means TypeOIDC.
	Type string
	// Issuer is the exact expected `iss`. For Entra it may contain the
	// placeholder "{tenantid}", which is resolved against the token's `tid`
	// (then Tenants must be set).
	Issuer string
	// DiscoveryURL is where the OpenID configuration is fetched; "" means
	// Issuer + "/.well-known/openid-configuration" (not allowed for a
	// templated Issuer, which needs DiscoveryURL or JWKSURL).
	DiscoveryURL string
	// JWKSURL, when set, skips discovery.
	JWKSURL string
	// HTTPClient fetches this issuer's documents; nil means Config.HTTPClient
	// (for an issuer behind a private CA, such as the development IdP).
	HTTPClient *http.Client
	// Tenants is the tenant allow-list for a templated Entra issuer; "*"
	// allows any tenant. For a fixed Entra issuer, `tid` must equal the
	// tenant in Issuer and Tenants may be empty.
	Tenants []string
	// TokenVersion is the Entra `ver` this issuer accepts: "1.0" or "2.0";
	// "" means "2.0". Ignored for TypeOIDC.
	TokenVersion string
	// Audiences lists the accepted `aud` values (client-id GUID, App ID URI).
	// At least one is required.
	Audiences []string
	// Algorithms is the allow-list of JWS algorithms; nil means RS256 only.
	// Allowed values: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA.
	Algorithms []string
	// Types, when set, is the allow-list of the `typ` header (compared
	// case-insensitively, "application/" prefix optional); nil means no check.
	Types []string
	// AllowedApps, when set, restricts the calling client (azp/appid/client_id).
	AllowedApps []string
	// Claims names the claims of a TypeOIDC issuer; zero fields mean defaults.
	Claims ClaimNames
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means 60 s.
	Leeway time.Duration
	// MaxLifetime rejects tokens whose exp-iat exceeds it; 0 means 24 h
	// (Entra CAE tokens last up to 28 h: raise it for those).
	MaxLifetime time.Duration
	// RefreshInterval is how often keys are refreshed in the background of
	// requests; 0 means 1 h.
	RefreshInterval time.Duration
	// MinRefreshInterval rate-limits every fetch a request can cause
	// (first load, stale keys, the scheduled refresh, an unknown `kid`):
	// at most one starts per interval, failed or not. 0 means 5 min; less
	// than MinRefreshIntervalFloor is refused.
	MinRefreshInterval time.Duration
	// MaxKeyAge is how long keys keep serving after the last successful
	// fetch while the JWKS endpoint fails; past it, tokens get Unavailable.
	// 0 means 24 h.
	MaxKeyAge time.Duration
	// Snapshot, when set, is a key snapshot of this issuer (the JSON that
	// FetchSnapshot and `gatehouse jwks snapshot` write): the keys are
	// installed as if fetched at its fetched_at, so verification needs no
	// network at first; MaxKeyAge still counts from fetched_at, and the
	// first verification starts a background refresh. A snapshot of
	// another issuer, or with a key that fails the JWKS checks, makes
	// NewVerifier fail. See snapshot.go.
	Snapshot []byte
}

// MinRefreshIntervalFloor is the smallest IssuerConfig.MinRefreshInterval
// NewVerifier accepts. Tokens with made-up kids cost nothing to send, and
// each window lets one of them make every gatehouse instance fetch the
// issuer's keys: below this, a few instances would call the identity
// provider often enough to be throttled, and then lose their keys. Nothing
// legitimate needs faster: Entra rotates signing keys on a scale of weeks
// and, like other OpenID providers, publishes a new key in its JWKS well
// before signing with it, so the scheduled refresh has it first; the
// unknown-kid refresh is for an emergency rollover, where seconds do not
// matter.
const MinRefreshIntervalFloor = 10 * time.Second

// ClaimNames maps Principal fields to claim names for TypeOIDC issuers.
type ClaimNames struct {
	Subject string // default "sub"
	Tenant  string // default none
	App     string // default "azp", then "client_id"
	Groups  string // default "groups"
	Roles   string // default "roles"
	Scopes  string // default "scope", then "scp"
}
