// Package idp is a development OpenID provider that speaks Microsoft Entra
// ID's dialect closely enough that real clients accept it unchanged (its
// tests drive MSAL for Go, golang.org/x/oauth2, coreos/go-oidc and a headless
// Chromium), so the local loop exercises the same protocols as the cloud.
//
// In: a Config holding the directory (tenants with users, groups and app
// registrations, as data from the gatehouse configuration file), the base
// URL clients reach the server at, and a key directory. New validates the
// directory once (unique ids, every group, app and permission reference
// resolvable, certificates parseable; all problems reported together) and
// loads or creates the signing keys.
//
// Out: an http.Handler serving, per tenant (GUID or domain in the first path
// segment, case-insensitive):
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration   v2.0 discovery (issuer BaseURL/{tid}/v2.0)
//	GET  /{tenant}/.well-known/openid-configuration        v1.0 discovery (issuer BaseURL/{tid}/)
//	GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys   JWKS
//	POST /{tenant}/oauth2/v2.0/token                       client_credentials, password,
//	                                                       authorization_code (+PKCE S256),
//	                                                       refresh_token, on-behalf-of
//	GET, POST /{tenant}/oauth2/v2.0/authorize              sign-in page (pick a user; no password)
//	GET  /common/UserRealm/{username}                      what MSAL's password grant asks first
//	GET  /common/discovery/instance                        MSAL instance discovery for this host
//
// Tokens carry the claims Entra issues for the resource's access-token
// version (v1.0 or v2.0), errors carry Entra's JSON body and AADSTS codes.
//
// Keys: RSA 2048 with self-signed certificates, kid = base64url SHA-1
// thumbprint, in states next (published), current (signing) and retired
// (published until its tokens expire). RotateKeys rotates the file in
// KeyDir; a running Server stats that file at most once a second and picks
// up the change. Codes, refresh tokens and assertion ids live in memory.
//
// Left to others: this package does not verify tokens for resources (that is
// authn), does not serve TLS (wrap Handler in an https server; devkit/devca
// makes a local CA for it), and has no consent screens, MFA, device code,
// logout, userinfo or multi-tenant (`common`) authorities. It is a
// development tool: anyone who reaches the sign-in page can sign in as any
// listed user.
package idp
