package invoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Asserter signs the identity assertion for one call (mint.Issuer.Assertion, wired by the caller).
type Asserter func(p *authn.Principal, audience, role string) (string, error)

// CodeAssertionFailed is the Error.Code when the identity assertion for an
// HTTP upstream could not be made (502): the upstream is not called.
const CodeAssertionFailed = "assertion_failed"

// Headers the HTTP target sets on every request to the upstream, after
// removing every inbound header its HeaderPolicy does not pass (see
// headers.go). Only HeaderAssertion is proof: the others are
// plain conveniences for an upstream that trusts its network path to the
// gateway, and are left out when empty or when their value cannot be sent
// as a header safely.
const (
	// HeaderAssertion carries the signed identity assertion (a JWT from
	// the Asserter for the principal, the target's audience and the role).
	HeaderAssertion = "X-Gatehouse-Assertion"
	HeaderSubject   = "X-Gatehouse-Subject" // Principal.Subject
	HeaderTenant    = "X-Gatehouse-Tenant"  // Principal.Tenant
	HeaderKind      = "X-Gatehouse-Kind"    // Principal.Kind
	HeaderRole      = "X-Gatehouse-Role"    // Call.Role, the logical role granted
	HeaderRoles     = "X-Gatehouse-Roles"   // Principal.Roles (app roles), comma-joined
	HeaderAgent     = "X-Gatehouse-Agent"   // Principal.Agent(), the current actor
	HeaderRequestID = "X-Request-Id"        // Call.RequestID, the gateway's request id
)

// HTTPConfig configures an HTTP upstream target.
type HTTPConfig struct {
	// URL is the upstream's base URL, http or https, with no user
	// information, query or fragment; required. Its path is a prefix: the
	// request's path is appended to it.
	URL string
	// Audience is the aud of the assertion; "" means the URL's origin
	// (scheme://host[:port]).
	Audience string
	// Assert signs the identity assertion; required.
	Assert Asserter
	// Transport sends the requests; nil means a shared *http.Transport
	// tuned for a gateway: 256 idle connections per host (net/http's
	// default of 2 halves throughput under load), HTTP/2 when the upstream
	// offers it, dial and TLS handshake timeouts, no transparent
	// compression and no proxy from the environment (the upstream's
	// address comes from configuration only).
	Transport http.RoundTripper
	// Timeout bounds the time until the upstream's response headers
	// arrive; 0 means DefaultTimeout (30 s). Past it the caller gets 504.
	// A streamed response body may take longer.
	Timeout time.Duration
	// PassHeaders are request headers passed besides the standard ones
	// (names, or prefixes ending in '*'); see NewHeaderPolicy.
	PassHeaders []string
	// Logger receives failures the gateway cannot see (a response cut
	// short after it started); nil means slog.Default().
	Logger *slog.Logger
}

// HTTPTarget is a Target that proxies the request to an HTTP upstream, in
// the caller's name: the upstream gets the request as the caller sent it
// (method, path under the base path, query, headers, streamed body)
// without any inbound credential or identity header, plus a signed
// identity assertion (HeaderAssertion) and the gateway's own headers. Its
// answer streams back unbuffered: server-sent events are flushed as they
// arrive and WebSocket upgrades pass through. It is safe for concurrent
// use.
type HTTPTarget struct {
	scheme, host string
	// basePath and baseRawPath are the URL's path, decoded and as written,
	// without a trailing slash.
	basePath, baseRawPath string
	audience              string
	assert                Asserter
	timeout               time.Duration
	log                   *slog.Logger
	headers               HeaderPolicy
	proxy                 *httputil.ReverseProxy
	// origin is scheme://host, for errors and logs only.
	origin string
}

var _ Target = (*HTTPTarget)(nil)

// NewHTTP checks cfg and builds the target, once.
func NewHTTP(cfg HTTPConfig) (*HTTPTarget, error) {
	var problems []error
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Error repeats the URL, and with it any password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		problems = append(problems, fmt.Errorf("url: %w", err))
	} else {
		problems = append(problems, checkUpstreamURL(u, cfg.URL)...)
	}
	if cfg.Assert == nil {
		problems = append(problems, errors.New("an Asserter is required"))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, errors.New("timeout must not be negative"))
	}
	headers, err := NewHeaderPolicy(cfg.PassHeaders)
	if err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invoke: http target: %w", errors.Join(problems...))
	}
	t := &HTTPTarget{
		scheme:      u.Scheme,
		host:        u.Host,
		basePath:    strings.TrimSuffix(u.Path, "/"),
		baseRawPath: strings.TrimSuffix(u.EscapedPath(), "/"),
		audience:    cfg.Audience,
		assert:      cfg.Assert,
		timeout:     cfg.Timeout,
		log:         cfg.Logger,
		headers:     headers,
		origin:      u.Scheme + "://" + u.Host,
	}
	if t.audience == "" {
		t.audience = t.origin
	}
	if t.timeout == 0 {
		t.timeout = DefaultTimeout
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	transport := cfg.Transport
	if transport == nil {
		transport = sharedTransport()
	}
	t.proxy = &httputil.ReverseProxy{
		Rewrite:        t.rewrite,
		Transport:      transport,
		ModifyResponse: t.modifyResponse,
		ErrorHandler:   t.errorHandler,
		BufferPool:     proxyBuffers,
		ErrorLog:       slog.NewLogLogger(t.log.Handler(), slog.LevelWarn),
	}
	return t, nil
}

// checkUpstreamURL lists what is wrong with an upstream base URL, without
// repeating its user information.
func checkUpstreamURL(u *url.URL, raw string) []error {
	var problems []error
	if u.Scheme != "http" && u.Scheme != "https" {
		problems = append(problems, fmt.Errorf("url %q: scheme must be http or https", u.Redacted()))
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		problems = append(problems, fmt.Errorf("url %q: want scheme://host[:port][/path]", u.Redacted()))
	}
	if u.User != nil {
		problems = append(problems, fmt.Errorf("url %q: user information is not allowed (credentials never go in the URL)", u.Redacted()))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		problems = append(problems, fmt.Errorf("url %q: no query or fragment (the request's query is passed on)", u.Redacted()))
	}
	p, lower := u.Path, strings.ToLower(u.EscapedPath())
	if strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") ||
		strings.Contains(lower, "%2f") || strings.Contains(lower, "%25") || strings.Contains(p, "\\") || hasCTL(p) {
		problems = append(problems, fmt.Errorf("url %q: the path must be plain: no dot segments, '//', '\\', encoded '/' or '%%', or control characters", u.Redacted()))
	}
	return problems
}

// Streams reports that the gateway must not buffer this target's
// responses: they stream (server-sent events, chunked bodies, WebSocket).
func (t *HTTPTarget) Streams() bool { return true }

// Invoke proxies the request to the upstream. In order:
//
//   - the outgoing URL is the upstream's base path followed by
//     call.RawPath, used exactly as given (it is the decoded path the
//     gateway matched; characters that cannot appear in a path as they are
//     are percent-encoded, so the upstream decodes exactly call.RawPath),
//     with the request's raw query unchanged; Host is the upstream's;
//   - hop-by-hop headers and those named in Connection are removed; then
//     every inbound header the target's HeaderPolicy does not pass: only
//     the standard headers of HTTP (content negotiation, conditionals,
//     caching, cookies, CORS, fetch metadata, WebSocket handshakes,
//     tracing) and the route's PassHeaders reach the upstream, and never
//     one that carries a credential or claims an identity, a client
//     address, host, scheme or certificate, or another path or method;
//     when ctx carries a trace (the gateway traces requests), the caller's
//     trace headers are replaced by gatehouse's traceparent (trace.go),
//     and the call is a client span of its own;
//   - an Upgrade other than a WebSocket handshake (a GET with Upgrade:
//     websocket) is dropped before the upstream sees it, so the request
//     goes on as plain HTTP: no other protocol (h2c, TLS) can be switched
//     to, and no tunnel can carry requests past the gateway's checks;
//   - X-Forwarded-For is set from the connection's peer, X-Forwarded-Proto
//     to call.Scheme (else the connection's), X-Forwarded-Host to
//     call.Host (left out when ""; never the caller's Host), and
//     HeaderAssertion (from the Asserter, for call.Principal, the target's
//     audience and call.Role) and the other gateway headers are added —
//     after the Connection processing, so a caller cannot have them
//     removed;
//   - the body streams to the upstream; the upstream's status, headers and
//     body stream back to w (headers already set on w, X-Request-Id, win
//     over the upstream's).
//
// When the assertion cannot be made (502, CodeAssertionFailed) nothing is
// sent. When the upstream cannot be reached (502, CodeTargetUnreachable)
// or does not answer within the timeout (504, CodeTimeout), or the caller
// goes away first (499), nothing is written and the Outcome is nil unless
// the upstream answered. Reasons never name the upstream's address; Err
// does, for the log.
//
// Once the response has started, a failure of the upstream or of the
// caller's connection can only cut it short: Invoke then panics with
// http.ErrAbortHandler, net/http's convention for aborting a response (the
// server closes the connection and logs nothing), after logging it. A
// caller that must record every request does so in a deferred function.
func (t *HTTPTarget) Invoke(ctx context.Context, w http.ResponseWriter, r *http.Request, call Call) (*Outcome, error) {
	p := call.Principal
	if p == nil {
		return nil, errors.New("invoke: http target: Call.Principal is nil")
	}
	if call.RawPath == "" || call.RawPath[0] != '/' {
		return nil, errors.New("invoke: http target: Call.RawPath is empty or relative")
	}
	if !forwardablePath(call.RawPath) {
		return nil, newError(http.StatusBadRequest, CodeBadRequest, "the request path is not in canonical form",
			fmt.Errorf("non-canonical path %q reached the http target", call.RawPath))
	}
	if _, ok := r.Header["Upgrade"]; ok && !webSocketUpgrade(r) {
		r = withoutUpgrade(r)
	}
	assertion, err := t.assert(p, t.audience, call.Role)
	if err == nil && !safeHeaderValue(assertion) {
		err = errors.New("the assertion is not a valid header value")
	}
	if err != nil {
		return nil, newError(http.StatusBadGateway, CodeAssertionFailed, "the upstream could not be called",
			fmt.Errorf("identity assertion for %s: %w", t.audience, err))
	}

	c := &httpCall{
		call:      &call,
		assertion: assertion,
		path:      t.basePath + call.RawPath,
		rawPath:   t.baseRawPath + escapeUpstreamPath(call.RawPath),
		traced:    traced(ctx),
	}
	ctx, span := t.upstreamSpan(ctx, r.Method)
	var spanErr *Error
	defer func() { endUpstreamSpan(span, c.status, spanErr) }()
	c.w = proxyWriter{ResponseWriter: w, owned: w.Header().Clone()}
	pctx := ctx
	if ctx.Value(http.ServerContextKey) == nil {
		// ReverseProxy aborts a response that fails midway (rather than
		// end it as if complete) only when it sees it runs in a server.
		if srv := r.Context().Value(http.ServerContextKey); srv != nil {
			ctx = context.WithValue(ctx, http.ServerContextKey, srv)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	c.timer = time.AfterFunc(t.timeout, func() { cancel(errHeaderTimeout) })
	defer c.timer.Stop()
	ctx = context.WithValue(ctx, httpCallKey{}, c)

	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				spanErr = &Error{Code: "response_cut_short"}
				t.log.WarnContext(ctx, "invoke: http target: response cut short", "request_id", call.RequestID,
					"upstream", t.origin, "status", c.status, "bytes", c.w.n)
			}
			panic(v)
		}
	}()
	t.proxy.ServeHTTP(&c.w, r.WithContext(ctx))

	if c.err != nil {
		e := t.mapError(pctx, ctx, c)
		spanErr = e
		if !c.reached {
			return nil, e
		}
		return &Outcome{Status: e.Status, TargetRequestID: c.targetRequestID}, e
	}
	return &Outcome{Status: c.status, TargetRequestID: c.targetRequestID, Bytes: c.w.n}, nil
}

// webSocketUpgrade reports whether r is a WebSocket opening handshake
// (RFC 6455 §4.1): the one protocol switch the gateway passes on.
func webSocketUpgrade(r *http.Request) bool {
	up := r.Header["Upgrade"]
	return r.Method == http.MethodGet && len(up) == 1 && strings.EqualFold(strings.TrimSpace(up[0]), "websocket") &&
		headerHasToken(r.Header["Connection"], "upgrade")
}

// withoutUpgrade returns r without its Upgrade header and without the
// upgrade token of Connection: the request as plain HTTP (RFC 9110 §7.8
// lets a server ignore an Upgrade).
func withoutUpgrade(r *http.Request) *http.Request {
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	delete(r.Header, "Upgrade")
	var kept []string
	for _, v := range r.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" && !strings.EqualFold(tok, "upgrade") {
				kept = append(kept, tok)
			}
		}
	}
	delete(r.Header, "Connection")
	if len(kept) > 0 {
		r.Header["Connection"] = []string{strings.Join(kept, ", ")}
	}
	return r
}

// headerHasToken reports whether a comma-separated header has token.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), token) {
				return true
			}
		}
	}
	return false
}

// schemeOf is the scheme the caller used: call.Scheme when the front door
// knows it from configuration (behind a TLS-terminating proxy), else the
// connection's.
func schemeOf(r *http.Request, call *Call) string {
	if call.Scheme != "" {
		return call.Scheme
	}
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// errHeaderTimeout is the cause of a call's context ending at its timeout.
var errHeaderTimeout = errors.New("no response headers within the timeout")

// httpCallKey carries the *httpCall from Invoke to the proxy's hooks.
type httpCallKey struct{}

// httpCall is one Invoke's state, shared with the proxy's hooks (which run
// on Invoke's goroutine; the request body is read on the transport's).
type httpCall struct {
	call            *Call
	assertion       string
	path, rawPath   string
	w               proxyWriter
	timer           *time.Timer
	traced          bool // the upstream gets gatehouse's trace context
	reached         bool // the upstream answered (ModifyResponse ran)
	status          int  // the upstream's status
	targetRequestID string
	err             error // the first error the proxy reported
	bodyErr         atomic.Pointer[bodyError]
}

type bodyError struct{ err error }

func callOf(ctx context.Context) *httpCall {
	c, _ := ctx.Value(httpCallKey{}).(*httpCall)
	return c
}

// rewrite builds the outgoing request; ReverseProxy has already removed
// hop-by-hop headers, those named in Connection, Forwarded and
// X-Forwarded-For/-Host/-Proto.
func (t *HTTPTarget) rewrite(pr *httputil.ProxyRequest) {
	c := callOf(pr.In.Context())
	out := pr.Out
	out.URL = &url.URL{
		Scheme:     t.scheme,
		Host:       t.host,
		Path:       c.path,
		RawPath:    c.rawPath,
		RawQuery:   pr.In.URL.RawQuery, // exactly as sent: the gateway does not route on it
		ForceQuery: pr.In.URL.ForceQuery,
	}
	out.Host = ""
	if out.Body != nil {
		out.Body = &upstreamBody{ReadCloser: out.Body, c: c}
	}
	h := out.Header
	// ReverseProxy put back Connection and Upgrade for a WebSocket
	// upgrade, and "Te: trailers"; the policy decides the rest.
	conn, upgrade, te := h["Connection"], h["Upgrade"], h["Te"]
	t.headers.filter(h)
	if upgrade != nil {
		h["Connection"], h["Upgrade"] = conn, upgrade
	}
	if te != nil {
		h["Te"] = te
	}
	if c.traced {
		withTraceContext(pr.In.Context(), h)
	}
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		h["X-Forwarded-For"] = []string{ip}
	}
	if c.call.Host != "" {
		h["X-Forwarded-Host"] = []string{c.call.Host}
	}
	h["X-Forwarded-Proto"] = []string{schemeOf(pr.In, c.call)}
	p := c.call.Principal
	// One backing array for the values of all the gateway's headers.
	vals := make([]string, 0, 8)
	set := func(name, v string) {
		if safeHeaderValue(v) {
			vals = append(vals, v)
			h[name] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
	set(HeaderAssertion, c.assertion) // checked in Invoke: always set
	set(HeaderSubject, p.Subject)
	set(HeaderTenant, p.Tenant)
	set(HeaderKind, string(p.Kind))
	set(HeaderRole, c.call.Role)
	set(HeaderRoles, rolesHeader(p.Roles))
	set(HeaderAgent, p.Agent())
	set(HeaderRequestID, c.call.RequestID)
}

// modifyResponse runs once the upstream's response headers are in.
func (t *HTTPTarget) modifyResponse(res *http.Response) error {
	c := callOf(res.Request.Context())
	c.reached = true
	c.status = res.StatusCode
	if id := res.Header.Get(HeaderRequestID); len(id) <= 200 {
		c.targetRequestID = id
	}
	if !c.timer.Stop() {
		return errHeaderTimeout // the timeout passed as the headers came in
	}
	// The headers the gateway set before the call win over the
	// upstream's; and ReverseProxy clears w's headers after passing on a
	// 1xx response, so they are put back.
	h := c.w.ResponseWriter.Header()
	for name, v := range c.w.owned {
		delete(res.Header, name)
		h[name] = v
	}
	return nil
}

// errorHandler records the proxy's error; Invoke maps it. It writes
// nothing: the gateway writes error responses.
func (t *HTTPTarget) errorHandler(_ http.ResponseWriter, r *http.Request, err error) {
	if c := callOf(r.Context()); c != nil && c.err == nil {
		c.err = err
	}
}

// mapError turns the proxy's error into the caller's status. parent is
// Invoke's context, ctx the call's own (ended at the timeout).
func (t *HTTPTarget) mapError(parent, ctx context.Context, c *httpCall) *Error {
	err := fmt.Errorf("upstream %s: %w", t.origin, c.err)
	var be *bodyError
	if b := c.bodyErr.Load(); b != nil {
		be = b
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case context.Cause(ctx) == errHeaderTimeout:
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the upstream did not answer in time", err)
	case be != nil && isTimeout(be.err):
		// Before the caller's context: a body that stops arriving ends
		// it too, but the caller is still there to be told.
		return newError(http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time", be.err)
	case errors.Is(parent.Err(), context.Canceled):
		return newError(StatusClientClosedRequest, CodeClientClosedRequest, "client closed request", err)
	case be != nil && errors.As(be.err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "the request body is too large", be.err)
	case be != nil:
		return newError(http.StatusBadRequest, CodeBadRequest, "the request body could not be read", be.err)
	case errors.Is(parent.Err(), context.DeadlineExceeded) || errors.Is(c.err, context.DeadlineExceeded):
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the upstream did not answer in time", err)
	case errors.As(c.err, &ne) && ne.Timeout():
		return newError(http.StatusGatewayTimeout, CodeTimeout, "the upstream did not answer in time", err)
	case c.reached:
		// An answer that cannot be passed on: a protocol switch to
		// something else than was asked for, or a connection that cannot
		// be taken over.
		return newError(http.StatusBadGateway, CodeTargetUnavailable, "the upstream's answer could not be passed on", err)
	}
	return newError(http.StatusBadGateway, CodeTargetUnreachable, "the upstream is unreachable", err)
}

// upstreamBody records a failure to read the caller's request body, so it is
// not blamed on the upstream.
type upstreamBody struct {
	io.ReadCloser
	c *httpCall
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.c.bodyErr.CompareAndSwap(nil, &bodyError{err})
	}
	return n, err
}

// proxyWriter counts the body bytes written to the caller. Unwrap gives
// http.ResponseController (Flush, Hijack for WebSocket) the writer below.
type proxyWriter struct {
	http.ResponseWriter
	owned http.Header // headers set before the call (the gateway's)
	n     int64
}

func (w *proxyWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *proxyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// safeHeaderValue reports whether v is non-empty printable ASCII with no
// leading or trailing space: no control characters (CR, LF, NUL, TAB), no
// DEL, nothing outside ASCII that a server could read another way.
func safeHeaderValue(v string) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// rolesHeader comma-joins the roles that are safe in a comma-separated
// header value; a role with a comma, or one that is not a valid header
// value, is left out rather than let it read as other roles.
func rolesHeader(roles []string) string {
	switch len(roles) {
	case 0:
		return ""
	case 1:
		if safeHeaderValue(roles[0]) && !strings.Contains(roles[0], ",") {
			return roles[0]
		}
		return ""
	}
	var b strings.Builder
	for _, r := range roles {
		if !safeHeaderValue(r) || strings.Contains(r, ",") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r)
	}
	return b.String()
}

// forwardablePath is a last check that the path is in the gateway's canonical
// form: no empty, "." or ".." segment, no '\\', no control characters,
// valid UTF-8. The gateway refuses such requests first (400); this makes
// sure no other caller of the target forwards one.
func forwardablePath(p string) bool {
	if strings.Contains(p, "//") || strings.Contains(p, "\\") || hasCTL(p) || !utf8.ValidString(p) {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// escapeUpstreamPath percent-encodes the bytes of a decoded path that cannot
// appear in a path as they are (RFC 3986 §3.3 pchar and '/'), and ';',
// which some servers read as the start of path parameters. Everything
// else is kept as it is, so a path that needs no encoding is forwarded
// byte for byte, and the upstream decodes exactly p.
func escapeUpstreamPath(p string) string {
	n := 0
	for i := 0; i < len(p); i++ {
		if !pathByteOK(p[i]) {
			n++
		}
	}
	if n == 0 {
		return p
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if pathByteOK(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	return string(b)
}

// pathByteOK reports whether c may appear unencoded in the forwarded path:
// unreserved, sub-delims but ';', ':', '@' and '/'.
func pathByteOK(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,=:@/", c) >= 0
}

// sharedTransport is the Transport of every HTTP target configured without
// one, so targets to one upstream share its connections.
var sharedTransport = sync.OnceValue(func() *http.Transport {
	return &http.Transport{
		Proxy: nil, // the upstream's address comes from configuration only
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		// A proxy passes Content-Encoding through: decompressing would
		// change the response and hold back streamed bodies.
		DisableCompression: true,
	}
})

// proxyBufferSize is the size of the buffers response bodies are copied
// through (ReverseProxy's own default).
const proxyBufferSize = 32 << 10

// proxyBuffers recycles copy buffers, which ReverseProxy would otherwise
// allocate for every response.
var proxyBuffers = &proxyBufferPool{}

type proxyBufferPool struct{ p sync.Pool }

func (b *proxyBufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[proxyBufferSize]byte); ok {
		return buf[:]
	}
	return new([proxyBufferSize]byte)[:]
}

func (b *proxyBufferPool) Put(buf []byte) {
	if len(buf) == proxyBufferSize {
		b.p.Put((*[proxyBufferSize]byte)(buf))
	}
}
