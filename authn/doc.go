// Package authn answers "who is calling?": it turns a bearer access token into
// a verified *Principal, or an *Error naming the check that failed.
//
// In: a compact JWS string (see BearerToken for taking it from a request) and
// a Config listing the trusted issuers. Out: a Principal normalised across
// Microsoft Entra ID v1.0/v2.0 and generic OpenID Connect tokens: subject
// (`oid`, else `sub`), tenant, kind (user or app), calling app, groups (with
// Entra group overage surfaced, never read as "no groups"), app roles,
// scopes, and the actor chain.
//
// Every token gets every check: strict compact-JWS parsing (three segments,
// canonical base64url, JSON without duplicate or case-variant names, no
// jku/x5u/jwk/x5c/zip/b64/crit), the issuer's algorithm allow-list tied to the
// key type, a key from the issuer's own JWKS only (discovery, cache, refresh
// on schedule and on unknown kid, single-flight and at most one fetch per
// MinRefreshInterval, stale keys served up to MaxKeyAge then Unavailable;
// optionally seeded at start from a build-time snapshot, FetchSnapshot),
// signature, iss (exact or Entra {tenantid} template with tenant
// allow-list), aud, exp, nbf, iat, lifetime, typ, token version and
// calling-app allow-list.
//
// A failure's Error.Reason, which callers see, names the check and the rule
// but never a value from the token or the request; details go to Error.Err,
// for the log.
//
// A key fetch that a verification causes is traced (a "jwks fetch" span)
// when the verification's context carries a recording OpenTelemetry span;
// otherwise nothing is traced.
//
// Left to others: what the principal may do (authz), credentials (creds).
// Signature arithmetic is golang-jwt's and the standard library's; JWK
// parsing is go-jose's; JSON is read with a strict decoder.
package authn
