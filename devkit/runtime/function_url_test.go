package runtime

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// urlFixture is a host serving function URLs on httptest, without an STS:
// function URLs of auth type NONE need none, while the Invoke API refuses
// every request.
type urlFixture struct {
	host *Host
	logs *logRecorder
	ts   *httptest.Server
}

func newURLFixture(t *testing.T, fns ...Function) *urlFixture {
	t.Helper()
	h, logs := newHost(t, Config{Functions: fns})
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(ts.Close)
	return &urlFixture{host: h, logs: logs, ts: ts}
}

type urlResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request to the function URL path p (from FunctionURLPrefix
// on) with the given headers and body.
func (u *urlFixture) do(t *testing.T, method, p string, header http.Header, body io.Reader) urlResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, u.ts.URL+p, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := u.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, p, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return urlResponse{resp.StatusCode, resp.Header, b}
}

// raw sends a request line exactly as given (no client-side cleaning) and
// returns the status.
func (u *urlFixture) raw(t *testing.T, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(u.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// urlEvent is what testfn's echo answers through a function URL: the
// event, with the members aws-lambda-go's type leaves out.
type urlEvent struct {
	events.LambdaFunctionURLRequest
	RouteKey       string `json:"routeKey"`
	RequestContext struct {
		events.LambdaFunctionURLRequestContext
		RouteKey   string          `json:"routeKey"`
		Stage      string          `json:"stage"`
		Authorizer json.RawMessage `json:"authorizer"`
	} `json:"requestContext"`
}

func decodeEvent(t *testing.T, r urlResponse) urlEvent {
	t.Helper()
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("echo: status %d, Content-Type %q: %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var ev urlEvent
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("echo answered %s: %v", r.body, err)
	}
	return ev
}

// TestFunctionURLEvent: a request to a function URL reaches a real
// lambda.Start function as a function URL event filled as Lambda fills
// it, and the function's plain-JSON answer comes back as the body.
func TestFunctionURLEvent(t *testing.T) {
	t.Parallel()
	u := newURLFixture(t, Function{Name: "testfn", Executable: bin.testfn, URL: true})
	body := `{"action":"echo","k":"v"}`
	hdr := http.Header{
		"Authorization":   {"Bearer abc.def.ghi"},
		"X-Multi":         {"v1", "v2"},
		"Cookie":          {"a=1; b=2", "c=3"},
		"User-Agent":      {"url-test/1"},
		"Content-Type":    {"application/json"},
		"Connection":      {"X-Hop"},
		"X-Hop":           {"gone"},
		"X-Amzn-Trace-Id": {"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"},
	}
	start := time.Now()
	r := u.do(t, http.MethodPost, "/lambda-url/testfn/reports/caf%C3%A9%20au%20lait?x=1&x=2&y=z%20z", hdr, strings.NewReader(body))
	ev := decodeEvent(t, r)
	rc := ev.RequestContext
	id := u.host.FunctionURLID("testfn")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(u.ts.URL, "http://"))

	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || id != u.host.FunctionURLID("testfn") || id == u.host.FunctionURLID("other") {
		t.Errorf("url id %q: want 32 hex digits, stable, one per function", id)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "$default"},
		{"rawPath", ev.RawPath, "/reports/caf%C3%A9%20au%20lait"},
		{"rawQueryString", ev.RawQueryString, "x=1&x=2&y=z%20z"},
		{"queryStringParameters", ev.QueryStringParameters, map[string]string{"x": "1,2", "y": "z z"}},
		{"cookies", ev.Cookies, []string{"a=1", "b=2", "c=3"}},
		{"body", ev.Body, body},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"headers.authorization", ev.Headers["authorization"], "Bearer abc.def.ghi"},
		{"headers.x-multi", ev.Headers["x-multi"], "v1,v2"},
		{"headers.user-agent", ev.Headers["user-agent"], "url-test/1"},
		{"headers.content-type", ev.Headers["content-type"], "application/json"},
		{"headers.content-length", ev.Headers["content-length"], "25"},
		{"headers.host", ev.Headers["host"], strings.TrimPrefix(u.ts.URL, "http://")},
		{"headers.x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
		{"headers.x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"headers.x-forwarded-port", ev.Headers["x-forwarded-port"], port},
		{"headers.x-amzn-trace-id", ev.Headers["x-amzn-trace-id"], "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"},
		{"accountId", rc.AccountID, testAccount},
		{"apiId", rc.APIID, id},
		{"domainName", rc.DomainName, id + ".lambda-url." + testRegion + ".on.aws"},
		{"domainPrefix", rc.DomainPrefix, id},
		{"requestContext.routeKey", rc.RouteKey, "$default"},
		{"stage", rc.Stage, "$default"},
		{"requestId", rc.RequestID, r.header.Get("x-amzn-RequestId")},
		{"http.method", rc.HTTP.Method, "POST"},
		{"http.path", rc.HTTP.Path, "/reports/caf%C3%A9%20au%20lait"},
		{"http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
		{"http.userAgent", rc.HTTP.UserAgent, "url-test/1"},
		{"authorizer", string(rc.Authorizer), ""},
	}
	for _, c := range checks {
		gb, _ := json.Marshal(c.got)
		wb, _ := json.Marshal(c.want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s = %s, want %s", c.what, gb, wb)
		}
	}
	for _, gone := range []string{"cookie", "connection", "x-hop"} {
		if v, ok := ev.Headers[gone]; ok {
			t.Errorf("headers.%s = %q, want it left out", gone, v)
		}
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q is not lower-case", k)
		}
	}
	if rc.RequestID == "" {
		t.Error("no requestId, or no x-amzn-RequestId response header")
	}
	tm, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time)
	if err != nil || !strings.HasSuffix(rc.Time, " +0000") || tm.Unix() != rc.TimeEpoch/1000 ||
		rc.TimeEpoch < start.Add(-time.Second).UnixMilli() || rc.TimeEpoch > time.Now().Add(time.Second).UnixMilli() {
		t.Errorf("time %q, timeEpoch %d: want the request's time, UTC", rc.Time, rc.TimeEpoch)
	}
	for _, null := range []string{`"pathParameters":null`, `"stageVariables":null`} {
		if !bytes.Contains(r.body, []byte(null)) {
			t.Errorf("the event lacks %s: %s", null, r.body)
		}
	}
	if bytes.Contains(r.body, []byte(`"authorizer"`)) {
		t.Errorf("an auth type NONE event has an authorizer: %s", r.body)
	}
	// One invocation through the host's normal path, with the event's
	// request id as the function's.
	u.logs.wait(t, "of the invocation", func(l logRecord) bool {
		return l.Msg == "runtime: invocation" && l.Attrs["request_id"] == rc.RequestID && l.Attrs["function"] == "testfn"
	})
	u.logs.wait(t, "of the function url request", func(l logRecord) bool {
		return l.Msg == "runtime: function url" && l.Attrs["request_id"] == rc.RequestID && l.Attrs["status"] == int64(200)
	})

	t.Run("root and method", func(t *testing.T) {
		for _, p := range []string{"/lambda-url/testfn", "/lambda-url/testfn/"} {
			ev := decodeEvent(t, u.do(t, http.MethodDelete, p, nil, nil))
			if ev.RawPath != "/" || ev.RequestContext.HTTP.Path != "/" || ev.RequestContext.HTTP.Method != "DELETE" ||
				ev.RawQueryString != "" || ev.QueryStringParameters != nil || ev.Cookies != nil || ev.Body != "" {
				t.Errorf("DELETE %s: rawPath %q, method %q, query %q %v, cookies %v, body %q", p, ev.RawPath,
					ev.RequestContext.HTTP.Method, ev.RawQueryString, ev.QueryStringParameters, ev.Cookies, ev.Body)
			}
			if _, ok := ev.Headers["content-length"]; ok {
				t.Errorf("DELETE %s without a body: content-length %q", p, ev.Headers["content-length"])
			}
			if tid := ev.Headers["x-amzn-trace-id"]; !strings.HasPrefix(tid, "Root=1-") {
				t.Errorf("no trace id of the host's: %q", tid)
			}
		}
	})

	t.Run("binary body is base64", func(t *testing.T) {
		bin := []byte{0xff, 0x00, 0xfe, 'x'}
		ev := decodeEvent(t, u.do(t, http.MethodPut, "/lambda-url/testfn/upload", http.Header{"Content-Type": {"application/octet-stream"}}, bytes.NewReader(bin)))
		got, err := base64.StdEncoding.DecodeString(ev.Body)
		if !ev.IsBase64Encoded || err != nil || !bytes.Equal(got, bin) {
			t.Errorf("body %q, isBase64Encoded %v", ev.Body, ev.IsBase64Encoded)
		}
		// Text that is not UTF-8 is binary too.
		ev = decodeEvent(t, u.do(t, http.MethodPost, "/lambda-url/testfn/", http.Header{"Content-Type": {"text/plain"}}, bytes.NewReader([]byte{'a', 0xc3})))
		if !ev.IsBase64Encoded || ev.Body != base64.StdEncoding.EncodeToString([]byte{'a', 0xc3}) {
			t.Errorf("non-UTF-8 text: body %q, isBase64Encoded %v", ev.Body, ev.IsBase64Encoded)
		}
	})
}

// respond is a function URL request body that makes testfn answer resp as
// it is.
func respond(resp string) io.Reader {
	return strings.NewReader(`{"action":"respond","response":` + resp + `}`)
}

// TestFunctionURLResponse: the function's answer is mapped as Lambda maps
// function URL responses: a response object's status, headers, cookies and
// (base64) body, or any other JSON value as a 200 application/json body.
func TestFunctionURLResponse(t *testing.T) {
	t.Parallel()
	u := newURLFixture(t, Function{Name: "testfn", Executable: bin.testfn, URL: true})

	t.Run("response object", func(t *testing.T) {
		r := u.do(t, http.MethodPost, "/lambda-url/testfn/", nil, respond(`{"statusCode":201,
			"headers":{"content-type":"text/plain; charset=utf-8","x-one":"1","x-amzn-requestid":"forged"},
			"cookies":["sid=abc; HttpOnly; Secure","theme=dark; Max-Age=3600"],
			"body":"aGVsbG8gd29ybGQ=","isBase64Encoded":true}`))
		if r.status != 201 || string(r.body) != "hello world" {
			t.Fatalf("status %d body %q", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || r.header.Get("X-One") != "1" {
			t.Errorf("headers %v", r.header)
		}
		if c := r.header.Values("Set-Cookie"); !slices.Equal(c, []string{"sid=abc; HttpOnly; Secure", "theme=dark; Max-Age=3600"}) {
			t.Errorf("Set-Cookie %q", c)
		}
		if id := r.header.Values("X-Amzn-Requestid"); len(id) != 1 || id[0] == "forged" {
			t.Errorf("x-amzn-RequestId %q: the host's, once", id)
		}
	})

	t.Run("text body and status without body", func(t *testing.T) {
		r := u.do(t, http.MethodGet, "/lambda-url/testfn/", nil, respond(`{"statusCode":404,"body":"no such report"}`))
		if r.status != 404 || string(r.body) != "no such report" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("status %d, Content-Type %q, body %q", r.status, r.header.Get("Content-Type"), r.body)
		}
		r = u.do(t, http.MethodGet, "/lambda-url/testfn/", nil, respond(`{"statusCode":204,"headers":{"x-done":"yes"}}`))
		if r.status != 204 || len(r.body) != 0 || r.header.Get("X-Done") != "yes" {
			t.Errorf("status %d, headers %v, body %q", r.status, r.header, r.body)
		}
	})

	t.Run("plain JSON", func(t *testing.T) {
		for _, v := range []string{`{"message":"hi"}`, `"Hello"`, `[1,2,3]`, `42`, `null`} {
			r := u.do(t, http.MethodGet, "/lambda-url/testfn/", nil, respond(v))
			if r.status != 200 || r.header.Get("Content-Type") != "application/json" || string(r.body) != v {
				t.Errorf("answer %s: status %d, Content-Type %q, body %q", v, r.status, r.header.Get("Content-Type"), r.body)
			}
		}
	})

	t.Run("invalid response object", func(t *testing.T) {
		for _, v := range []string{`{"statusCode":99}`, `{"statusCode":200,"body":"!!","isBase64Encoded":true}`, `{"statusCode":"x"}`} {
			r := u.do(t, http.MethodGet, "/lambda-url/testfn/", nil, respond(v))
			if r.status != http.StatusBadGateway || !strings.Contains(string(r.body), "Internal Server Error") {
				t.Errorf("answer %s: status %d %s, want 502", v, r.status, r.body)
			}
		}
	})
}

// TestFunctionURLFailures: function failures and the host's own refusals.
func TestFunctionURLFailures(t *testing.T) {
	t.Parallel()
	u := newURLFixture(t,
		Function{Name: "testfn", Executable: bin.testfn, URL: true},
		Function{Name: "slow", Executable: bin.testfn, URL: true, Timeout: 300 * time.Millisecond},
		Function{Name: "single", Executable: bin.testfn, URL: true, Concurrency: 1, QueueSize: -1},
		Function{Name: "private", Executable: bin.testfn},
	)

	t.Run("function error is 502", func(t *testing.T) {
		for _, action := range []string{"error", "panic", "crash"} {
			r := u.do(t, http.MethodPost, "/lambda-url/testfn/", nil, strings.NewReader(`{"action":"`+action+`"}`))
			if r.status != http.StatusBadGateway || string(r.body) != `{"message":"Internal Server Error"}` {
				t.Errorf("%s: %d %s, want 502", action, r.status, r.body)
			}
			if bytes.Contains(r.body, []byte("boom")) || bytes.Contains(r.body, []byte("kaboom")) {
				t.Errorf("%s: the function's error reached the caller: %s", action, r.body)
			}
		}
		// And the host goes on serving.
		if r := u.do(t, http.MethodGet, "/lambda-url/testfn/", nil, respond(`"ok"`)); r.status != 200 {
			t.Errorf("after the failures: %d %s", r.status, r.body)
		}
	})

	t.Run("timeout is 504", func(t *testing.T) {
		r := u.do(t, http.MethodPost, "/lambda-url/slow/", nil, strings.NewReader(`{"action":"sleep","ms":5000}`))
		if r.status != http.StatusGatewayTimeout {
			t.Errorf("%d %s, want 504", r.status, r.body)
		}
	})

	t.Run("throttled is 429", func(t *testing.T) {
		done := make(chan urlResponse, 1)
		go func() {
			done <- u.do(t, http.MethodPost, "/lambda-url/single/", nil, strings.NewReader(`{"action":"sleep","ms":1000}`))
		}()
		u.logs.wait(t, "of the sleeping invocation", func(l logRecord) bool {
			return l.Attrs["function"] == "single" && output("", "testfn: sleeping")(l)
		})
		r := u.do(t, http.MethodGet, "/lambda-url/single/", nil, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || r.header.Get("X-Amzn-ErrorType") != CodeTooManyRequests {
			t.Errorf("%d %v %s, want 429 with Retry-After", r.status, r.header, r.body)
		}
		if first := <-done; first.status != 200 {
			t.Errorf("the sleeping invocation: %d %s", first.status, first.body)
		}
	})

	t.Run("no such function URL is 404", func(t *testing.T) {
		for _, p := range []string{"/lambda-url/nosuch/", "/lambda-url/private/", "/lambda-url/private", "/lambda-url/", "/lambda-url", "/lambda-url/test%66n/"} {
			r := u.do(t, http.MethodGet, p, nil, nil)
			if r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/json" {
				t.Errorf("GET %s: %d %s, want 404", p, r.status, r.body)
			}
		}
	})

	t.Run("non-canonical path is 400", func(t *testing.T) {
		for _, p := range []string{
			"/lambda-url/testfn/./x", "/lambda-url/testfn/a/../b", "/lambda-url/testfn/..", "/lambda-url/testfn//x",
			"/lambda-url//testfn/", "/lambda-url/testfn/a%2Fb", "/lambda-url/testfn/a%2fb", "/lambda-url/testfn/a%5Cb",
			"/lambda-url/testfn/a\\b", "/lambda-url/testfn/a%25b", "/lambda-url/testfn/%2e%2e/x", "/lambda-url/testfn/a%2E",
			"/lambda-url/testfn/a%00", "/lambda-url/testfn/a;b", "/lambda-url/testfn/%ff",
			"/lambda-url/testfn/a%0a", "/lambda-url/testfn/a%zz",
		} {
			if status := u.raw(t, p); status != http.StatusBadRequest {
				t.Errorf("GET %s: %d, want 400", p, status)
			}
		}
	})

	t.Run("oversized body is 413", func(t *testing.T) {
		big := bytes.Repeat([]byte("a"), MaxSyncPayload+1)
		r := u.do(t, http.MethodPost, "/lambda-url/testfn/", nil, bytes.NewReader(big))
		if r.status != http.StatusRequestEntityTooLarge || r.header.Get("X-Amzn-ErrorType") != CodeRequestTooLarge {
			t.Errorf("Content-Length %d: %d %s, want 413", len(big), r.status, r.body)
		}
		// Without a length (chunked), the limit holds while reading.
		r = u.do(t, http.MethodPost, "/lambda-url/testfn/", nil, io.MultiReader(bytes.NewReader(big)))
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: %d %s, want 413", r.status, r.body)
		}
		// A body within the limit whose event is not (base64 grows it) is
		// refused too, as Lambda refuses the payload.
		bin := bytes.Repeat([]byte{0xff}, 5<<20)
		r = u.do(t, http.MethodPost, "/lambda-url/testfn/", http.Header{"Content-Type": {"application/octet-stream"}}, bytes.NewReader(bin))
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("5 MiB binary: %d %s, want 413", r.status, r.body)
		}
	})

	t.Run("the Invoke API still needs a signature", func(t *testing.T) {
		r := u.do(t, http.MethodPost, "/2015-03-31/functions/testfn/invocations", nil, strings.NewReader(`{}`))
		if r.status != http.StatusForbidden || r.header.Get("X-Amzn-ErrorType") != CodeUnrecognizedClient {
			t.Errorf("unsigned Invoke: %d %s, want 403", r.status, r.body)
		}
	})
}

// TestFunctionURLConcurrent: function URL requests share the function's
// instances with each other, in parallel.
func TestFunctionURLConcurrent(t *testing.T) {
	t.Parallel()
	u := newURLFixture(t, Function{Name: "testfn", Executable: bin.testfn, URL: true, Concurrency: 2})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			q := url.Values{"i": {string(rune('a' + i))}}
			req, _ := http.NewRequest(http.MethodGet, u.ts.URL+"/lambda-url/testfn/n?"+q.Encode(), nil)
			resp, err := u.ts.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var ev urlEvent
			if err := json.NewDecoder(resp.Body).Decode(&ev); err != nil || resp.StatusCode != 200 || ev.QueryStringParameters["i"] != q.Get("i") {
				t.Errorf("request %d: %d %v %v", i, resp.StatusCode, err, ev.QueryStringParameters)
			}
		})
	}
	wg.Wait()
}

// FuzzFunctionURL: whatever a caller sends to a function URL, the path is
// refused (400), not found (404) or turned into an event that encodes and
// decodes to the request's path, query and body; nothing panics. No
// process starts: the only function with a URL, "fn", is reached only
// through functionURLEvent.
func FuzzFunctionURL(f *testing.F) {
	f.Add("/lambda-url/fn/a/b", "x=1&x=2", "X-Multi", "v1", "text/plain", []byte("hello"))
	f.Add("/lambda-url/fn/%2e%2e", "a=%zz", "Cookie", "a=1; ;b", "application/json", []byte{0xff, 0})
	f.Add("/lambda-url//fn", "a;b", "Connection", "x-multi", "", []byte(`{"action":"crash"}`))
	f.Add("/lambda-url/private/caf%C3%A9", "", "Content-Type", "multipart/form-data; boundary=", "bad/", []byte{})
	h, err := New(Config{AccountID: "123456789012", Functions: []Function{
		{Name: "fn", Executable: "no-such-dir/bootstrap", URL: true},
		{Name: "private", Executable: "no-such-dir/bootstrap"},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	handler := h.Handler()
	f.Fuzz(func(t *testing.T, raw, query, hname, hvalue, ctype string, body []byte) {
		req := &http.Request{
			Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: query}, Proto: "HTTP/1.1",
			Header: http.Header{}, Host: "127.0.0.1:9445", RemoteAddr: "127.0.0.1:5000",
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		req.Header[hname] = []string{hvalue}
		req.Header.Set("Content-Type", ctype)

		// The endpoint itself, for paths of functions it never invokes.
		if !strings.HasPrefix(raw, "/lambda-url/fn/") && raw != "/lambda-url/fn" {
			r := req.Clone(req.Context())
			r.RequestURI = FunctionURLPrefix + strings.TrimPrefix(raw, "/lambda-url/")
			if strings.HasPrefix(r.RequestURI, "/lambda-url/fn/") || r.RequestURI == "/lambda-url/fn" {
				return
			}
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if w.Code != http.StatusBadRequest && w.Code != http.StatusNotFound {
				t.Fatalf("%q: status %d", r.RequestURI, w.Code)
			}
			return
		}
		if !canonicalRawPath(raw) {
			return
		}
		rawPath := "/" + strings.TrimPrefix(strings.TrimPrefix(raw, "/lambda-url/fn"), "/")
		ev, e := h.functionURLEvent(req, "fn", rawPath, body, "id", "Root=1-0-0")
		if e != nil {
			if e.status != http.StatusBadRequest {
				t.Fatalf("refusal %d", e.status)
			}
			return
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back events.LambdaFunctionURLRequest
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got := []byte(back.Body)
		if back.IsBase64Encoded {
			if got, err = base64.StdEncoding.DecodeString(back.Body); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("body %q came back as %q", body, got)
		}
		if back.RawPath != rawPath || back.RawQueryString != query || back.RequestContext.HTTP.Path != rawPath {
			t.Fatalf("path %q query %q came back as %q %q", rawPath, query, back.RawPath, back.RawQueryString)
		}
	})
}
