// Package mint is gatehouse's own OpenID issuer: it mints the web-identity
// tokens AWS STS trusts in broker mode and the identity assertions HTTP
// upstreams trust, and serves its discovery document and keys.
//
// In: a Config (the issuer URL, the key directory, the clock and
// randomness). Per call: a WebIdentity for Mint (audience, subject, source
// identity and session tags, all decided by the caller); for Assertion, the
// verified *authn.Principal, the upstream's audience and the role granted.
//
// Out: compact JWS tokens, RS256 with the current key (kid, typ "JWT"),
// iss the issuer URL. Web-identity tokens live at most 5 minutes. An
// assertion carries the subject, tenant, issuer, kind, app, app roles,
// scopes, actor chain and role, never a name, UPN or email; it lives at
// most AssertionLifetime and never past the caller's token
// (ErrPrincipalExpired), and is cached per token, audience and role, since
// an RSA signature costs about a millisecond. Handler serves the discovery
// document and JWKS at the issuer URL's path; Export writes them as static
// files.
//
// Keys: RSA-2048 in <KeyDir>/issuer-signing-keys.json (0600), created on
// first use, re-read within a second when it changes. A next key is always
// published ahead of signing; RotateKeys (or Issuer.Rotate) makes it
// current and retires the old one, which stays published for 15 minutes.
//
// Left to others: what a web-identity token says and calling STS with it
// (creds), validating the caller's token (authn), deciding the role
// (authz), sending the assertion to the upstream (invoke), mounting Handler
// where AWS and upstreams fetch it (the gateway's listener) or hosting the
// exported files, and registering the IAM OIDC provider.
package mint
