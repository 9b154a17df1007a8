package config

import (
	"log/slog"
	"time"
)

// File is the whole gatehouse configuration file. Each section belongs to
// one step of the pipeline; later sections (authz, creds, targets, audit)
// join it as those steps arrive.
//
// A File from Parse, Load or Default has its defaults applied and has passed
// Validate. A File built in Go should go through ApplyDefaults and Validate
// before use.
type File struct {
	// AuthN says which token issuers are trusted.
	AuthN AuthN `yaml:"authn"`
	// AuthZ says what callers may do: roles, rules, agents and Cedar files.
	AuthZ AuthZ `yaml:"authz,omitempty"`
	// Creds says how roles become short-lived AWS credentials.
	Creds Creds `yaml:"creds,omitempty"`
	// Gateway says which routes reach which targets.
	Gateway Gateway `yaml:"gateway,omitempty"`
	// Audit says where the audit trail goes.
	Audit Audit `yaml:"audit,omitempty"`
	// Secrets says how secret references are read and kept fresh.
	Secrets Secrets `yaml:"secrets,omitempty"`
	// Revocation says where revocations are kept, if anywhere.
	Revocation Revocation `yaml:"revocation,omitempty"`
	// Telemetry says where traces go; off by default.
	Telemetry Telemetry `yaml:"telemetry,omitempty"`
	// Dev configures `gatehouse dev`; `gatehouse serve` ignores it.
	Dev Dev `yaml:"dev,omitempty"`
}

// AuthN is the `authn:` section: who may call, as proven by which tokens.
type AuthN struct {
	// MaxTokenBytes bounds the size of a bearer token; 0 means 16384.
	// Allowed: 1024 to 1048576.
	MaxTokenBytes int `yaml:"max_token_bytes"`
	// CacheEntries bounds the verified-token cache; 0 means 10000, -1
	// disables the cache.
	CacheEntries int `yaml:"cache_entries"`
	// Issuers are the trusted issuers; at least one is required.
	Issuers []Issuer `yaml:"issuers"`
}

// Issuer types, the values of Issuer.Type.
const (
	IssuerEntra = "entra" // Microsoft Entra ID: configured by Issuer.Entra
	IssuerOIDC  = "oidc"  // any OpenID Connect provider: configured by Issuer.Issuer and Issuer.Claims
)

// AuthorityDev is the Entra authority that names the development IdP that
// `gatehouse dev` runs (dev.idp); its URL is known only once it listens.
const AuthorityDev = "dev"

// Multi-tenant values of Entra.Tenant. With either, Entra.Tenants lists the
// accepted tenants.
const (
	TenantOrganizations = "organizations" // any work or school tenant
	TenantCommon        = "common"        // as organizations; Entra also admits personal accounts here
)

// AuthorityMicrosoft is the public-cloud Entra authority, whose v1.0 tokens
// carry the issuer https://sts.windows.net/{tenantid}/.
const AuthorityMicrosoft = "https://login.microsoftonline.com"

// Issuer is one trusted token issuer (`authn.issuers[]`). Type chooses which
// of Entra or Issuer/Claims describes it.
type Issuer struct {
	// Name identifies the issuer in logs, errors and the audit trail:
	// required, unique, of a-z, 0-9 and '-'.
	Name string `yaml:"name"`
	// Type is IssuerEntra or IssuerOIDC; required.
	Type string `yaml:"type"`
	// Entra describes an Entra ID issuer: required for type entra, nil
	// otherwise.
	Entra *Entra `yaml:"entra,omitempty"`
	// Issuer is the exact `iss` of a type oidc issuer: an https URL without
	// query or fragment. Required for oidc, empty for entra (whose issuers
	// follow from Entra.Authority and Entra.Tenant).
	Issuer string `yaml:"issuer,omitempty"`
	// DiscoveryURL is where the OpenID configuration is fetched (https);
	// "" means the issuer's /.well-known/openid-configuration.
	DiscoveryURL string `yaml:"discovery_url,omitempty"`
	// JWKSURL, when set (https), is where keys are fetched, skipping discovery.
	JWKSURL string `yaml:"jwks_url,omitempty"`
	// Audiences are the accepted `aud` values (an API's client id, its App
	// ID URI); at least one is required.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the JWS algorithm allow-list; empty means [RS256].
	// Allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA.
	Algorithms []string `yaml:"algorithms"`
	// Types, when set, is the allow-list of the `typ` header; empty means
	// no check.
	Types []string `yaml:"types,omitempty"`
	// AllowedApps, when set, is the allow-list of calling client ids
	// (azp/appid); empty means any client.
	AllowedApps []string `yaml:"allowed_apps,omitempty"`
	// Claims names the claims of a type oidc issuer; empty fields mean the
	// verifier's defaults. Must be empty for entra.
	Claims Claims `yaml:"claims,omitempty"`
	// Leeway is the clock skew allowed on exp, nbf and iat; 0 means 60s.
	// At most 5m.
	Leeway time.Duration `yaml:"leeway"`
	// MaxLifetime rejects tokens whose exp-iat exceeds it; 0 means 24h.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// RefreshInterval is how often keys are refreshed; 0 means 1h.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MinRefreshInterval is the least time between two key fetches for
	// the issuer, whatever requests cause them (unknown key ids, a failed
	// fetch): forged tokens cannot make gatehouse hammer the IdP. 0 means
	// 5m; at least 10s; at most RefreshInterval.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// MaxKeyAge is how long keys keep serving while their endpoint fails;
	// 0 means 24h. At least RefreshInterval.
	MaxKeyAge time.Duration `yaml:"max_key_age"`
	// CAFile is a PEM file of extra CAs trusted for this issuer's HTTPS
	// endpoints; "" means the system roots. It is a path only: neither
	// Parse nor Validate reads it.
	CAFile string `yaml:"ca_file,omitempty"`
}

// Entra describes a Microsoft Entra ID issuer (`entra:` of an issuer).
type Entra struct {
	// Authority is AuthorityDev (the development IdP of `gatehouse dev`) or
	// an https URL without path, such as AuthorityMicrosoft; required.
	Authority string `yaml:"authority"`
	// Tenant is a tenant GUID (one tenant), or TenantOrganizations or
	// TenantCommon (several tenants, listed in Tenants); required.
	Tenant string `yaml:"tenant"`
	// Tenants is the tenant GUID allow-list of a multi-tenant issuer;
	// ["*"] allows any tenant. Required when Tenant is multi-tenant, empty
	// otherwise.
	Tenants []string `yaml:"tenants,omitempty"`
	// Versions are the accepted token versions, a subset of "1.0" and
	// "2.0"; empty means ["2.0"].
	Versions []string `yaml:"versions"`
	// V1Issuer is the `iss` template of version 1.0 tokens, with
	// "{tenantid}" standing for the token's tenant. Used only when Versions
	// includes "1.0". "" means https://sts.windows.net/{tenantid}/ for
	// AuthorityMicrosoft, {authority}/{tenantid}/ for another https
	// authority, and for AuthorityDev the development IdP's URL +
	// "/{tenantid}/", which the CLI fills in once it listens.
	V1Issuer string `yaml:"v1_issuer,omitempty"`
}

// MultiTenant reports whether e accepts tokens of several tenants
// (Tenant is TenantOrganizations or TenantCommon).
func (e *Entra) MultiTenant() bool {
	return e.Tenant == TenantOrganizations || e.Tenant == TenantCommon
}

// Claims names the claims a type oidc issuer puts its facts in. An empty
// field means the verifier's default (given after each).
type Claims struct {
	Subject string `yaml:"subject,omitempty"` // "sub"
	Tenant  string `yaml:"tenant,omitempty"`  // none
	App     string `yaml:"app,omitempty"`     // "azp", then "client_id"
	Groups  string `yaml:"groups,omitempty"`  // "groups"
	Roles   string `yaml:"roles,omitempty"`   // "roles"
	Scopes  string `yaml:"scopes,omitempty"`  // "scope", then "scp"
}

// Dev is the `dev:` section, used by `gatehouse dev` only.
type Dev struct {
	// StateDir holds signing keys and data across restarts; "" means the
	// default under the user's state directory, which the CLI resolves.
	StateDir string `yaml:"state_dir,omitempty"`
	// IDP is the development identity provider.
	IDP IDP `yaml:"idp"`
	// STS is the local STS.
	STS DevSTS `yaml:"sts,omitempty"`
	// Lambda is the local Lambda host.
	Lambda DevLambda `yaml:"lambda,omitempty"`
	// Gateway is where the development gateway listens: it serves
	// gatehouse's own issuer; "" means 127.0.0.1:9480.
	Gateway string `yaml:"gateway,omitempty"`
	// Upstream is where the development HTTP upstream listens (the target
	// of routes whose upstream url is "dev"); "" means 127.0.0.1:9446.
	Upstream string `yaml:"upstream,omitempty"`
	// KeyVault is the local Azure Key Vault.
	KeyVault DevKeyVault `yaml:"keyvault,omitempty"`
}

// IDP configures the development Entra-compatible identity provider and its
// directory.
type IDP struct {
	// Listen is the host:port to listen on; "" means 127.0.0.1:9443. The
	// host must be localhost or a loopback address; port 0 picks a free port.
	Listen string `yaml:"listen"`
	// TLS serves https (with a certificate the CLI creates); nil means true,
	// as MSAL accepts only https authorities. Read it with TLSEnabled.
	TLS *bool `yaml:"tls"`
	// TokenLifetime is the lifetime of issued tokens; 0 means 1h. Allowed:
	// 5m to 24h.
	TokenLifetime time.Duration `yaml:"token_lifetime"`
	// Tenants are the directories the IdP serves.
	Tenants []Tenant `yaml:"tenants,omitempty"`
}

// TLSEnabled reports whether the IdP serves https: TLS, nil meaning true.
func (i *IDP) TLSEnabled() bool { return i.TLS == nil || *i.TLS }

// Tenant is one development directory (`dev.idp.tenants[]`). Object ids are
// unique across its groups, users and apps.
type Tenant struct {
	// ID is the tenant GUID (`tid`); required, unique.
	ID string `yaml:"id"`
	// Domain is a verified domain accepted in URLs in place of the GUID,
	// such as contoso.example; "" means none.
	Domain string  `yaml:"domain,omitempty"`
	Groups []Group `yaml:"groups,omitempty"`
	Users  []User  `yaml:"users,omitempty"`
	Apps   []App   `yaml:"apps,omitempty"`
}

// Group is a security group.
type Group struct {
	ID   string `yaml:"id"`   // object id GUID; required, unique in the tenant
	Name string `yaml:"name"` // display name; required, unique in the tenant
}

// User is a development user who signs in with a password.
type User struct {
	// ID is the object id GUID (`oid`); required, unique in the tenant.
	ID string `yaml:"id"`
	// UPN is the user principal name (`upn`, `preferred_username`), such as
	// alice@contoso.example; required, unique.
	UPN string `yaml:"upn"`
	// Name is the display name (`name`); "" means none.
	Name string `yaml:"name,omitempty"`
	// Password is for the development IdP's sign-in only; required.
	Password Secret `yaml:"password"`
	// Groups are the user's groups, each a group name or id of the tenant.
	Groups []string `yaml:"groups,omitempty"`
	// AppRoles maps a resource app (name or client id) to the app role
	// values assigned to the user; each must be a role of that app with
	// member type User.
	AppRoles map[string][]string `yaml:"app_roles,omitempty"`
}

// App is an app registration and its service principal in the tenant.
type App struct {
	// Name is the short name used in this file and by `gatehouse token
	// --app`; required, unique, of a-z, 0-9 and '-'.
	Name string `yaml:"name"`
	// ClientID is the application (client) id GUID: `aud` of version 2.0
	// tokens for this API, `azp`/`appid` of its calls; required, unique.
	ClientID string `yaml:"client_id"`
	// ObjectID is the service principal's object id GUID (`oid` of its
	// app-only tokens); required, unique in the tenant.
	ObjectID string `yaml:"object_id"`
	// AppIDURI identifies the API, such as api://gatehouse-api; "" means
	// "api://" + ClientID.
	AppIDURI string `yaml:"app_id_uri,omitempty"`
	// Secrets are client secrets.
	Secrets []Secret `yaml:"secrets,omitempty"`
	// Certificates are PEM certificates accepted for client assertions.
	Certificates []string `yaml:"certificates,omitempty"`
	// PublicClient allows public-client flows (no secret), as for a CLI.
	PublicClient bool `yaml:"public_client,omitempty"`
	// RedirectURIs are the accepted redirect URIs: absolute https URLs, or
	// http for localhost and loopback addresses.
	RedirectURIs []string `yaml:"redirect_uris,omitempty"`
	// Scopes are the delegated permissions this API exposes (bare names
	// such as access_as_user).
	Scopes []string `yaml:"scopes,omitempty"`
	// AppRoles are the app roles this API defines.
	AppRoles []AppRole `yaml:"app_roles,omitempty"`
	// AccessTokenVersion is the version of access tokens issued for this
	// API: 1 or 2; 0 means 2.
	AccessTokenVersion int `yaml:"access_token_version"`
	// GroupClaims puts the user's groups in tokens issued for this API.
	GroupClaims bool `yaml:"group_claims,omitempty"`
	// GroupOverageLimit is the number of groups above which tokens carry
	// the overage indicator instead of `groups`; 0 means Entra's 200.
	GroupOverageLimit int `yaml:"group_overage_limit"`
	// Permissions are what this app may request from APIs of the tenant,
	// consent already granted.
	Permissions []Permission `yaml:"permissions,omitempty"`
}

// AppRole is an app role an API defines.
type AppRole struct {
	// Value is the role as it appears in the `roles` claim; required.
	Value string `yaml:"value"`
	// MemberTypes says who may be assigned the role: "User",
	// "Application" or both; required.
	MemberTypes []string `yaml:"member_types"`
}

// Member types of an AppRole.
const (
	MemberUser        = "User"
	MemberApplication = "Application"
)

// Permission grants an app delegated scopes and application roles on a
// resource API of the same tenant.
type Permission struct {
	// Resource is the API's app name or client id; required.
	Resource string `yaml:"resource"`
	// Scopes are delegated permissions: scopes the resource defines.
	Scopes []string `yaml:"scopes,omitempty"`
	// Roles are application permissions: app roles of the resource with
	// member type Application.
	Roles []string `yaml:"roles,omitempty"`
}

// Secret is a password or client secret. It is written out by Marshal (the
// development configuration is meant to be read), but never logged.
type Secret string

// LogValue implements slog.LogValuer: a Secret logs as "REDACTED".
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }
