package invoke

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
)

// Error is a failure to run the target, with the status the caller gets.
// The gateway maps it to a response once (gateway/errors.go): Status and
// Reason to the caller, Err to the log and the audit trail only.
type Error struct {
	// Status is 502 (the target failed or is misconfigured), 504 (it timed
	// out), 429 (it is throttled), 413 (the request is too large), 408 (its
	// body stopped arriving), 400 (the request cannot be turned into an
	// event) or StatusClientClosedRequest (the caller went away first).
	Status int
	// Code names the failure for programs and the audit trail: one of the
	// Code* constants.
	Code string
	// Reason is safe to show the caller: it never carries a stack trace,
	// the function's error message, credentials or internal addresses.
	Reason string
	// RetryAfter is the number of seconds the caller should wait before
	// retrying (Retry-After), for 429; 0 means unspecified.
	RetryAfter int
	// Err is the full cause, for the log only: the function's error type,
	// message and stack trace, the AWS error code and message, the function
	// name or ARN.
	Err error
}

// StatusClientClosedRequest is the status recorded when the caller's
// context ended before the target answered (nginx's 499): nobody reads the
// response, but the audit trail should not call it a target failure.
const StatusClientClosedRequest = 499

// Values of Error.Code.
const (
	CodeFunctionError       = "function_error"         // 502: the function failed (X-Amz-Function-Error)
	CodeFunctionTimeout     = "function_timeout"       // 504: the function ran past its timeout
	CodeTimeout             = "timeout"                // 504: the client-side bound (LambdaConfig.Timeout) passed
	CodeThrottled           = "throttled"              // 429: Lambda throttled the call (TooManyRequestsException)
	CodeRequestTooLarge     = "request_too_large"      // 413: the body, or the event built from it, is over the limit
	CodeRequestTimeout      = "request_timeout"        // 408: the request body stopped arriving (the server's read timeout)
	CodeBadRequest          = "bad_request"            // 400: the request cannot be expressed as an event
	CodeBadResponse         = "bad_function_response"  // 502: the function's answer is not a valid HTTP API response
	CodeTargetAccessDenied  = "target_access_denied"   // 403: IAM (or the local host) refused the granted role
	CodeTargetNotFound      = "target_not_found"       // 502: no such function, alias or version
	CodeTargetRejected      = "target_rejected"        // 502: Lambda refused the call's parameters
	CodeTargetUnavailable   = "target_unavailable"     // 502: Lambda failed, or its environment is misconfigured
	CodeTargetUnreachable   = "target_unreachable"     // 502: no answer from the endpoint
	CodeClientClosedRequest = "client_closed_request"  // 499: the caller went away
	CodeCredentialsRejected = "target_credentials_bad" // 502: the signature or session token was refused (expired, unknown)
)

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invoke: ")
	b.WriteString(e.Code)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	} else if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// isTimeout reports whether err is a deadline passing (the server's read
// timeout on the request body), not the caller going away.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func newError(status int, code, reason string, err error) *Error {
	return &Error{Status: status, Code: code, Reason: reason, Err: err}
}

// FunctionError is the error document a function's runtime reported (the
// body of a Lambda response with X-Amz-Function-Error). It travels in
// Error.Err, for the log only: the caller never sees it.
type FunctionError struct {
	Function string // the function name or ARN invoked
	Kind     string // X-Amz-Function-Error: "Unhandled" (or legacy "Handled")
	Type     string // errorType, e.g. "errorString", "Runtime.ExitError", "Sandbox.Timedout"
	Message  string // errorMessage
	// StackTrace is the runtime's stackTrace, as JSON text, if any.
	StackTrace string
}

func (e *FunctionError) Error() string {
	msg := fmt.Sprintf("function %s: %s", e.Function, e.Kind)
	if e.Type != "" {
		msg += ": " + e.Type
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// LogValue gives the log every field, the stack trace included.
func (e *FunctionError) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("function", e.Function),
		slog.String("kind", e.Kind),
		slog.String("type", e.Type),
		slog.String("message", e.Message),
		slog.String("stack_trace", e.StackTrace),
	)
}

// isTimeout reports whether the function error is a Lambda timeout, as real
// Lambda and the local host report it ("Task timed out after 3.00
// seconds", errorType Sandbox.Timedout).
func (e *FunctionError) isTimeout() bool {
	return e.Type == "Sandbox.Timedout" || strings.Contains(e.Message, "Task timed out")
}
