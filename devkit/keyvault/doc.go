// Package keyvault is a development double of the Azure Key Vault data
// plane that the Azure SDK for Go's azsecrets and azkeys clients call
// unchanged (apart from the options a real client also has for a vault
// outside vault.azure.net: DisableChallengeResourceVerification, and a
// transport trusting the local CA), authenticating with azidentity against
// the development IdP (devkit/idp). It speaks Key Vault's REST API, JSON
// bodies, identifiers and error codes, and enforces vault access policies,
// so the local loop exercises the same protocol and rules as Azure.
//
// In: a Config naming the vault URL clients use, the IdP authority and the
// vault's tenant (for the challenge and for verifying tokens), the access
// policies (object id -> secret and key permissions) and an optional state
// file. New validates all of it once, every problem reported together, and
// loads the state file.
//
// Out: an http.Handler serving, with api-version 7.4, 7.5, 7.6, 2025-07-01
// or 2026-04-01 (the versions whose wire format for these operations is the
// same; the pinned SDK clients send 2026-04-01; any other version is
// refused with 400 BadParameter, as Key Vault does):
//
//	PUT    /secrets/{name}                       set: a new version
//	GET    /secrets/{name}[/{version}]           get ("" = the current version)
//	PATCH  /secrets/{name}[/{version}]           update attributes, content type, tags
//	DELETE /secrets/{name}                       soft delete
//	GET    /secrets, /secrets/{name}/versions    list (maxresults 1-25, nextLink)
//	GET    /deletedsecrets[/{name}]              deleted secrets
//	POST   /deletedsecrets/{name}/recover        recover
//	DELETE /deletedsecrets/{name}                purge
//	POST   /keys/{name}/create                   RSA 2048/3072/4096, EC P-256/P-384/P-521
//	GET    /keys/{name}[/{version}]              the public JWK (never private parts)
//	PATCH  /keys/{name}[/{version}]              update key_ops, attributes, tags
//	POST   /keys/{name}/rotate                   a new version like the current one
//	POST   /keys/{name}[/{version}]/sign         RS256-512, PS256-512, ES256-512 over a digest
//	POST   /keys/{name}[/{version}]/verify
//	DELETE /keys/{name}, GET /keys, /keys/{name}/versions, /deletedkeys[/{name}],
//	POST   /deletedkeys/{name}/recover, DELETE /deletedkeys/{name}
//
// plus SetSecret and CreateKey, which seed the vault without the wire.
//
// Authentication is Key Vault's: a request without a bearer token gets 401
// with `WWW-Authenticate: Bearer authorization="{Authority}/{Tenant}",
// resource="https://vault.azure.net"` (the SDK's challenge policy reads
// `authorization` for the tenant and `resource` for the scope, then asks
// for https://vault.azure.net/.default and sends the request again). Tokens
// are verified with gatehouse/authn: RS256 signature by the IdP's keys, the
// tenant's v1.0 issuer ({Authority}/{Tenant}/, the dev IdP's stand-in for
// https://sts.windows.net/{tid}/) or v2.0 issuer, and an audience Key Vault
// accepts: https://vault.azure.net (with or without a trailing slash, what
// a v1.0 token requested with that resource carries) or Key Vault's
// application id cfa8b339-82a2-471a-a3c9-0fc0be7a4093 (`aud` of a v2.0
// token). Failures answer 401 Unauthorized with Key Vault's JSON body
// (AKV10000 missing token, AKV10022 audience, AKV10032 issuer, AKV10046
// signing key).
//
// Authorization is the legacy vault access policy model: an Access entry
// for the token's `oid` (or for a group in its `groups` claim, which the
// dev IdP adds when the Key Vault app registration has group claims on)
// grants secret and key permissions; anything else is 403 Forbidden with
// innererror AccessDenied, checked before the object is looked up, as Key
// Vault does.
//
// Behaviour follows Key Vault's documentation where it is specific: names
// are 1-127 of [0-9A-Za-z-] and case-insensitive; versions are 32 hex
// digits; secret values are at most 25 KiB; up to 15 tags; deleted objects
// are kept 90 days (recoveryLevel Recoverable+Purgeable) and their names
// cannot be reused until recovered or purged; a disabled version refuses
// get, sign and verify (403 Forbidden, "Operation get is not allowed on a
// disabled secret."); the current version is the newest one, disabled or
// not. Secrets outside their nbf/exp window are still returned by get, as
// Key Vault documents ("date-time controlled operations"); keys outside it
// refuse sign (403) but still verify.
//
// State lives in memory, or with Config.StateFile in a JSON file rewritten
// atomically with mode 0600 after every change (secret values and private
// keys in PKCS#8 are in it, unencrypted: it is a development file), so a
// restart keeps secrets and keys. Values, key material and tokens are never
// logged; request bodies are bounded.
//
// Left to others: certificates, encrypt/decrypt/wrap/unwrap, import,
// backup/restore, release, rotation policies, random bytes, oct and HSM key
// types, RBAC, network rules and Managed HSM (answered 501 NotImplemented
// or 400 BadParameter, never pretended). TLS is the caller's (wrap Handler
// in an https server; devkit/devca makes a local CA). It is a development
// tool: keep it on loopback.
package keyvault
