package sts

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal with the code STS answers with. Handler writes it as
// an AWS Query error body; Authenticate returns it so that another service
// (devkit/runtime) can answer in its own dialect by Code.
type Error struct {
	// Code is the STS error code, e.g. "AccessDenied"; Authenticate returns
	// only the Code* constants below.
	Code string
	// Status is the HTTP status STS answers with.
	Status int
	// Message is safe to show the caller: it never holds a token, secret,
	// session token or signature.
	Message string
	// Err is the cause, for the log only; may be nil.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("sts: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("sts: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// The codes Authenticate returns. STS answers them as named; Lambda calls
// them UnrecognizedClientException (the first two), InvalidSignatureException
// (the next two) and ExpiredTokenException.
const (
	// CodeMissingAuthenticationToken: no Authorization header (403).
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	// CodeInvalidClientTokenID: unknown access key id, or a session token
	// that is missing or not the key's (403).
	CodeInvalidClientTokenID = "InvalidClientTokenId"
	// CodeIncompleteSignature: the Authorization header or X-Amz-Date is
	// malformed, or uses another algorithm than AWS4-HMAC-SHA256 (400).
	CodeIncompleteSignature = "IncompleteSignature"
	// CodeSignatureDoesNotMatch: wrong signature, credential scope (date,
	// region, service), or X-Amz-Date more than 5 minutes away (403).
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	// CodeExpiredToken: the session has expired (400).
	CodeExpiredToken = "ExpiredToken"
)

// The other codes of this STS (spec §4).
const (
	codeInvalidIdentityToken    = "InvalidIdentityToken"
	codeExpiredTokenException   = "ExpiredTokenException"
	codeIDPRejectedClaim        = "IDPRejectedClaim"
	codeIDPCommunicationError   = "IDPCommunicationError"
	codeAccessDenied            = "AccessDenied"
	codeValidationError         = "ValidationError"
	codeInvalidParameterValue   = "InvalidParameterValue"
	codePackedPolicyTooLarge    = "PackedPolicyTooLarge"
	codeMalformedPolicyDocument = "MalformedPolicyDocument"
	codeMissingAction           = "MissingAction"
	codeInvalidAction           = "InvalidAction"
	codeRequestTooLarge         = "RequestEntityTooLarge"
	codeMethodNotAllowed        = "MethodNotAllowed"
	codeNotFound                = "NotFound"
	codeInternalFailure         = "InternalFailure"
)

// statusOf is the HTTP status STS answers each code with.
var statusOf = map[string]int{
	CodeMissingAuthenticationToken: http.StatusForbidden,
	CodeInvalidClientTokenID:       http.StatusForbidden,
	CodeIncompleteSignature:        http.StatusBadRequest,
	CodeSignatureDoesNotMatch:      http.StatusForbidden,
	CodeExpiredToken:               http.StatusBadRequest,
	codeInvalidIdentityToken:       http.StatusBadRequest,
	codeExpiredTokenException:      http.StatusBadRequest,
	codeIDPRejectedClaim:           http.StatusForbidden,
	codeIDPCommunicationError:      http.StatusBadRequest,
	codeAccessDenied:               http.StatusForbidden,
	codeValidationError:            http.StatusBadRequest,
	codeInvalidParameterValue:      http.StatusBadRequest,
	codePackedPolicyTooLarge:       http.StatusBadRequest,
	codeMalformedPolicyDocument:    http.StatusBadRequest,
	codeMissingAction:              http.StatusBadRequest,
	codeInvalidAction:              http.StatusBadRequest,
	codeRequestTooLarge:            http.StatusRequestEntityTooLarge,
	codeMethodNotAllowed:           http.StatusMethodNotAllowed,
	codeNotFound:                   http.StatusNotFound,
	codeInternalFailure:            http.StatusInternalServerError,
}

func newError(code, format string, args ...any) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// withCause records the cause for the log.
func (e *Error) withCause(err error) *Error {
	e.Err = err
	return e
}

// asError returns err as an *Error; anything else is an internal failure
// whose cause only the log sees.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(codeInternalFailure, "An internal error occurred.").withCause(err)
}

// errorResponse is the AWS Query protocol error body (spec §4).
type errorResponse struct {
	XMLName   xml.Name    `xml:"https://sts.amazonaws.com/doc/2011-06-15/ ErrorResponse"`
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}
