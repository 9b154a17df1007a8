package authn

import (
	"errors"
	"fmt"
)

// ErrorKind is the RFC 6750 class of a verification failure, plus the one
// class RFC 6750 has no word for: the verifier could not decide because the
// issuer's keys are unavailable.
type ErrorKind string

const (
	// InvalidRequest: the request carries no usable token (missing, several
	// of them, malformed Authorization header). HTTP 400, or 401 when absent.
	InvalidRequest ErrorKind = "invalid_request"
	// InvalidToken: the token is malformed, badly signed, expired, or not
	// meant for us. HTTP 401.
	InvalidToken ErrorKind = "invalid_token"
	// InsufficientScope: the token is valid but lacks what the resource
	// needs. HTTP 403. The verifier itself never returns it; authorization does.
	InsufficientScope ErrorKind = "insufficient_scope"
	// Unavailable: the token could not be checked because its issuer's keys
	// could not be fetched for longer than the configured maximum key age.
	// HTTP 503: never a guess either way.
	Unavailable ErrorKind = "temporarily_unavailable"
)

// Error is a verification failure. Kind and Check are for branching, Reason is
// safe to show the caller (it never contains token contents, key material or
// internal addresses), Err is the full cause for the log and audit trail only.
//
// Reason names the check and the rule, never a value: it is built from
// constants and configuration alone, so a hostile token cannot choose any
// of its bytes (gateway and lambdaauth send Check + ": " + Reason as the
// RFC 6750 error_description). It is plain printable ASCII without quotes
// or backslashes, so the WWW-Authenticate header carries it unchanged.
type Error struct {
	Kind   ErrorKind
	Check  string // which rule failed: "format", "alg", "kid", "signature", "iss", "aud", "exp", ...
	Reason string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("authn: %s check failed: %s: %v", e.Check, e.Reason, e.Err)
	}
	return fmt.Sprintf("authn: %s check failed: %s", e.Check, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Check names used in Error.Check. They are part of the audit schema.
const (
	CheckRequest   = "request"   // bearer extraction
	CheckSize      = "size"      // token larger than the limit
	CheckFormat    = "format"    // compact JWS structure, base64url, JSON
	CheckHeader    = "header"    // forbidden or unknown header parameters
	CheckCrit      = "crit"      // unknown critical header parameters
	CheckTyp       = "typ"       // typ header policy
	CheckIssuer    = "iss"       // issuer unknown or mismatched
	CheckAlg       = "alg"       // algorithm not allowed for the issuer or key
	CheckKid       = "kid"       // no key with that id
	CheckKeys      = "keys"      // issuer keys unavailable (Unavailable)
	CheckSignature = "signature" // signature does not verify
	CheckAudience  = "aud"
	CheckExpiry    = "exp"
	CheckNotBefore = "nbf"
	CheckIssuedAt  = "iat"
	CheckLifetime  = "lifetime"
	CheckTenant    = "tid"
	CheckVersion   = "ver"
	CheckApp       = "azp"
	CheckClaims    = "claims" // a claim has the wrong type or shape
	CheckActor     = "act"
)

func fail(kind ErrorKind, check, reason string, cause error) *Error {
	return &Error{Kind: kind, Check: check, Reason: reason, Err: cause}
}

func invalid(check, reason string) *Error { return fail(InvalidToken, check, reason, nil) }

// clip quotes a value taken from a token or request for an Err (the log),
// cut to 64 bytes: a 16 KiB alg must not become a 16 KiB log line.
func clip(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

// AsError returns err as an *Error, or an InvalidToken error wrapping it.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fail(InvalidToken, CheckFormat, "token rejected", err)
}
