package creds

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/smithy-go"
)

// Error is a failure to obtain credentials for a role that the caller can
// act on: Status is 403 when STS refused the role (never retried; Reason
// names the role) and 503 when STS throttled or could not be reached (retry
// after RetryAfter). Reason is safe to show the caller (it never contains
// token contents, keys or internal addresses); Err is the full cause, for
// the log and the audit trail only.
type Error struct {
	Status     int // http.StatusForbidden or http.StatusServiceUnavailable
	Role       string
	Code       string // STS error code ("AccessDenied", "Throttling", ...); "" for network failures and calls skipped while backing off
	Reason     string
	RetryAfter time.Duration // set when Status is 503
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("creds: role %q: %s: %v", e.Role, e.Reason, e.Err)
	}
	return fmt.Sprintf("creds: role %q: %s", e.Role, e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Errors that are the caller's or the configuration's fault, not a
// principal's: the gateway answers them as internal errors.
var (
	// ErrSessionName: Request.SessionName is not a valid RoleSessionName.
	ErrSessionName = errors.New("creds: invalid session name")
	// ErrUnknownRole: the request names a role the Config does not define.
	ErrUnknownRole = errors.New("creds: unknown role")
	// ErrNoToken: a web_identity role was asked for without the caller's token.
	ErrNoToken = errors.New("creds: web_identity role needs the caller's token")
	// ErrNoPrincipal: the request has no principal.
	ErrNoPrincipal = errors.New("creds: no principal")
)

// errBackoff is the cause of a 503 given without calling STS, because
// calls for this mode are backing off after STS failed.
var errBackoff = errors.New("creds: STS calls paused after failures")

// transientCodes are STS error codes that say "not now" rather than "no":
// throttling, the IdP's keys unreachable from STS, and server faults.
var transientCodes = map[string]bool{
	"Throttling":                true,
	"ThrottlingException":       true,
	"ThrottledException":        true,
	"RequestThrottled":          true,
	"RequestThrottledException": true,
	"RequestLimitExceeded":      true,
	"TooManyRequestsException":  true,
	"SlowDown":                  true,
	"PriorRequestNotComplete":   true,
	"IDPCommunicationError":     true,
	"ServiceUnavailable":        true,
	"InternalFailure":           true,
	"InternalError":             true,
}

// classify maps an error from the STS client to an *Error. API errors with
// a transient code or a 5xx status, and failures with no API error at all
// (network, timeout, unreadable response), are 503; every other API error
// is STS saying no to this role and principal: 403.
func classify(role string, err error) *Error {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		var status interface{ HTTPStatusCode() int }
		if transientCodes[code] || errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
			return &Error{Status: http.StatusServiceUnavailable, Role: role, Code: code,
				Reason: "AWS STS is unavailable, retry later", Err: err}
		}
		reason := fmt.Sprintf("role %q refused the session (%s)", role, code)
		if code == "AccessDenied" {
			reason = fmt.Sprintf("role %q refused the session: its trust policy does not allow this principal", role)
		}
		return &Error{Status: http.StatusForbidden, Role: role, Code: code, Reason: reason, Err: err}
	}
	return &Error{Status: http.StatusServiceUnavailable, Role: role,
		Reason: "AWS credentials are unavailable, retry later", Err: err}
}
