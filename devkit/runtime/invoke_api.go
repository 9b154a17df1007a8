package runtime

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
)

// Handler serves the Lambda Invoke REST API:
//
//	POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=$LATEST]
//
// with X-Amz-Invocation-Type (RequestResponse, Event, DryRun),
// X-Amz-Log-Type (None, Tail), X-Amz-Client-Context and X-Amzn-Trace-Id.
// Every request must be SigV4-signed for service "lambda" with credentials
// Config.STS issued, and the session must be allowed lambda:InvokeFunction
// on the function (its role's Invoke list and, if it has one, its session
// policy). Refusals carry Lambda's error shapes; any other path answers
// UnknownOperationException once authenticated, except FunctionURLPrefix,
// where the functions with a URL answer unsigned requests (see the package
// documentation).
func (h *Host) Handler() http.Handler { return h.handler }

func (h *Host) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", h.serveInvoke)
	mux.HandleFunc("/", h.serveUnknown)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := newRequestID()
		w.Header().Set("x-amzn-RequestId", reqID)
		defer func() {
			// Nothing a caller sends should get here; if it does, the caller
			// gets ServiceException and the host keeps running.
			if v := recover(); v != nil {
				h.log.Error("runtime: panic serving the Invoke API", "request_id", reqID, "panic", fmt.Sprint(v))
				writeError(w, newError(CodeService, "An internal error occurred."))
			}
		}()
		if raw := rawRequestPath(r); isFunctionURLPath(raw) {
			// Function URLs: no SigV4 (auth type NONE), their own answers.
			h.serveFunctionURL(w, r.WithContext(withRequestID(r.Context(), reqID)), raw)
			return
		}
		if !canonicalPath(r.URL.Path) {
			// One canonical path: ServeMux would redirect instead.
			writeError(w, newError(CodeInvalidParameterValue, "The request path is not canonical."))
			return
		}
		r = r.WithContext(withRequestID(r.Context(), reqID))
		mux.ServeHTTP(w, r)
	})
}

// canonicalPath: absolute, no empty, "." or ".." segment (a trailing
// slash is allowed).
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// authenticate reads the bounded body and checks the signature.
func (h *Host) authenticate(w http.ResponseWriter, r *http.Request) ([]byte, *sts.Session, *Error) {
	if r.ContentLength > MaxSyncPayload {
		return nil, nil, newError(CodeRequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", MaxSyncPayload)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSyncPayload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, newError(CodeRequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", MaxSyncPayload)
		}
		return nil, nil, newError(CodeInvalidRequestContent, "The request body could not be read.").withCause(err)
	}
	if h.auth == nil {
		return nil, nil, newError(CodeUnrecognizedClient, "The security token included in the request is invalid.").
			withCause(errors.New("no STS is configured: every request is refused"))
	}
	sess, err := h.auth.Authenticate(r, body, "lambda")
	if err != nil {
		return nil, nil, authError(err)
	}
	// The Invoke API's parameters travel in X-Amz-* headers; one added
	// after signing would change the request without breaking the
	// signature, so every X-Amz-* header must be signed.
	if name := unsignedAmzHeader(r); name != "" {
		return nil, nil, newError(CodeInvalidSignature, "The request signature we calculated does not match the signature you provided: header %s is not signed.", safeEcho(name))
	}
	return body, sess, nil
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

// authError maps the STS's refusal to Lambda's code for it.
func authError(err error) *Error {
	var se *sts.Error
	if !errors.As(err, &se) {
		return newError(CodeUnrecognizedClient, "The security token included in the request is invalid.").withCause(err)
	}
	code := CodeUnrecognizedClient
	switch se.Code {
	case sts.CodeIncompleteSignature, sts.CodeSignatureDoesNotMatch:
		code = CodeInvalidSignature
	case sts.CodeExpiredToken:
		code = CodeExpiredToken
	}
	return newError(code, "%s", se.Message).withCause(err)
}

func (h *Host) serveInvoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := requestIDFrom(r.Context())
	body, sess, e := h.authenticate(w, r)
	log := func(status int, fn string, e *Error) {
		attrs := []any{"request_id", reqID, "function", fn, "status", status, "payload_bytes", len(body),
			"invocation_type", safeEcho(r.Header.Get("X-Amz-Invocation-Type")), "duration_ms", time.Since(start).Milliseconds()}
		if sess != nil {
			attrs = append(attrs, "principal", sess.AssumedRoleARN)
		}
		if e != nil {
			attrs = append(attrs, "code", e.Code, "error", e.Error())
			h.log.Warn("runtime: invoke api refused", attrs...)
			return
		}
		h.log.Info("runtime: invoke api", attrs...)
	}
	fail := func(fn string, e *Error) {
		writeError(w, e)
		log(e.Status, fn, e)
	}
	if e != nil {
		fail("", e)
		return
	}
	ref, e := h.parseFunctionName(r.PathValue("name"), r.URL.Query().Get("Qualifier"))
	if e != nil {
		fail("", e)
		return
	}
	// Permission before existence, as IAM does: a caller learns nothing
	// about functions it may not invoke.
	if allowed, why := permitted(sess, ref.name, ref.resource); !allowed {
		fail(ref.name, newError(CodeAccessDenied,
			"User: %s is not authorized to perform: lambda:InvokeFunction on resource: %s %s",
			sess.AssumedRoleARN, ref.resource, why))
		return
	}
	f := h.funcs[ref.name]
	if f == nil {
		fail(ref.name, notFound(ref.resource))
		return
	}
	opts, e := invokeOptions(r, reqID)
	if e != nil {
		fail(ref.name, e)
		return
	}
	res, err := f.invoke(r.Context(), body, opts)
	if err != nil {
		if r.Context().Err() != nil {
			log(499, ref.name, nil) // the caller went away; nobody reads an answer
			return
		}
		fail(ref.name, asError(err))
		return
	}
	hd := w.Header()
	switch res.StatusCode {
	case http.StatusOK:
		hd.Set("X-Amz-Executed-Version", res.ExecutedVersion)
		ct := res.ContentType
		if ct == "" {
			ct = "application/json"
		}
		hd.Set("Content-Type", ct)
		if res.FunctionError != "" {
			hd.Set("X-Amz-Function-Error", res.FunctionError)
		}
		if res.LogResult != "" {
			hd.Set("X-Amz-Log-Result", res.LogResult)
		}
		hd.Set("Content-Length", strconv.Itoa(len(res.Payload)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Payload)
	default:
		w.WriteHeader(res.StatusCode)
	}
	log(res.StatusCode, ref.name, nil)
}

// invokeOptions reads the invocation's headers.
func invokeOptions(r *http.Request, reqID string) (InvokeOptions, *Error) {
	opts := InvokeOptions{RequestID: reqID, InvocationType: r.Header.Get("X-Amz-Invocation-Type")}
	switch opts.InvocationType {
	case "", typeRequestResponse, typeEvent, typeDryRun:
	default:
		return opts, newError(CodeInvalidParameterValue, "Unsupported invocation type: %s", safeEcho(opts.InvocationType))
	}
	switch lt := r.Header.Get("X-Amz-Log-Type"); lt {
	case "", "None":
	case "Tail":
		opts.Tail = opts.InvocationType == "" || opts.InvocationType == typeRequestResponse
	default:
		return opts, newError(CodeInvalidParameterValue, "Unsupported log type: %s", safeEcho(lt))
	}
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		b, err := base64.StdEncoding.DecodeString(cc)
		if err != nil || len(cc) > maxClientContext {
			return opts, newError(CodeInvalidParameterValue, "Client context must be a valid Base64-encoded JSON object.")
		}
		opts.ClientContext = string(b)
	}
	if tid := r.Header.Get("X-Amzn-Trace-Id"); validTraceID(tid) && strings.Contains(tid, "Root=") {
		opts.TraceID = tid
	}
	return opts, nil
}

func (h *Host) serveUnknown(w http.ResponseWriter, r *http.Request) {
	_, sess, e := h.authenticate(w, r)
	if e == nil {
		e = newError(CodeUnknownOperation, "The local Lambda host serves the Invoke operation only.")
	}
	attrs := []any{"request_id", requestIDFrom(r.Context()), "method", safeEcho(r.Method), "status", e.Status, "code", e.Code}
	if sess != nil {
		attrs = append(attrs, "principal", sess.AssumedRoleARN)
	}
	h.log.Warn("runtime: invoke api refused", attrs...)
	writeError(w, e)
}

var qualifierPattern = regexp.MustCompile(`^[a-zA-Z0-9$_-]{1,128}$`)

type requestIDKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// functionRef is a parsed FunctionName.
type functionRef struct {
	name      string
	qualifier string // "" or "$LATEST"
	arn       string // unqualified
	resource  string // the ARN IAM checks: qualified when a qualifier was given
}

// parseFunctionName accepts name, name:qualifier, account:function:name[:qualifier]
// and arn:aws:lambda:region:account:function:name[:qualifier] of this
// host's region and account. The qualifier may also come separately; the
// only version is $LATEST.
func (h *Host) parseFunctionName(s, qualifier string) (*functionRef, *Error) {
	invalid := func() (*functionRef, *Error) {
		return nil, newError(CodeInvalidParameterValue,
			"1 validation error detected: Value '%s' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: "+
				`(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`, safeEcho(s))
	}
	if s == "" || len(s) > 170 {
		return invalid()
	}
	region, account := h.region, h.account
	parts := strings.Split(s, ":")
	var name, q string
	switch {
	case parts[0] == "arn":
		if len(parts) != 7 && len(parts) != 8 || !strings.HasPrefix(parts[1], "aws") || parts[2] != "lambda" || parts[5] != "function" {
			return invalid()
		}
		region, account, name = parts[3], parts[4], parts[6]
		if len(parts) == 8 {
			q = parts[7]
		}
	case len(parts) == 1:
		name = parts[0]
	case len(parts) == 2:
		name, q = parts[0], parts[1]
	case len(parts) == 3 || len(parts) == 4:
		if parts[1] != "function" {
			return invalid()
		}
		account, name = parts[0], parts[2]
		if len(parts) == 4 {
			q = parts[3]
		}
	default:
		return invalid()
	}
	if !functionNamePattern.MatchString(name) || !accountPattern.MatchString(account) || !regionPattern.MatchString(region) {
		return invalid()
	}
	if q != "" && !qualifierPattern.MatchString(q) || qualifier != "" && !qualifierPattern.MatchString(qualifier) {
		return invalid()
	}
	if q != "" && qualifier != "" && q != qualifier {
		return nil, newError(CodeInvalidParameterValue, "The derived qualifier from the function name does not match the specified qualifier.")
	}
	if q == "" {
		q = qualifier
	}
	ref := &functionRef{name: name, qualifier: q, arn: "arn:aws:lambda:" + region + ":" + account + ":function:" + name}
	ref.resource = ref.arn
	if q != "" {
		ref.resource += ":" + q
	}
	if region != h.region || account != h.account || (q != "" && q != latest) {
		return nil, notFound(ref.resource)
	}
	return ref, nil
}
