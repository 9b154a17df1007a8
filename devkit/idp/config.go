package idp

import (
	"io"
	"log/slog"
	"time"
)

// Config configures the development identity provider. The directory
// (tenants, users, groups, app registrations) is data from the gatehouse
// configuration file; nothing here is ever read from a request.
type Config struct {
	// BaseURL is the scheme://host[:port] clients reach the IdP at, without a
	// trailing slash. The v2.0 issuer of tenant T is BaseURL + "/" + T + "/v2.0",
	// the v1.0 issuer BaseURL + "/" + T + "/".
	BaseURL string
	Tenants []Tenant
	// KeyDir holds the signing keys (created on first start, 0600); "" keeps
	// keys in memory only, for tests.
	KeyDir string
	// TokenLifetime is the access and ID token lifetime; 0 means 1 h.
	TokenLifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for keys, codes and ids; nil means crypto/rand.
	Rand io.Reader
	// Logger; nil means slog.Default(). Secrets and tokens are never logged.
	Logger *slog.Logger
}

// Tenant is one directory.
type Tenant struct {
	ID     string // tenant GUID (`tid`)
	Domain string // verified domain, accepted in paths instead of the GUID (e.g. contoso.example)
	Users  []User
	Groups []Group
	Apps   []App
}

// User is a development user. Passwords exist only for the password grant of
// the development IdP.
type User struct {
	ObjectID          string // `oid`
	UserPrincipalName string // `upn` / `preferred_username`
	DisplayName       string // `name`
	Password          string
	Groups            []string            // group object ids or display names
	AppRoles          map[string][]string // resource app (name or client id) -> role values assigned
}

// Group is a security group.
type Group struct {
	ObjectID    string
	DisplayName string
}

// App is an app registration with its service principal in the tenant.
type App struct {
	Name     string // short name used in the configuration and CLI (`--app`)
	ClientID string // application (client) id GUID: `aud` of v2 tokens, `azp`/`appid` of callers
	ObjectID string // service principal object id: `oid` of app-only tokens
	AppIDURI string // e.g. api://gatehouse-dev; "" means "api://" + ClientID
	// Secrets are client secrets; an app with none and no certificates is a
	// public client, which must not send a credential (AADSTS700025).
	Secrets []string
	// Certificates are PEM certificates accepted for client assertions (private_key_jwt).
	Certificates []string
	// PublicClient lets an app that has credentials also use the user flows
	// (password, authorization code, refresh) without presenting one, as
	// Entra's "allow public client flows". Public flows need PKCE at authorize.
	PublicClient bool
	RedirectURIs []string
	// Scopes are the delegated permissions this API exposes (bare names, e.g. access_as_user).
	Scopes []string
	// AppRoles are the roles this API defines.
	AppRoles []AppRole
	// AccessTokenVersion is the version of access tokens issued FOR this API: 1 or 2 (0 means 2).
	AccessTokenVersion int
	// GroupClaims puts the user's groups in tokens for this API.
	GroupClaims bool
	// GroupOverageLimit is the number of groups above which `groups` is
	// replaced by the overage pointers; 0 means Entra's 200.
	GroupOverageLimit int
	// Permissions are what this client app may request from other APIs.
	Permissions []Permission
}

// AppRole is an app role defined by an API.
type AppRole struct {
	Value string
	// MemberTypes: "User", "Application" or both; none means both.
	MemberTypes []string
}

// Permission grants a client app delegated scopes and application roles on a
// resource API (admin consent already given, as in a configured tenant).
type Permission struct {
	Resource string   // resource app name or client id
	Scopes   []string // delegated scopes
	Roles    []string // application permissions (app roles with member type Application)
}
