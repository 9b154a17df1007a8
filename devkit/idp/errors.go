package idp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
)

// oauthError is a refusal answered in Entra's shape: the JSON body of spec
// §10 at the token endpoint, an error redirect or an error page at the
// authorize endpoint. desc is shown to the caller, so it never holds a
// secret, a token or key material.
type oauthError struct {
	class    string // OAuth error class: invalid_request, invalid_grant, ...
	code     int    // AADSTS number
	desc     string // the text after "AADSTSnnnn: "
	suberror string // MSAL reads it, e.g. consent_required
}

func (e *oauthError) Error() string { return fmt.Sprintf("%s: AADSTS%d: %s", e.class, e.code, e.desc) }

// OAuth error classes (RFC 6749 §5.2, OpenID Connect Core §3.1.2.6).
const (
	errInvalidRequest          = "invalid_request"
	errInvalidClient           = "invalid_client"
	errInvalidGrant            = "invalid_grant"
	errUnauthorizedClient      = "unauthorized_client"
	errUnsupportedGrantType    = "unsupported_grant_type"
	errUnsupportedResponseType = "unsupported_response_type"
	errInvalidScope            = "invalid_scope"
	errInvalidResource         = "invalid_resource"
	errLoginRequired           = "login_required"
	errTemporarilyUnavailable  = "temporarily_unavailable"
	errServerError             = "server_error"
)

func newError(class string, code int, format string, args ...any) *oauthError {
	return &oauthError{class: class, code: code, desc: fmt.Sprintf(format, args...)}
}

// errMissing is AADSTS900144, Entra's answer to a missing parameter.
func errMissing(name string) *oauthError {
	return newError(errInvalidRequest, 900144, "The request body must contain the following parameter: '%s'.", name)
}

// errMalformed is AADSTS9002313, Entra's answer to a request it cannot parse.
func errMalformed(format string, args ...any) *oauthError {
	return newError(errInvalidRequest, 9002313, "Invalid request. Request is malformed or invalid: "+format, args...)
}

func errUnknownTenant(name string) *oauthError {
	return newError(errInvalidRequest, 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", name)
}

func errInternal() *oauthError {
	return newError(errServerError, 90033, "A transient error has occurred. Please try again.")
}

// errorBody is Entra's token-endpoint error body (spec §10).
type errorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
	Suberror      string `json:"suberror,omitempty"`
}

// entraTimestamp is the format of Entra's `timestamp` member.
const entraTimestamp = "2006-01-02 15:04:05Z"

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidPattern.MatchString(s) }

// body builds the JSON error body. The correlation id is the client's
// client-request-id header when it is a GUID (MSAL sends one), as Entra does.
func (s *Server) errorBody(r *http.Request, e *oauthError) errorBody {
	trace := s.guid()
	corr := r.Header.Get("client-request-id")
	if !isGUID(corr) {
		corr = s.guid()
	}
	ts := s.now().UTC().Format(entraTimestamp)
	return errorBody{
		Error: e.class,
		Description: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.desc, trace, corr, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.code),
		Suberror:      e.suberror,
	}
}

// writeError answers a token-endpoint style request with Entra's error body:
// 400, or 401 for invalid_client (RFC 6749 §5.2), with a Basic challenge when
// the client tried HTTP Basic authentication.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	s.log.Info("idp: request refused", "path", r.URL.Path, "error", e.class, "code", e.code, "description", e.desc)
	status := http.StatusBadRequest
	if e.class == errInvalidClient {
		status = http.StatusUnauthorized
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse development IdP"`)
		}
	}
	noStore(w.Header())
	writeJSON(w, status, s.errorBody(r, e))
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
