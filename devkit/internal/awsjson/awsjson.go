// Package awsjson serves the AWS JSON 1.1 protocol for the local doubles of
// AWS services (devkit/secretsmanager, devkit/kms): one place for what
// every such service does the same way before and after its operation.
//
// In: a Service naming the protocol's target prefix (X-Amz-Target
// "<Target>.<Operation>"), the SigV4 signing name, the body bound, the
// local STS that checks signatures, and one Handler per operation.
//
// Out: an http.Handler for POST / that, in order, bounds and reads the
// body, checks the SigV4 signature with the local STS (and that every
// X-Amz-* header is signed, so X-Amz-Target cannot be changed after
// signing), finds the operation, and answers its result as JSON or its
// refusal as {"__type":"<Code>","message":"…"} with HTTP 400 (500 for the
// service's internal error code), with x-amzn-RequestId on every answer.
// Handlers decode their input strictly (Request.Decode: unknown or
// duplicate members and invalid UTF-8 are refused) and authorize with
// Request.Authorize (the session's IAM policies, AWS's AccessDenied words).
// Each request is logged once: operation, principal, status, code, time;
// never a body, a credential or a value.
package awsjson

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// ContentType is the AWS JSON 1.1 media type of requests and answers.
const ContentType = "application/x-amz-json-1.1"

// Error codes every AWS JSON service answers with. Authentication
// failures use the codes AWS's JSON services use for STS's refusals.
const (
	CodeAccessDenied          = "AccessDeniedException"
	CodeUnrecognizedClient    = "UnrecognizedClientException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeMissingAuthentication = "MissingAuthenticationTokenException"
	CodeExpiredToken          = "ExpiredTokenException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeSerialization         = "SerializationException"
	CodeValidation            = "ValidationException"
)

// Error is a refusal in the service's own words: Code is its error code
// (the __type the SDKs map to their typed errors), Message is safe to show
// the caller, Err is for the log only.
type Error struct {
	Code    string
	Status  int
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf is a refusal with HTTP 400, as AWS JSON services answer every
// client error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

// WithCause records the cause for the log.
func (e *Error) WithCause(err error) *Error {
	e.Err = err
	return e
}

// Authenticator checks a request's SigV4 signature: *sts.Server.
type Authenticator interface {
	Authenticate(r *http.Request, body []byte, service string) (*sts.Session, error)
}

// Handler performs one operation. It returns the output (marshalled as
// JSON) or an error: an *Error is answered as it is, anything else as the
// service's internal error, its text for the log only.
type Handler func(*Request) (any, error)

// Request is one authenticated call of an operation.
type Request struct {
	Context   context.Context
	Session   *sts.Session // the caller, as the local STS authenticated it
	Operation string
	RequestID string
	body      []byte
}

// Decode reads the request body into v strictly: a JSON object with no
// unknown or repeated member and valid UTF-8. The refusal names the
// operation and, for an unknown member, the member; never a value.
func (r *Request) Decode(v any) error {
	body := r.body
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		msg := "The request body is not a valid " + r.Operation + " request"
		var se *json.SemanticError
		if errors.As(err, &se) && se.JSONPointer != "" {
			msg += " (at " + Echo(string(se.JSONPointer), 128) + ")"
		}
		return Errorf(CodeSerialization, "%s.", msg)
	}
	return nil
}

// Authorize checks that the session may perform action on resource (see
// sts.Session.Allowed) and otherwise returns AccessDeniedException in
// AWS's words.
func (r *Request) Authorize(action, resource string) error {
	if ok, why := r.Session.Allowed(action, resource); !ok {
		return Errorf(CodeAccessDenied, "User: %s is not authorized to perform: %s on resource: %s %s",
			r.Session.AssumedRoleARN, action, Echo(resource, 2048), why)
	}
	return nil
}

// Service is one AWS JSON 1.1 service.
type Service struct {
	// Target is the X-Amz-Target prefix: "secretsmanager", "TrentService".
	Target string
	// SigningName is the SigV4 service name: "secretsmanager", "kms".
	SigningName string
	// MaxBody bounds a request body in bytes.
	MaxBody int64
	// Auth checks signatures; nil refuses every request.
	Auth Authenticator
	// Ops are the operations by name.
	Ops map[string]Handler
	// InternalCode is the service's internal error code, answered with 500.
	InternalCode string
	// Log receives one record per request.
	Log *slog.Logger
}

// ServeHTTP serves POST / (see the package documentation).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := NewRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	op := ""
	var sess *sts.Session
	finish := func(status int, e *Error) {
		attrs := []any{"request_id", reqID, "operation", op, "status", status, "duration_ms", time.Since(start).Milliseconds()}
		if sess != nil {
			attrs = append(attrs, "principal", sess.AssumedRoleARN)
		}
		level := slog.LevelInfo
		msg := s.SigningName + ": request"
		if e != nil {
			attrs = append(attrs, "code", e.Code, "error", e.Error())
			msg = s.SigningName + ": request refused"
			if status >= 500 {
				level = slog.LevelError
			}
		}
		s.Log.Log(context.Background(), level, msg, attrs...)
	}
	fail := func(e *Error) {
		s.writeError(w, e)
		finish(e.Status, e)
	}
	defer func() {
		// Nothing a caller sends should get here; if it does, the caller
		// gets the internal error and the server keeps running.
		if v := recover(); v != nil {
			fail(s.internal(fmt.Errorf("panic: %v", v)))
		}
	}()
	if r.URL.Path != "/" || r.Method != http.MethodPost {
		fail(Errorf(CodeUnknownOperation, "The %s endpoint is POST / with X-Amz-Target.", s.Target))
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != ContentType {
		fail(Errorf(CodeSerialization, "The request's Content-Type must be %s.", ContentType))
		return
	}
	if r.ContentLength > s.MaxBody {
		fail(s.tooLarge())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(s.tooLarge())
			return
		}
		fail(Errorf(CodeSerialization, "The request body could not be read.").WithCause(err))
		return
	}
	if s.Auth == nil {
		fail(Errorf(CodeUnrecognizedClient, "The security token included in the request is invalid.").WithCause(errors.New("no STS is configured: every request is refused")))
		return
	}
	sess, err = s.Auth.Authenticate(r, body, s.SigningName)
	if err != nil {
		fail(authError(err))
		return
	}
	if name := unsignedAmzHeader(r); name != "" {
		fail(Errorf(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided: header %s is not signed.", Echo(name, 64)))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, s.Target+".")
	h := s.Ops[name]
	if !ok || h == nil {
		fail(Errorf(CodeUnknownOperation, "%s is not an operation of this local service (it serves %s).", Echo(target, 128), strings.Join(s.opNames(), ", ")))
		return
	}
	op = name
	res, err := h(&Request{Context: r.Context(), Session: sess, Operation: name, RequestID: reqID, body: body})
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = s.internal(err)
		}
		fail(e)
		return
	}
	out, err := json.Marshal(res)
	if err != nil {
		fail(s.internal(err))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	finish(http.StatusOK, nil)
}

func (s *Service) opNames() []string {
	names := make([]string, 0, len(s.Ops))
	for n := range s.Ops {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (s *Service) internal(err error) *Error {
	return &Error{Code: s.InternalCode, Status: http.StatusInternalServerError, Message: "An internal error occurred.", Err: err}
}

func (s *Service) tooLarge() *Error {
	return Errorf(CodeValidation, "The request body is larger than %d bytes.", s.MaxBody)
}

func (s *Service) writeError(w http.ResponseWriter, e *Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// authError maps the local STS's refusal to the code AWS JSON services
// answer it with.
func authError(err error) *Error {
	var se *sts.Error
	if !errors.As(err, &se) {
		return Errorf(CodeUnrecognizedClient, "The security token included in the request is invalid.").WithCause(err)
	}
	code := CodeUnrecognizedClient
	switch se.Code {
	case sts.CodeMissingAuthenticationToken:
		code = CodeMissingAuthentication
	case sts.CodeIncompleteSignature:
		code = CodeIncompleteSignature
	case sts.CodeSignatureDoesNotMatch:
		code = CodeInvalidSignature
	case sts.CodeExpiredToken:
		code = CodeExpiredToken
	}
	return Errorf(code, "%s", se.Message).WithCause(err)
}

// unsignedAmzHeader returns an X-Amz-* header the Authorization header's
// SignedHeaders does not list, or "".
func unsignedAmzHeader(r *http.Request) string {
	_, rest, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	var signed string
	for part := range strings.SplitSeq(rest, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "SignedHeaders="); ok {
			signed = v
		}
	}
	list := strings.Split(signed, ";")
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !slices.Contains(list, lower) {
			return name
		}
	}
	return ""
}

// NewRequestID returns a random (version 4) UUID.
func NewRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Echo makes a caller-supplied value fit for a message or log line:
// printable ASCII only, at most max characters.
func Echo(s string, max int) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Epoch is a timestamp as AWS JSON writes it: seconds since the epoch,
// with milliseconds.
type Epoch float64

// EpochOf converts t; the zero time is 0 (omitted with omitzero).
func EpochOf(t time.Time) Epoch {
	if t.IsZero() {
		return 0
	}
	return Epoch(float64(t.UnixMilli()) / 1000)
}
