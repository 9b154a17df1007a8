package invoke

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// The tests below run the target the way the gateway does: a real
// net/http server in front (frontServer) whose handler builds the Call and
// calls Invoke, a real ReverseProxy, and an upstream on 127.0.0.1.

const gatewayRequestID = "gw-req-1"

// upstreamRequest is what the upstream received.
type upstreamRequest struct {
	Method     string
	RequestURI string // the request target as it came over the wire
	Path       string // decoded
	Host       string
	Header     http.Header
	Body       string
}

// recordingUpstream answers 200 "ok" and reports every request it gets.
func recordingUpstream(t *testing.T) (*httptest.Server, <-chan upstreamRequest) {
	t.Helper()
	got := make(chan upstreamRequest, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- upstreamRequest{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, Host: r.Host,
			Header: r.Header.Clone(), Body: string(body),
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// testAsserter records the calls and returns an assertion naming its
// inputs, or err.
type testAsserter struct {
	mu    sync.Mutex
	calls []assertCall
	err   error
}

type assertCall struct {
	p              *authn.Principal
	audience, role string
}

func (a *testAsserter) assert(p *authn.Principal, audience, role string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, assertCall{p, audience, role})
	if a.err != nil {
		return "", a.err
	}
	return assertionFor(audience, role), nil
}

func assertionFor(audience, role string) string {
	return "eyJhbGciOiJSUzI1NiJ9.test-assertion." + url.PathEscape(audience) + "." + url.PathEscape(role)
}

func newTestHTTPTarget(t testing.TB, upstream string, mod func(*HTTPConfig)) (*HTTPTarget, *testAsserter) {
	t.Helper()
	a := &testAsserter{}
	cfg := HTTPConfig{URL: upstream, Assert: a.assert, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	target, err := NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return target, a
}

// frontResult is what one Invoke returned.
type frontResult struct {
	call  Call
	oc    *Outcome
	err   error
	wrote bool // the target wrote (part of) a response
}

// gatewayWriter stands for the gateway's own ResponseWriter wrapper: it
// offers Unwrap, not Flush or Hijack, so streaming and WebSocket work only
// through http.ResponseController.
type gatewayWriter struct {
	http.ResponseWriter
	wrote bool
}

func (g *gatewayWriter) WriteHeader(code int) {
	if code >= 200 {
		g.wrote = true
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gatewayWriter) Write(p []byte) (int, error) {
	g.wrote = true
	return g.ResponseWriter.Write(p)
}

func (g *gatewayWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// frontServer serves target as the gateway would: X-Request-Id set first,
// the Call built from the request (RawPath the decoded path), and an
// error response written only when the target wrote nothing.
func frontServer(t *testing.T, target Target, mod func(*Call)) (*httptest.Server, <-chan frontResult) {
	t.Helper()
	results := make(chan frontResult, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", gatewayRequestID)
		call := testCall()
		call.RawPath, call.RequestID = r.URL.Path, gatewayRequestID
		if mod != nil {
			mod(&call)
		}
		gw := &gatewayWriter{ResponseWriter: w}
		oc, err := target.Invoke(r.Context(), gw, r, call)
		res := frontResult{call: call, oc: oc, err: err, wrote: gw.wrote}
		if err != nil && !gw.wrote {
			status := http.StatusInternalServerError
			var ie *Error
			if errors.As(err, &ie) {
				status = ie.Status
				w.Header().Set("X-Error-Reason", ie.Reason)
			}
			w.WriteHeader(status)
		}
		results <- res
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

func get(t *testing.T, client *http.Client, req *http.Request) *http.Response {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// probeFoundHeaders reached upstreams and Lambda events before the
// allow-list (an outside probe found them): frameworks read several of
// them for the client address, host or scheme.
var probeFoundHeaders = []string{
	"Client-Ip", "X-Original-Host", "X-Host", "X-Appengine-User-Email", "X-Appengine-User-Id",
	"OIDC_CLAIM_email", "oidc_claim_sub", "X-Jwt-Assertion", "X-Jwt-Assertion-Wso2", "X-Id-Token",
	"X-Access-Token", "X-Scheme", "X-Url-Scheme", "Front-End-Https", "X-Originating-IP",
	"X-Envoy-External-Address", "X-Envoy-Original-Path", "Fly-Client-IP", "X-Azure-ClientIP", "X-Gatehouse",
	"X_Gatehouse",
}

func TestHTTPTargetStripsSpoofedIdentityHeaders(t *testing.T) {
	up, seen := recordingUpstream(t)
	target, asserter := newTestHTTPTarget(t, up.URL, func(c *HTTPConfig) { c.PassHeaders = []string{"X-Custom"} })
	front, results := frontServer(t, target, func(c *Call) { c.Host = "gateway.example.test" })

	spoofed := []string{
		"X-Gatehouse-Subject", "x_gatehouse_subject", "X-GATEHOUSE-TENANT", "x-gatehouse-role",
		"X_Gatehouse_Roles", "X-Gatehouse-Agent", "X-Gatehouse-Assertion", "x_gatehouse_assertion",
		"X-Gatehouse-Anything", "X-Forwarded-For", "x_forwarded_for", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Access-Token",
		"X-Forwarded-Preferred-Username", "X-Forwarded-Client-Cert", "Forwarded", "X-Real-Ip",
		"X-Client-Ip", "True-Client-Ip", "X-Original-Forwarded-For", "X-Amzn-Oidc-Identity",
		"x_amzn_oidc_data", "X-Amzn-Oidc-Accesstoken", "Authorization", "authorization",
		"Proxy-Authorization", "Remote-User", "remote_user", "X-Remote-User", "X-Remote-Group",
		"X-User", "X-User-Id", "X-Email", "X-Goog-Authenticated-User-Email", "X-Goog-Iap-Jwt-Assertion",
		"X-Pomerium-Jwt-Assertion", "X-Auth-Request-User", "X-Auth-Request-Email", "X-Ms-Client-Principal",
		"X-Ms-Client-Principal-Name", "X-Ms-Token-Aad-Id-Token", "Cf-Access-Authenticated-User-Email",
		"Cf-Access-Jwt-Assertion", "X-Apigateway-Api-Userinfo", "X-Endpoint-Api-Userinfo", "X-Request-Id",
		"x_request_id", "X-Ssl-Client-Cert", "X-Client-Cert", "Ssl-Client-Verify", "X-Original-Url",
		"X-Http-Method-Override",
	}
	spoofed = append(spoofed, probeFoundHeaders...)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports/42", nil)
	for _, name := range spoofed {
		req.Header[name] = []string{"spoofed"} // exactly as spelt, not canonicalised
	}
	// Connection names the gateway's header, trying to have the proxy
	// delete it as hop-by-hop.
	req.Header["Connection"] = []string{"keep-alive, X-Gatehouse-Assertion, X-Gatehouse-Subject, X-Request-Id"}
	req.Header.Set("Cookie", "sid=abc")
	req.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	req.Header.Set("X-Custom", "kept")
	res := get(t, front.Client(), req)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", res.StatusCode)
	}
	got := receive(t, seen, "upstream request")
	r := receive(t, results, "Invoke result")

	for name, values := range got.Header {
		for _, v := range values {
			if strings.Contains(v, "spoofed") {
				t.Errorf("upstream got %s: %q from the caller", name, v)
			}
		}
	}
	p := r.call.Principal
	want := map[string]string{
		"X-Gatehouse-Assertion": assertionFor(up.URL, r.call.Role),
		"X-Gatehouse-Subject":   p.Subject,
		"X-Gatehouse-Tenant":    p.Tenant,
		"X-Gatehouse-Kind":      "user",
		"X-Gatehouse-Role":      "reports-reader",
		"X-Gatehouse-Roles":     "Reader",
		"X-Gatehouse-Agent":     "agent-app",
		"X-Request-Id":          gatewayRequestID,
		"X-Forwarded-For":       "127.0.0.1",
		"X-Forwarded-Host":      "gateway.example.test",
		"X-Forwarded-Proto":     "http",
		"Cookie":                "sid=abc",
		"X-Amzn-Trace-Id":       "Root=1-5759e988-bd862e3fe1be46a994272793",
		"X-Custom":              "kept",
	}
	for name, v := range want {
		if gotV := got.Header.Values(name); len(gotV) != 1 || gotV[0] != v {
			t.Errorf("upstream %s = %q, want [%q]", name, gotV, v)
		}
	}
	for _, name := range []string{"Authorization", "Connection", "Proxy-Authorization"} {
		if v, ok := got.Header[name]; ok {
			t.Errorf("upstream got %s: %q", name, v)
		}
	}
	if got.Host != strings.TrimPrefix(up.URL, "http://") {
		t.Errorf("upstream Host = %q, want the upstream's %q", got.Host, up.URL)
	}

	// The assertion is the Asserter's, for the call's principal, the
	// target's audience (the upstream's origin) and the role granted.
	asserter.mu.Lock()
	defer asserter.mu.Unlock()
	if len(asserter.calls) != 1 {
		t.Fatalf("Asserter called %d times, want once", len(asserter.calls))
	}
	if c := asserter.calls[0]; c.p != p || c.audience != up.URL || c.role != "reports-reader" {
		t.Errorf("Assert(%p, %q, %q), want (%p, %q, %q)", c.p, c.audience, c.role, p, up.URL, "reports-reader")
	}
}

func TestHTTPTargetStripList(t *testing.T) {
	for _, entry := range strippedRequestHeaders {
		name, prefix := strings.CutSuffix(entry, "*")
		variants := []string{name, strings.ToLower(name), strings.ToUpper(name), strings.ReplaceAll(name, "-", "_"),
			strings.ReplaceAll(strings.ToLower(name), "-", "_")}
		if prefix {
			variants = append(variants, name+"-Anything", strings.ToLower(name)+"_x")
		}
		for _, v := range variants {
			if !strippedHeader(v) {
				t.Errorf("%q (for %s) is kept", v, entry)
			}
		}
	}
	for _, kept := range []string{
		"Cookie", "X-Amzn-Trace-Id", "Content-Type", "Accept", "User-Agent", "X-Custom", "Traceparent",
		"Authorizationx", "X-Emails", "Sec-Websocket-Key", "X-Amzn-Requestid",
		"X-Request-Ids", strings.Repeat("x", 200),
	} {
		if strippedHeader(kept) {
			t.Errorf("%q is stripped", kept)
		}
	}
	// Long names are matched by prefix.
	if !strippedHeader("X-Gatehouse-" + strings.Repeat("a", 200)) {
		t.Error("a long X-Gatehouse- header is kept")
	}
}

func TestHTTPTargetPathAndQuery(t *testing.T) {
	tests := []struct {
		name     string
		base     string // the upstream URL's path
		target   string // the request target the caller sends
		wantURI  string // the request target the upstream receives
		wantPath string // ... decoded
	}{
		{"plain", "", "/reports/42", "/reports/42", "/reports/42"},
		{"base path prefix", "/api/v1", "/reports/42", "/api/v1/reports/42", "/api/v1/reports/42"},
		{"base path with trailing slash", "/api/v1/", "/reports/42", "/api/v1/reports/42", "/api/v1/reports/42"},
		{"root", "/api", "/", "/api/", "/api/"},
		{"query kept as sent", "", "/r?b=2&a=1&a=3", "/r?b=2&a=1&a=3", "/r"},
		{"query ReverseProxy would clean", "/api", "/r?a=1;b=2&c=%zz&d=%20+x", "/api/r?a=1;b=2&c=%zz&d=%20+x", "/api/r"},
		{"empty query", "", "/r?", "/r?", "/r"},
		{"encoded characters", "/api", "/a%20b/caf%C3%A9/q%3Fx%23y", "/api/a%20b/caf%C3%A9/q%3Fx%23y", "/api/a b/café/q?x#y"},
		{"sub-delims as sent", "", "/it's/(1)*!$&+,=:@~", "/it's/(1)*!$&+,=:@~", "/it's/(1)*!$&+,=:@~"},
		{"unreserved sent encoded", "", "/%41%7E", "/A~", "/A~"},
		{"semicolon stays encoded", "", "/a%3Bb", "/a%3Bb", "/a;b"},
		{"encoded base path", "/a%20b", "/c", "/a%20b/c", "/a b/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, seen := recordingUpstream(t)
			target, _ := newTestHTTPTarget(t, up.URL+tt.base, nil)
			front, results := frontServer(t, target, nil)
			req, _ := http.NewRequestWithContext(testContext(t), "POST", front.URL, strings.NewReader("body"))
			req.URL.Opaque = tt.target[:strings.IndexAny(tt.target+"?", "?")] // sent exactly
			if i := strings.IndexByte(tt.target, '?'); i >= 0 {
				req.URL.RawQuery = tt.target[i+1:]
				req.URL.ForceQuery = i == len(tt.target)-1
			}
			res := get(t, front.Client(), req)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			got := receive(t, seen, "upstream request")
			r := receive(t, results, "Invoke result")
			if got.RequestURI != tt.wantURI || got.Path != tt.wantPath {
				t.Errorf("upstream got %q (path %q), want %q (path %q); the gateway matched %q",
					got.RequestURI, got.Path, tt.wantURI, tt.wantPath, r.call.RawPath)
			}
			if got.Method != "POST" || got.Body != "body" {
				t.Errorf("upstream got %s with body %q", got.Method, got.Body)
			}
		})
	}
}

func TestHTTPTargetRefusesNonCanonicalPaths(t *testing.T) {
	up, seen := recordingUpstream(t)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	for _, p := range []string{"/a/../b", "/a/./b", "/..", "//a", "/a//b", "/a\\b", "/a\x00b", "/a\nb", "/a\xffb"} {
		call := testCall()
		call.RawPath = p
		rec := httptest.NewRecorder()
		_, err := target.Invoke(t.Context(), rec, testRequest("GET", "http://gw/x", nil), call)
		var ie *Error
		if !errors.As(err, &ie) || ie.Status != http.StatusBadRequest {
			t.Errorf("RawPath %q: err = %v, want a 400 *Error", p, err)
		}
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || len(rec.Header()) != 0 {
			t.Errorf("RawPath %q: something was written", p)
		}
	}
	for _, p := range []string{"", "relative"} {
		call := testCall()
		call.RawPath = p
		var ie *Error
		if _, err := target.Invoke(t.Context(), httptest.NewRecorder(), testRequest("GET", "http://gw/x", nil), call); err == nil || errors.As(err, &ie) {
			t.Errorf("RawPath %q: err = %v, want a plain error (the caller's programming error)", p, err)
		}
	}
	call := testCall()
	call.Principal = nil
	if _, err := target.Invoke(t.Context(), httptest.NewRecorder(), testRequest("GET", "http://gw/x", nil), call); err == nil {
		t.Error("no principal: no error")
	}
	select {
	case r := <-seen:
		t.Errorf("upstream got %s", r.RequestURI)
	default:
	}
}

func TestHTTPTargetResponse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Request-Id", "upstream-req-7")
		h.Set("Content-Type", "application/json")
		h.Set("X-Upstream", "yes")
		h.Set("X-Hop", "secret")
		h.Set("Connection", "X-Hop")
		h.Add("Set-Cookie", "a=1")
		h.Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":42}`))
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports", nil)
	res := get(t, front.Client(), req)
	body, _ := io.ReadAll(res.Body)
	r := receive(t, results, "Invoke result")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if res.StatusCode != http.StatusCreated || string(body) != `{"id":42}` {
		t.Errorf("caller got %d %q", res.StatusCode, body)
	}
	if got := res.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != gatewayRequestID {
		t.Errorf("caller's X-Request-Id = %q, want only the gateway's", got)
	}
	if res.Header.Get("X-Upstream") != "yes" || res.Header.Get("Content-Type") != "application/json" ||
		len(res.Header.Values("Set-Cookie")) != 2 {
		t.Errorf("upstream headers not passed on: %v", res.Header)
	}
	if v := res.Header.Get("X-Hop"); v != "" {
		t.Errorf("a header the upstream named in Connection reached the caller: %q", v)
	}
	want := &Outcome{Status: http.StatusCreated, TargetRequestID: "upstream-req-7", Bytes: int64(len(body))}
	if diff := cmp.Diff(want, r.oc); diff != "" {
		t.Errorf("Outcome (-want +got):\n%s", diff)
	}
}

// TestHTTPTargetEarlyHints: ReverseProxy clears the writer's headers after
// passing on a 1xx answer; the gateway's X-Request-Id still reaches the
// caller with the final response.
func TestHTTPTargetEarlyHints(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Write([]byte("done"))
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/page", nil)
	res := get(t, front.Client(), req)
	body, _ := io.ReadAll(res.Body)
	receive(t, results, "Invoke result")
	if res.StatusCode != http.StatusOK || string(body) != "done" {
		t.Errorf("caller got %d %q", res.StatusCode, body)
	}
	if got := res.Header.Get("X-Request-Id"); got != gatewayRequestID {
		t.Errorf("X-Request-Id after a 103 = %q, want %q", got, gatewayRequestID)
	}
}

func TestHTTPTargetServerSentEvents(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 1\ndata: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "id: 2\ndata: second\n\n")
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	res := get(t, front.Client(), req)
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := bufio.NewReader(res.Body)
	readEvent := func() string {
		var ev strings.Builder
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v (so far %q)", err, ev.String())
			}
			if line == "\n" {
				return ev.String()
			}
			ev.WriteString(line)
		}
	}
	// The upstream has not sent the second event yet: the first one
	// arrived on its own.
	if ev := readEvent(); ev != "id: 1\ndata: first\n" {
		t.Errorf("first event %q", ev)
	}
	close(next)
	if ev := readEvent(); ev != "id: 2\ndata: second\n" {
		t.Errorf("second event %q", ev)
	}
	if _, err := events.ReadByte(); err != io.EOF {
		t.Errorf("after the last event: %v, want EOF", err)
	}
	if r := receive(t, results, "Invoke result"); r.err != nil || r.oc.Status != http.StatusOK || r.oc.Bytes != 39 {
		t.Errorf("Invoke = %+v, %v; want 200 and 39 bytes", r.oc, r.err)
	}
}

func TestHTTPTargetChunkedStreaming(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"n":1}`+"\n")
		http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, `{"n":2}`+"\n")
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, _ := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/stream", nil)
	res := get(t, front.Client(), req)
	if len(res.TransferEncoding) != 1 || res.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %v, want chunked", res.TransferEncoding)
	}
	lines := bufio.NewReader(res.Body)
	if line, err := lines.ReadString('\n'); err != nil || line != `{"n":1}`+"\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	close(next)
	if line, err := lines.ReadString('\n'); err != nil || line != `{"n":2}`+"\n" {
		t.Fatalf("second chunk %q, %v", line, err)
	}
}

func TestHTTPTargetStreamsRequestBody(t *testing.T) {
	gotFirst := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, len("part one;"))
		if _, err := io.ReadFull(r.Body, buf); err != nil || string(buf) != "part one;" {
			http.Error(w, "bad first part", http.StatusBadRequest)
			return
		}
		close(gotFirst)
		rest, _ := io.ReadAll(r.Body)
		io.WriteString(w, string(buf)+string(rest))
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, _ := frontServer(t, target, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(testContext(t), "PUT", front.URL+"/upload", pr)
	done := make(chan *http.Response, 1)
	go func() {
		res, err := front.Client().Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- res
	}()
	io.WriteString(pw, "part one;")
	// The upstream reads the first part while the caller has not sent the
	// rest: the body is streamed, not buffered.
	receive(t, gotFirst, "first part at the upstream")
	io.WriteString(pw, "part two")
	pw.Close()
	res := receive(t, done, "response")
	if res == nil {
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if string(body) != "part one;part two" {
		t.Errorf("upstream echoed %q", body)
	}
}

func TestHTTPTargetWebSocket(t *testing.T) {
	handshake := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handshake <- r.Header.Clone()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	ctx := testContext(t)
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer caller-token"}, "X-Gatehouse-Subject": {"spoofed"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if got := res.Header.Get("X-Request-Id"); got != gatewayRequestID {
		t.Errorf("handshake X-Request-Id = %q, want the gateway's", got)
	}
	h := receive(t, handshake, "handshake at the upstream")
	if h.Get("Authorization") != "" || h.Get("X-Gatehouse-Subject") != "oid-1" || h.Get("X-Gatehouse-Assertion") == "" {
		t.Errorf("handshake headers at the upstream: %v", h)
	}
	for _, msg := range []string{"hello", "again"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != websocket.MessageText || string(got) != "echo: "+msg {
			t.Errorf("read %v %q, want the echo of %q", typ, got, msg)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	r := receive(t, results, "Invoke result")
	if r.err != nil || r.oc == nil || r.oc.Status != http.StatusSwitchingProtocols {
		t.Errorf("Invoke = %+v, %v; want 101", r.oc, r.err)
	}
}

// TestHTTPTargetUpstreamFailsMidStream: when the upstream breaks off a
// response that has started, the caller's response is aborted too (not
// ended as if complete), and the log says so.
func TestHTTPTargetUpstreamFailsMidStream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the upstream's connection breaks
	}))
	t.Cleanup(up.Close)
	var logs syncBuffer
	target, _ := newTestHTTPTarget(t, up.URL, func(c *HTTPConfig) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	front, _ := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/stream", nil)
	res := get(t, front.Client(), req)
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Errorf("the caller read %q and a clean end; want the response aborted", body)
	}
	if string(body) != "partial" {
		t.Errorf("the caller read %q before the abort, want %q", body, "partial")
	}
	if !strings.Contains(logs.String(), "response cut short") || !strings.Contains(logs.String(), gatewayRequestID) {
		t.Errorf("log = %q, want the cut-short response with its request id", logs.String())
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHTTPTargetHTTP2Upstream: an https upstream that speaks HTTP/2 gets
// the request over HTTP/2, with the gateway's headers.
func TestHTTPTargetHTTP2Upstream(t *testing.T) {
	seen := make(chan upstreamRequest, 1)
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- upstreamRequest{Method: r.Proto, RequestURI: r.RequestURI, Header: r.Header.Clone()}
		io.WriteString(w, "over h2")
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL+"/api", func(c *HTTPConfig) { c.Transport = up.Client().Transport })
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports?x=1", nil)
	req.Header.Set("X_Gatehouse_Subject", "spoofed")
	res := get(t, front.Client(), req)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(body) != "over h2" {
		t.Errorf("caller got %d %q", res.StatusCode, body)
	}
	got := receive(t, seen, "upstream request")
	if got.Method != "HTTP/2.0" || got.RequestURI != "/api/reports?x=1" {
		t.Errorf("upstream got %s %s, want HTTP/2.0 /api/reports?x=1", got.Method, got.RequestURI)
	}
	if got.Header.Get("X-Gatehouse-Subject") != "oid-1" || got.Header.Get("X-Gatehouse-Assertion") == "" {
		t.Errorf("upstream headers %v", got.Header)
	}
	for name, v := range got.Header {
		if slices.Contains(v, "spoofed") {
			t.Errorf("upstream got %s: %q", name, v)
		}
	}
	receive(t, results, "Invoke result")
}

func TestHTTPTargetUpstreamDown(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	addr := up.URL
	up.Close() // nothing listens there now
	target, _ := newTestHTTPTarget(t, addr, nil)
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports", nil)
	res := get(t, front.Client(), req)
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusBadGateway || ie.Code != CodeTargetUnreachable {
		t.Fatalf("Invoke error = %v, want a 502 %s", r.err, CodeTargetUnreachable)
	}
	if r.wrote || r.oc != nil {
		t.Errorf("wrote = %v, Outcome = %+v; want nothing written and no Outcome", r.wrote, r.oc)
	}
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("caller got %d", res.StatusCode)
	}
	host := strings.TrimPrefix(addr, "http://")
	if strings.Contains(ie.Reason, host) || strings.Contains(ie.Reason, "127.0.0.1") {
		t.Errorf("Reason %q names the upstream's address", ie.Reason)
	}
	if !strings.Contains(ie.Err.Error(), host) {
		t.Errorf("Err %q does not name the upstream for the log", ie.Err)
	}
}

func TestHTTPTargetTimeout(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	target, _ := newTestHTTPTarget(t, up.URL, func(c *HTTPConfig) { c.Timeout = 100 * time.Millisecond })
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/slow", nil)
	res := get(t, front.Client(), req)
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusGatewayTimeout || ie.Code != CodeTimeout {
		t.Fatalf("Invoke error = %v, want a 504 %s", r.err, CodeTimeout)
	}
	if r.wrote || r.oc != nil || res.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("wrote = %v, Outcome = %+v, caller got %d; want nothing written by the target", r.wrote, r.oc, res.StatusCode)
	}
	if calls.Load() != 1 {
		t.Errorf("upstream called %d times, want once (no retry)", calls.Load())
	}
}

// TestHTTPTargetTimeoutIsToHeaders: a body that streams for longer than
// the timeout is not cut.
func TestHTTPTargetTimeoutIsToHeaders(t *testing.T) {
	const timeout = 50 * time.Millisecond
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start;")
		http.NewResponseController(w).Flush()
		<-time.After(4 * timeout) // the rest comes well after the timeout
		io.WriteString(w, "end")
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, func(c *HTTPConfig) { c.Timeout = timeout })
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/long", nil)
	res := get(t, front.Client(), req)
	body, err := io.ReadAll(res.Body)
	if err != nil || string(body) != "start;end" {
		t.Errorf("body %q, %v; want the whole stream", body, err)
	}
	if r := receive(t, results, "Invoke result"); r.err != nil {
		t.Errorf("Invoke: %v", r.err)
	}
}

func TestHTTPTargetAssertFailure(t *testing.T) {
	up, seen := recordingUpstream(t)
	target, asserter := newTestHTTPTarget(t, up.URL, nil)
	asserter.err = errors.New("signing key unavailable")
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports", nil)
	res := get(t, front.Client(), req)
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusBadGateway || ie.Code != CodeAssertionFailed {
		t.Fatalf("Invoke error = %v, want a 502 %s", r.err, CodeAssertionFailed)
	}
	if !errors.Is(r.err, asserter.err) {
		t.Errorf("Err %v does not wrap the Asserter's error", ie.Err)
	}
	if r.wrote || r.oc != nil || res.StatusCode != http.StatusBadGateway {
		t.Errorf("wrote = %v, Outcome = %+v, caller got %d", r.wrote, r.oc, res.StatusCode)
	}
	select {
	case got := <-seen:
		t.Errorf("the upstream was called without an assertion: %s", got.RequestURI)
	default:
	}
}

// TestHTTPTargetUnsafeHeaderValues: identity values that cannot be sent
// as header values safely are left out (the assertion still carries
// them); the request goes through.
func TestHTTPTargetUnsafeHeaderValues(t *testing.T) {
	up, seen := recordingUpstream(t)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, _ := frontServer(t, target, func(c *Call) {
		p := *c.Principal
		p.Subject = "oid-1\r\nX-Injected: yes"
		p.Tenant = "tenant-é"
		p.Kind = " user"
		p.Roles = []string{"Reader", "Admin,Owner", "Writer\x00", " Lead", "Auditor"}
		p.Actors = []authn.Actor{{Subject: "agent\tx", Via: authn.ActorViaAct}}
		c.Principal = &p
		c.Role = "role\x7f"
	})
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports", nil)
	if res := get(t, front.Client(), req); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	got := receive(t, seen, "upstream request")
	for _, name := range []string{"X-Gatehouse-Subject", "X-Gatehouse-Tenant", "X-Gatehouse-Kind", "X-Gatehouse-Role", "X-Gatehouse-Agent", "X-Injected"} {
		if v, ok := got.Header[name]; ok {
			t.Errorf("upstream got %s: %q", name, v)
		}
	}
	if v := got.Header.Get("X-Gatehouse-Roles"); v != "Reader,Auditor" {
		t.Errorf("X-Gatehouse-Roles = %q, want only the roles safe in a list", v)
	}
	if got.Header.Get("X-Gatehouse-Assertion") == "" {
		t.Error("no assertion")
	}
}

func TestHTTPTargetCallerGone(t *testing.T) {
	arrived := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	ctx, cancel := context.WithCancel(testContext(t))
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/reports", nil)
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := front.Client().Do(req); err == nil {
		t.Fatal("request not cancelled")
	}
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != StatusClientClosedRequest || r.wrote {
		t.Errorf("Invoke error = %v (wrote %v), want %d with nothing written", r.err, r.wrote, StatusClientClosedRequest)
	}
}

func TestHTTPTargetRequestBodyOverLimit(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		io.WriteString(w, "read it all")
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	results := make(chan frontResult, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8) // as a gateway body limit would
		call := testCall()
		call.RawPath = r.URL.Path
		gw := &gatewayWriter{ResponseWriter: w}
		oc, err := target.Invoke(r.Context(), gw, r, call)
		results <- frontResult{oc: oc, err: err, wrote: gw.wrote}
	}))
	t.Cleanup(front.Close)
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "more than eight bytes")
		pw.Close()
	}()
	req, _ := http.NewRequestWithContext(testContext(t), "POST", front.URL+"/upload", pr)
	if res, err := front.Client().Do(req); err == nil {
		res.Body.Close()
	}
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusRequestEntityTooLarge || r.wrote {
		t.Errorf("Invoke error = %v (wrote %v), want 413 with nothing written", r.err, r.wrote)
	}
}

// TestHTTPTargetUpgradeAllowList: only a WebSocket handshake may switch
// protocols. Any other Upgrade (h2c, TLS, a malformed one, several) is
// dropped before the upstream sees it: the request goes on as plain HTTP,
// and an upstream that answers 101 anyway is refused (502), so no tunnel
// can carry requests past the gateway's checks.
func TestHTTPTargetUpgradeAllowList(t *testing.T) {
	for _, tt := range []struct {
		name       string
		method     string
		upgrade    []string
		connection string
		passed     bool
	}{
		{"websocket", "GET", []string{"websocket"}, "Upgrade", true},
		{"websocket any case", "GET", []string{"WebSocket"}, "keep-alive, upgrade", true},
		{"h2c", "GET", []string{"h2c"}, "Upgrade, HTTP2-Settings", false},
		{"h2c on a POST", "POST", []string{"h2c"}, "Upgrade", false},
		{"tls", "GET", []string{"TLS/1.2"}, "Upgrade", false},
		{"websocket on a POST", "POST", []string{"websocket"}, "Upgrade", false},
		{"websocket and h2c", "GET", []string{"websocket, h2c"}, "Upgrade", false},
		{"two Upgrade headers", "GET", []string{"websocket", "h2c"}, "Upgrade", false},
		{"not printable", "GET", []string{"web\x80socket"}, "Upgrade", false},
		{"websocket without Connection: upgrade", "GET", []string{"websocket"}, "keep-alive", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up, seen := recordingUpstream(t)
			target, _ := newTestHTTPTarget(t, up.URL, nil)
			req := testRequest(tt.method, "http://gw/ws", nil)
			req.Header["Connection"] = []string{tt.connection}
			req.Header["Upgrade"] = tt.upgrade
			req.Header.Set("Http2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
			call := testCall()
			call.RawPath = "/ws"
			if _, err := target.Invoke(t.Context(), httptest.NewRecorder(), req, call); err != nil && tt.passed {
				t.Fatalf("Invoke: %v", err)
			}
			got := receive(t, seen, "upstream request")
			if up := got.Header.Values("Upgrade"); tt.passed != (len(up) == 1 && strings.EqualFold(up[0], "websocket")) {
				t.Errorf("upstream Upgrade = %q, want passed %v", up, tt.passed)
			}
			if !tt.passed && len(got.Header.Values("Upgrade")) > 0 {
				t.Errorf("upstream got Upgrade %q", got.Header.Values("Upgrade"))
			}
			if v := got.Header.Get("Http2-Settings"); v != "" {
				t.Errorf("upstream got HTTP2-Settings %q", v)
			}
			if got.Method != tt.method {
				t.Errorf("upstream method %s, want %s", got.Method, tt.method)
			}
		})
	}
}

// An upstream that switches protocols although no upgrade reached it
// (it reads the request as h2c whatever the headers say) gets 502, and
// its 101 never reaches the caller.
func TestHTTPTargetRefusesUnaskedSwitch(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "h2c")
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	t.Cleanup(up.Close)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	front, results := frontServer(t, target, nil)
	req, _ := http.NewRequestWithContext(testContext(t), "GET", front.URL+"/reports/42", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "h2c")
	res := get(t, front.Client(), req)
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusBadGateway || res.StatusCode != http.StatusBadGateway {
		t.Errorf("Invoke error = %v, caller got %d; want 502", r.err, res.StatusCode)
	}
}

func TestHTTPTargetAudience(t *testing.T) {
	up, _ := recordingUpstream(t)
	for _, tt := range []struct{ url, audience, want string }{
		{up.URL + "/api/v1", "", up.URL},
		{up.URL, "api://reports", "api://reports"},
	} {
		target, asserter := newTestHTTPTarget(t, tt.url, func(c *HTTPConfig) { c.Audience = tt.audience })
		rec := httptest.NewRecorder()
		if _, err := target.Invoke(t.Context(), rec, testRequest("GET", "http://gw/x", nil), testCall()); err != nil {
			t.Fatal(err)
		}
		if got := asserter.calls[0].audience; got != tt.want {
			t.Errorf("URL %s, Audience %q: asserted for %q, want %q", tt.url, tt.audience, got, tt.want)
		}
	}
}

func TestNewHTTPChecksConfig(t *testing.T) {
	assert := (&testAsserter{}).assert
	bad := []struct {
		name string
		cfg  HTTPConfig
	}{
		{"no URL", HTTPConfig{Assert: assert}},
		{"not http", HTTPConfig{URL: "ftp://files.internal", Assert: assert}},
		{"no host", HTTPConfig{URL: "http:///path", Assert: assert}},
		{"port only", HTTPConfig{URL: "http://:8080", Assert: assert}},
		{"relative", HTTPConfig{URL: "/api", Assert: assert}},
		{"user info", HTTPConfig{URL: "https://svc:hunter2@reports.internal", Assert: assert}},
		{"query", HTTPConfig{URL: "https://reports.internal/?a=1", Assert: assert}},
		{"empty query", HTTPConfig{URL: "https://reports.internal/?", Assert: assert}},
		{"fragment", HTTPConfig{URL: "https://reports.internal/#x", Assert: assert}},
		{"dot segment", HTTPConfig{URL: "https://reports.internal/a/../b", Assert: assert}},
		{"double slash", HTTPConfig{URL: "https://reports.internal//a", Assert: assert}},
		{"encoded slash", HTTPConfig{URL: "https://reports.internal/a%2Fb", Assert: assert}},
		{"unparsable, with a password", HTTPConfig{URL: "https://svc:hunter2@reports.internal/%zz", Assert: assert}},
		{"no Asserter", HTTPConfig{URL: "https://reports.internal"}},
		{"negative timeout", HTTPConfig{URL: "https://reports.internal", Assert: assert, Timeout: -time.Second}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			target, err := NewHTTP(tt.cfg)
			if err == nil {
				t.Fatalf("NewHTTP = %v, want an error", target)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:8080", "https://reports.internal/api/v1/", "HTTPS://Reports.Internal", "http://[::1]:9000/x"} {
		if _, err := NewHTTP(HTTPConfig{URL: u, Assert: assert}); err != nil {
			t.Errorf("NewHTTP(%q) = %v", u, err)
		}
	}
	target, _ := NewHTTP(HTTPConfig{URL: "https://reports.internal:8443/api", Assert: assert})
	if target.audience != "https://reports.internal:8443" || target.timeout != DefaultTimeout || !target.Streams() {
		t.Errorf("defaults: audience %q, timeout %v, streams %v", target.audience, target.timeout, target.Streams())
	}
	if tr, ok := target.proxy.Transport.(*http.Transport); !ok || tr.MaxIdleConnsPerHost < 256 || tr.IdleConnTimeout != 90*time.Second || !tr.ForceAttemptHTTP2 || tr.Proxy != nil {
		t.Errorf("default transport %+v", target.proxy.Transport)
	}
}

func TestEscapeUpstreamPath(t *testing.T) {
	for _, p := range []string{"/", "/a b", "/café", "/q?x#y", "/50%", "/a;b", "/it's(1)*!$&+,=:@~", "/[x]{y}|^`\"<>", "/\x01\xff"} {
		esc := escapeUpstreamPath(p)
		u := &url.URL{Path: p, RawPath: esc}
		if u.EscapedPath() != esc {
			t.Errorf("escapeUpstreamPath(%q) = %q, which net/url does not take as the encoding of the path (it sends %q)", p, esc, u.EscapedPath())
		}
		if dec, err := url.PathUnescape(esc); err != nil || dec != p {
			t.Errorf("escapeUpstreamPath(%q) = %q, which decodes to %q, %v", p, esc, dec, err)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing, for the benchmark.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkHTTPTarget is one proxied request to a trivial upstream over a
// kept-alive connection, with an Asserter that returns a constant (as the
// cached mint.Issuer.Assertion does after a token's first request).
func BenchmarkHTTPTarget(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	b.Cleanup(up.Close)
	const assertion = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJvaWQtMSJ9.c2lnbmF0dXJl"
	target, err := NewHTTP(HTTPConfig{
		URL:    up.URL + "/api",
		Assert: func(*authn.Principal, string, string) (string, error) { return assertion, nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	call := testCall()
	req := httptest.NewRequest("GET", "http://gateway.example/reports/42?expand=1", nil)
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.h.Set("X-Request-Id", gatewayRequestID)
		oc, err := target.Invoke(req.Context(), w, req, call)
		if err != nil || oc.Status != http.StatusOK {
			b.Fatal(oc, err)
		}
	}
}

func BenchmarkHTTPTargetParallel(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	b.Cleanup(up.Close)
	target, err := NewHTTP(HTTPConfig{
		URL:    up.URL,
		Assert: func(*authn.Principal, string, string) (string, error) { return "eyJ.e30.sig", nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		call := testCall()
		req := httptest.NewRequest("GET", "http://gateway.example/reports/42", nil)
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			if _, err := target.Invoke(req.Context(), w, req, call); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkHTTPTargetBareReverseProxy is the same request through a plain
// ReverseProxy on the same transport, for reading BenchmarkHTTPTarget: the
// difference is the target's own cost.
func BenchmarkHTTPTargetBareReverseProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	b.Cleanup(up.Close)
	u, _ := url.Parse(up.URL + "/api")
	proxy := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() },
		Transport:  sharedTransport(),
		BufferPool: proxyBuffers,
	}
	req := httptest.NewRequest("GET", "http://gateway.example/reports/42?expand=1", nil)
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.h.Set("X-Request-Id", gatewayRequestID)
		proxy.ServeHTTP(w, req)
	}
}

// A request body that stops arriving until the server's read timeout gets
// 408 Request Timeout, not a non-standard 499 (the caller is still there).
func TestHTTPTargetSlowBodyIs408(t *testing.T) {
	up, _ := recordingUpstream(t)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	results := make(chan frontResult, 1)
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call := testCall()
		call.RawPath = r.URL.Path
		oc, err := target.Invoke(r.Context(), &gatewayWriter{ResponseWriter: w}, r, call)
		results <- frontResult{oc: oc, err: err}
	}))
	front.Config.ReadTimeout = 300 * time.Millisecond
	front.Start()
	t.Cleanup(front.Close)
	conn, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Ten bytes announced, three sent, then nothing.
	io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nabc")
	r := receive(t, results, "Invoke result")
	var ie *Error
	if !errors.As(r.err, &ie) || ie.Status != http.StatusRequestTimeout || ie.Code != CodeRequestTimeout {
		t.Errorf("Invoke error = %v, want 408 %s", r.err, CodeRequestTimeout)
	}
}

// The Lambda target's body read: a read deadline is 408 too.
func TestReadBodyTimeoutIs408(t *testing.T) {
	r := httptest.NewRequest("POST", "/x", io.MultiReader(strings.NewReader("abc"), timeoutReader{}))
	_, err := readBody(httptest.NewRecorder(), r, 1<<20)
	var ie *Error
	if !errors.As(err, &ie) || ie.Status != http.StatusRequestTimeout {
		t.Errorf("readBody error = %v, want 408", err)
	}
}

type timeoutReader struct{}

func (timeoutReader) Read([]byte) (int, error) { return 0, os.ErrDeadlineExceeded }
