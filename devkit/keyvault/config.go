package keyvault

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Resource is what Key Vault's challenge names and its tokens are for: the
// App ID URI of the Azure Key Vault application.
const Resource = "https://vault.azure.net"

// AppID is the application (client) id of Azure Key Vault, the `aud` of a
// version 2.0 token for it. A development IdP that registers Key Vault
// (App ID URI Resource) should use it as the client id.
const AppID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"

// Config configures the vault. Everything in it is data from the gatehouse
// configuration; nothing here is ever read from a request.
type Config struct {
	// VaultURL is the https://host[:port] clients use, without a path: the
	// prefix of every secret and key identifier.
	VaultURL string
	// Authority is the IdP's scheme://host[:port], without a path (the dev
	// IdP's BaseURL). The challenge names Authority + "/" + Tenant, and the
	// SDK takes the tenant from the first path segment.
	Authority string
	// Tenant is the vault's tenant GUID: the tenant of the challenge (the
	// client's credential must be for the same tenant) and the only `tid`
	// accepted.
	Tenant string
	// Verifier, when set, verifies tokens instead of the one New builds
	// from Authority and Tenant; it must check the audience (Resource or
	// AppID) and tenant itself.
	Verifier *authn.Verifier
	// HTTPClient fetches the IdP's discovery documents and keys when New
	// builds the verifier (for the dev IdP: one trusting the development
	// CA); nil means a client with a 10 s timeout and the system roots.
	HTTPClient *http.Client
	// Access lists the vault's access policies.
	Access []Access
	// StateFile keeps secrets and keys across restarts (JSON, written
	// atomically with mode 0600); "" keeps them in memory only.
	StateFile string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one record per change and per refusal; nil means
	// slog.Default(). Secret values, key material and tokens are never logged.
	Logger *slog.Logger
}

// Access is a vault access policy: the permissions of one principal.
type Access struct {
	// ObjectID is the object id of a user, group or service principal: the
	// `oid` of its tokens, or for a group an entry of their `groups`.
	ObjectID string
	// Secrets are secret permissions: get, list, set, delete, recover,
	// purge (backup and restore are accepted, for operations this vault
	// does not serve), or all. Case-insensitive, as in Azure.
	Secrets []string
	// Keys are key permissions: get, list, create, update, delete, sign,
	// verify, rotate, recover, purge (and Azure's others: import, backup,
	// restore, encrypt, decrypt, wrapKey, unwrapKey, release,
	// getrotationpolicy, setrotationpolicy), or all.
	Keys []string
}
