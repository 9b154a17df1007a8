package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal of an invocation in Lambda's terms: Invoke returns it,
// and the Invoke API answers it with its status, an X-Amzn-ErrorType header
// and Lambda's JSON body, which the AWS SDKs parse into their typed errors.
// Function failures (errors, timeouts, crashes) are not Errors: they are a
// Result with FunctionError set, as Lambda answers them.
type Error struct {
	// Code is Lambda's error code, one of the Code* constants.
	Code string
	// Status is the HTTP status Lambda answers Code with.
	Status int
	// Message is safe to show the caller: it never holds a payload,
	// credential or local path.
	Message string
	// Reason is TooManyRequestsException's reason; "" for other codes.
	Reason string
	// Err is the cause, for the log only; may be nil.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("runtime: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("runtime: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Lambda's error codes this host answers with.
const (
	CodeResourceNotFound       = "ResourceNotFoundException"      // 404
	CodeAccessDenied           = "AccessDeniedException"          // 403
	CodeUnrecognizedClient     = "UnrecognizedClientException"    // 403
	CodeInvalidSignature       = "InvalidSignatureException"      // 403
	CodeExpiredToken           = "ExpiredTokenException"          // 403
	CodeTooManyRequests        = "TooManyRequestsException"       // 429
	CodeRequestTooLarge        = "RequestTooLargeException"       // 413
	CodeInvalidRequestContent  = "InvalidRequestContentException" // 400
	CodeInvalidParameterValue  = "InvalidParameterValueException" // 400
	CodeUnknownOperation       = "UnknownOperationException"      // 404
	CodeService                = "ServiceException"               // 500
	reasonConcurrencyExhausted = "ReservedFunctionConcurrentInvocationLimitExceeded"
)

var statusOf = map[string]int{
	CodeResourceNotFound:      http.StatusNotFound,
	CodeAccessDenied:          http.StatusForbidden,
	CodeUnrecognizedClient:    http.StatusForbidden,
	CodeInvalidSignature:      http.StatusForbidden,
	CodeExpiredToken:          http.StatusForbidden,
	CodeTooManyRequests:       http.StatusTooManyRequests,
	CodeRequestTooLarge:       http.StatusRequestEntityTooLarge,
	CodeInvalidRequestContent: http.StatusBadRequest,
	CodeInvalidParameterValue: http.StatusBadRequest,
	CodeUnknownOperation:      http.StatusNotFound,
	CodeService:               http.StatusInternalServerError,
}

func newError(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) withCause(err error) *Error {
	e.Err = err
	return e
}

// Errors Invoke returns in several places.
func notFound(arn string) *Error {
	return newError(CodeResourceNotFound, "Function not found: %s", arn)
}

func throttled() *Error {
	e := newError(CodeTooManyRequests, "Rate Exceeded.")
	e.Reason = reasonConcurrencyExhausted
	return e
}

func hostClosed() *Error {
	return newError(CodeService, "The local Lambda host is shutting down.")
}

// asError returns err as an *Error; anything else is a service exception
// whose cause only the log sees.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(CodeService, "An internal error occurred.").withCause(err)
}

// errorBody is Lambda's error body ({"Type":"User","message":…}), with
// __type for clients that look there instead of at X-Amzn-ErrorType.
type errorBody struct {
	Type    string `json:"Type"`
	Code    string `json:"__type"`
	Message string `json:"message"`
	Reason  string `json:"Reason,omitempty"`
}

func writeError(w http.ResponseWriter, e *Error) {
	typ := "User"
	if e.Status >= 500 {
		typ = "Service"
	}
	body, _ := json.Marshal(errorBody{Type: typ, Code: e.Code, Message: e.Message, Reason: e.Reason})
	h := w.Header()
	h.Set("X-Amzn-ErrorType", e.Code)
	h.Set("Content-Type", "application/json")
	if e.Code == CodeTooManyRequests {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// functionError is an invocation that failed in the function's sandbox
// before or without the function answering (build failure, init failure,
// crash, timeout): Invoke turns it into a Result with FunctionError
// "Unhandled" and Lambda's error body.
type functionError struct {
	Type    string // errorType, e.g. "Runtime.ExitError"
	Message string // after "RequestId: <id> Error: "
	Body    []byte // the runtime's own error JSON (/init/error), used as is when set
	log     []byte // the instance's output before it failed, for a log tail
	detail  string // for the operator only (compiler output): Start's error
}

func (e *functionError) Error() string {
	if e.detail != "" {
		return e.Type + ": " + e.Message + "\n" + e.detail
	}
	return e.Type + ": " + e.Message
}

// payload is the error JSON the caller gets.
func (e *functionError) payload(requestID string) []byte {
	if len(e.Body) > 0 {
		return e.Body
	}
	b, _ := json.Marshal(struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}{e.Type, "RequestId: " + requestID + " Error: " + e.Message})
	return b
}
