package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	gatehouseinvoke "github.com/gatehouse-dev/gatehouse/invoke"
)

// FunctionURLPrefix is where Handler serves function URLs: a request for
// FunctionURLPrefix + "<name>/<rest>" is a request to the URL of function
// <name> (one whose Function.URL is set) for the path "/<rest>". The
// prefix is outside the Invoke API's paths.
const FunctionURLPrefix = "/lambda-url/"

// timeLayout is requestContext.time as Lambda writes it
// ("12/Mar/2024:19:03:58 +0000").
const timeLayout = "02/Jan/2006:15:04:05 -0700"

// FunctionURLID is the url-id of a function's URL on this host: 32
// lower-case hex digits derived from the function's ARN, so the same on
// every start. It is requestContext.apiId and domainPrefix of the
// function's URL events, and the first label of requestContext.domainName
// (<url-id>.lambda-url.<region>.on.aws).
func (h *Host) FunctionURLID(name string) string {
	sum := sha256.Sum256([]byte("lambda-url:arn:aws:lambda:" + h.region + ":" + h.account + ":function:" + name))
	return hex.EncodeToString(sum[:16])
}

// functionURLEvent is a function URL event as Lambda sends it: the
// aws-lambda-go type plus the members that type does not model (routeKey
// and stage are "$default"; pathParameters and stageVariables are null).
type functionURLEvent struct {
	events.LambdaFunctionURLRequest
	RouteKey       string             `json:"routeKey"`
	RequestContext functionURLContext `json:"requestContext"`
	PathParameters map[string]string  `json:"pathParameters"`
	StageVariables map[string]string  `json:"stageVariables"`
}

type functionURLContext struct {
	events.LambdaFunctionURLRequestContext
	RouteKey string `json:"routeKey"`
	Stage    string `json:"stage"`
}

// urlRefusal is a request the function URL endpoint answers itself.
type urlRefusal struct {
	status  int
	code    string // X-Amzn-ErrorType, for Lambda's own refusals; "" for none
	message string // safe to show the caller
	cause   error  // for the log only
}

func refuseURL(status int, message string) *urlRefusal {
	return &urlRefusal{status: status, message: message}
}

// serveFunctionURL serves FunctionURLPrefix. raw is the request's path as
// received (still escaped). The request becomes a function URL event of
// auth type NONE, invoked as a RequestResponse invocation (the same
// scheduling, timeout, crash handling and logs as the Invoke API's), and
// the function's answer becomes the response as Lambda maps it.
func (h *Host) serveFunctionURL(w http.ResponseWriter, r *http.Request, raw string) {
	start := time.Now()
	reqID := requestIDFrom(r.Context())
	cw := &countingWriter{ResponseWriter: w}
	var (
		name      string
		bodyBytes int
	)
	logAttrs := func(status int) []any {
		return []any{"request_id", reqID, "function", name, "method", safeEcho(r.Method), "status", status,
			"body_bytes", bodyBytes, "response_bytes", cw.n, "duration_ms", time.Since(start).Milliseconds()}
	}
	refuse := func(e *urlRefusal) {
		writeURLError(cw, e)
		attrs := logAttrs(e.status)
		if e.code != "" {
			attrs = append(attrs, "code", e.code)
		}
		if e.cause != nil {
			attrs = append(attrs, "error", truncate(e.cause.Error(), 512))
		}
		h.log.Warn("runtime: function url refused", attrs...)
	}

	if !canonicalRawPath(raw) {
		refuse(refuseURL(http.StatusBadRequest, "The request path is not in canonical form."))
		return
	}
	name, rest, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(raw, "/lambda-url"), "/"), "/")
	f := h.funcs[name]
	if f == nil || !f.cfg.URL {
		name = safeEcho(name)
		refuse(refuseURL(http.StatusNotFound, "No function URL here: the path is "+FunctionURLPrefix+"<function>/..., for a function configured with a URL."))
		return
	}
	if h.closed.Load() {
		refuse(&urlRefusal{status: http.StatusServiceUnavailable, message: "The local Lambda host is shutting down."})
		return
	}
	body, e := readURLBody(w, r)
	bodyBytes = len(body)
	if e != nil {
		if r.Context().Err() != nil {
			h.log.Info("runtime: function url abandoned by its caller", logAttrs(499)...)
			return
		}
		refuse(e)
		return
	}
	traceID := r.Header.Get("X-Amzn-Trace-Id")
	if !validTraceID(traceID) || !strings.Contains(traceID, "Root=") {
		traceID = newTraceID(h.now())
	}
	ev, e := h.functionURLEvent(r, name, "/"+rest, body, reqID, traceID)
	if e != nil {
		refuse(e)
		return
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		refuse(&urlRefusal{status: http.StatusInternalServerError, message: "Internal Server Error", cause: err})
		return
	}
	res, err := f.invoke(r.Context(), payload, InvokeOptions{RequestID: reqID, TraceID: traceID})
	if err != nil {
		if r.Context().Err() != nil {
			h.log.Info("runtime: function url abandoned by its caller", logAttrs(499)...)
			return
		}
		refuse(refusalOf(asError(err)))
		return
	}
	if res.FunctionError != "" {
		// The function failed: the caller learns nothing more, the log
		// has the error type.
		e := &urlRefusal{status: http.StatusBadGateway, message: "Internal Server Error",
			cause: fmt.Errorf("function error %s", errorType(res.Payload))}
		if errorType(res.Payload) == "Sandbox.Timedout" {
			e.status, e.message = http.StatusGatewayTimeout, "The function timed out."
		}
		refuse(e)
		return
	}
	status, err := gatehouseinvoke.WriteResponse(cw, res.Payload)
	var ie *gatehouseinvoke.Error
	if errors.As(err, &ie) { // nothing was written
		refuse(&urlRefusal{status: http.StatusBadGateway, message: "Internal Server Error",
			cause: fmt.Errorf("the function's response is not a function URL response: %w", ie.Err)})
		return
	}
	attrs := logAttrs(status)
	if err != nil {
		attrs = append(attrs, "error", err.Error()) // the caller's connection failed mid-body
	}
	h.log.Info("runtime: function url", attrs...)
}

// refusalOf maps the host's refusal of the invocation to the function
// URL's answer: throttling and size limits as they are, Lambda's own
// failures as 502.
func refusalOf(e *Error) *urlRefusal {
	if e.Status >= 500 {
		return &urlRefusal{status: http.StatusBadGateway, code: e.Code, message: "Internal Server Error", cause: e}
	}
	return &urlRefusal{status: e.Status, code: e.Code, message: e.Message, cause: e}
}

// writeURLError answers a refusal with a small JSON document.
func writeURLError(w http.ResponseWriter, e *urlRefusal) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{e.message})
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	if e.code != "" {
		hd.Set("X-Amzn-ErrorType", e.code)
	}
	if e.status == http.StatusTooManyRequests {
		hd.Set("Retry-After", "1")
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// readURLBody reads the request body, at most MaxSyncPayload bytes.
func readURLBody(w http.ResponseWriter, r *http.Request) ([]byte, *urlRefusal) {
	tooLarge := refuseURL(http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body must be at most %d bytes.", MaxSyncPayload))
	tooLarge.code = CodeRequestTooLarge
	if r.ContentLength > MaxSyncPayload {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxSyncPayload))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		e := refuseURL(http.StatusBadRequest, "The request body could not be read.")
		e.cause = err
		return nil, e
	}
	return body, nil
}

// functionURLEvent builds the event: what Lambda sends a function for a
// request to its URL with auth type NONE (no authorizer; the Authorization
// header is passed on, for the function to check).
func (h *Host) functionURLEvent(r *http.Request, name, rawPath string, body []byte, reqID, traceID string) (*functionURLEvent, *urlRefusal) {
	query, err := queryParameters(r.URL.RawQuery)
	if err == nil && !utf8.ValidString(r.URL.RawQuery) {
		err = errors.New("the raw query string is not UTF-8")
	}
	if err != nil {
		e := refuseURL(http.StatusBadRequest, "The query string is malformed.")
		e.cause = err
		return nil, e
	}
	now := h.now()
	id := h.FunctionURLID(name)
	sourceIP := hostOnly(r.RemoteAddr)
	headers := urlHeaders(r, sourceIP, len(body))
	headers["x-amzn-trace-id"] = traceID
	ev := &functionURLEvent{
		LambdaFunctionURLRequest: events.LambdaFunctionURLRequest{
			Version:               "2.0",
			RawPath:               rawPath,
			RawQueryString:        r.URL.RawQuery,
			Cookies:               requestCookies(r.Header),
			Headers:               headers,
			QueryStringParameters: query,
		},
		RouteKey: "$default",
		RequestContext: functionURLContext{
			LambdaFunctionURLRequestContext: events.LambdaFunctionURLRequestContext{
				AccountID:    h.account,
				RequestID:    reqID,
				APIID:        id,
				DomainName:   id + ".lambda-url." + h.region + ".on.aws",
				DomainPrefix: id,
				Time:         now.UTC().Format(timeLayout),
				TimeEpoch:    now.UnixMilli(),
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
					Method:    r.Method,
					Path:      rawPath,
					Protocol:  r.Proto,
					SourceIP:  sourceIP,
					UserAgent: r.UserAgent(),
				},
			},
			RouteKey: "$default",
			Stage:    "$default",
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type"), body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev, nil
}

// queryParameters is queryStringParameters: repeated keys joined with
// commas, in order; nil for an empty query.
func queryParameters(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for k, vs := range values {
		out[k] = strings.Join(vs, ",")
	}
	return out, nil
}

// requestCookies splits every Cookie header into the cookies array, one
// "name=value" per entry.
func requestCookies(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// notForwarded are the connection-level headers (RFC 9110 §7.6.1); Cookie,
// which travels in the cookies array; and Host and Content-Length, set from
// the request itself.
var notForwarded = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "transfer-encoding": true, "upgrade": true, "cookie": true,
	"host": true, "content-length": true,
}

// urlHeaders is the headers map: names lower-cased, repeated headers
// joined with commas, connection-level headers left out; then host,
// content-length and x-forwarded-for, -proto and -port set from the
// connection, as Lambda sets them.
func urlHeaders(r *http.Request, sourceIP string, bodyLen int) map[string]string {
	connection := map[string]bool{}
	for _, v := range r.Header.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			connection[strings.ToLower(strings.TrimSpace(name))] = true
		}
	}
	out := make(map[string]string, len(r.Header)+6)
	for name, values := range r.Header {
		key := strings.ToLower(name)
		if notForwarded[key] || connection[key] {
			continue
		}
		if prev, ok := out[key]; ok { // two spellings of one name
			out[key] = prev + "," + strings.Join(values, ",")
			continue
		}
		out[key] = strings.Join(values, ",")
	}
	if r.Host != "" {
		out["host"] = r.Host
	}
	if bodyLen > 0 || r.Header.Get("Content-Length") != "" {
		out["content-length"] = strconv.Itoa(bodyLen)
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, p, err := net.SplitHostPort(a.String()); err == nil {
			port = p
		}
	}
	out["x-forwarded-for"] = sourceIP
	out["x-forwarded-proto"] = proto
	out["x-forwarded-port"] = port
	return out
}

// hostOnly strips a port (and IPv6 brackets) from host:port.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// isText reports whether a body goes into the event as text: valid UTF-8
// with no content type or a textual one. Everything else is base64.
func isText(contentType string, body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	typ, sub, _ := strings.Cut(mt, "/")
	if typ == "text" {
		return true
	}
	if typ != "application" {
		return false
	}
	switch sub {
	case "json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "graphql",
		"yaml", "x-yaml", "x-ndjson", "jwt", "csv", "sql":
		return true
	}
	return strings.HasSuffix(sub, "+json") || strings.HasSuffix(sub, "+xml") || strings.HasSuffix(sub, "+yaml")
}

// rawRequestPath is the request's path exactly as the request line
// carried it (still escaped, before any normalisation).
func rawRequestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return r.URL.EscapedPath()
}

// isFunctionURLPath reports whether a raw path is the function URL
// endpoint's.
func isFunctionURLPath(raw string) bool {
	return raw == strings.TrimSuffix(FunctionURLPrefix, "/") || strings.HasPrefix(raw, FunctionURLPrefix)
}

// canonicalRawPath reports whether a raw (escaped) path has exactly one
// reading, as the gateway requires: dot segments, duplicate slashes,
// encoded '/', '\', '.', '%' or NUL, a backslash, ';', control characters
// and non-UTF-8 are refused, never rewritten, so the path the function
// sees is the one the caller sent.
func canonicalRawPath(escaped string) bool {
	if escaped == "" || escaped[0] != '/' {
		return false
	}
	lower := strings.ToLower(escaped)
	for _, bad := range []string{"//", "%2f", "%5c", "%00", "%25", "%2e", "\\", ";"} {
		if strings.Contains(lower, bad) {
			return false
		}
	}
	for seg := range strings.SplitSeq(escaped[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil || !utf8.ValidString(decoded) {
		return false
	}
	for i := 0; i < len(decoded); i++ {
		if decoded[i] < 0x20 || decoded[i] == 0x7f {
			return false
		}
	}
	return true
}

// countingWriter counts the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += n
	return n, err
}
