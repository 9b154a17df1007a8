package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// eventLog is a Recorder that tests can wait on: events arrive from
// connection goroutines too.
type eventLog struct {
	mu     sync.Mutex
	events []*audit.Event
	added  chan struct{}
}

func newEventLog() *eventLog { return &eventLog{added: make(chan struct{}, 1024)} }

func (l *eventLog) Record(_ context.Context, ev *audit.Event) error {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	l.added <- struct{}{}
	return nil
}

// wait returns the n-th event (from 1), waiting for it at most 10 s.
func (l *eventLog) wait(t *testing.T, n int) *audit.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		if len(l.events) >= n {
			ev := l.events[n-1]
			l.mu.Unlock()
			return ev
		}
		l.mu.Unlock()
		select {
		case <-l.added:
		case <-deadline:
			t.Fatalf("no event %d recorded", n)
		}
	}
}

// countingTarget answers 200 with the body it read and counts its calls.
type countingTarget struct {
	calls atomic.Int64
	tls   atomic.Bool // the last request came over TLS
}

func (c *countingTarget) Invoke(_ context.Context, w http.ResponseWriter, r *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	c.calls.Add(1)
	c.tls.Store(r.TLS != nil)
	b, _ := io.ReadAll(r.Body)
	w.Write([]byte("read:" + string(b)))
	return &invoke.Outcome{Status: 200}, nil
}

// serveGateway runs a gateway with one route (any method, /r) on a real
// listener through NewServer and Listener; tlsCfg nil means plain HTTP.
func serveGateway(t *testing.T, tlsCfg *tls.Config) (addr string, target *countingTarget, events *eventLog) {
	t.Helper()
	target, events = &countingTarget{}, newEventLog()
	g, err := New(Config{Snapshot: Snapshot{
		Routes: []Route{{ID: "r", Path: "/r", Target: target, TargetName: "r", Action: "invoke",
			Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "r"}}},
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: events}.pipeline(t),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.NewServer(g.Handler())
	srv.ReadHeaderTimeout = time.Second // a slowloris is cut off sooner in tests
	go srv.Serve(g.Listener(ln, tlsCfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), target, events
}

// exchange sends raw bytes on a new connection and returns everything the
// server sends until it closes the connection or stays silent for 2 s.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	return readUntilQuiet(c)
}

func readUntilQuiet(c net.Conn) string {
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

// TestSmuggledRequestRefused: a request with both Content-Length and
// Transfer-Encoding gets 400 and its connection closed (RFC 9112 §6.1);
// what a front proxy reading the Content-Length would take for a second
// request is never served. Before the guard, net/http read the body as
// chunked, served both requests and kept the connection open.
func TestSmuggledRequestRefused(t *testing.T) {
	addr, target, events := serveGateway(t, nil)
	smuggled := "GET /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\n\r\n"
	raw := "POST /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\nContent-Length: " + fmt.Sprint(5+len(smuggled)) +
		"\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
	got := exchange(t, addr, raw)
	if n := strings.Count(got, "HTTP/1.1 "); n != 1 || !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Fatalf("answers:\n%s\nwant exactly one 400 and the connection closed", got)
	}
	if !strings.Contains(strings.ToLower(got), "connection: close") || !strings.Contains(got, "Content-Length and Transfer-Encoding") {
		t.Errorf("400 lacks Connection: close or its reason:\n%s", got)
	}
	if target.calls.Load() != 0 {
		t.Errorf("the target was called %d times", target.calls.Load())
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("the 400 does not parse: %v", err)
	}
	resp.Body.Close()
	reqID := resp.Header.Get("X-Request-Id")
	if reqID == "" {
		t.Error("the 400 has no X-Request-Id")
	}
	want := audit.Event{RequestID: reqID, Decision: audit.DecisionError, Status: 400, ErrorClass: "ambiguous_framing"}
	if diff := testkit.DiffEvent(want, *events.wait(t, 1)); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
	// Either header order, any case, and a Content-Length of 0.
	for _, raw := range []string{
		"POST /r HTTP/1.1\r\nHost: gw\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n",
		"POST /r HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
	} {
		if got := exchange(t, addr, raw); !strings.Contains(got[:min(len(got), 13)], " 400 ") || strings.Count(got, " 400 Bad Request") != 1 {
			t.Errorf("%q answered:\n%s", raw, got)
		}
	}
}

// TestFramingFollowsKeepAlive: well-formed requests of every framing on
// one connection are all served, and the connection stays open.
func TestFramingFollowsKeepAlive(t *testing.T) {
	addr, target, _ := serveGateway(t, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	reqs := []string{
		"POST /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\nContent-Length: 5\r\n\r\nhello",
		"POST /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: v\r\n\r\n",
		"\r\nGET /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\n\r\n", // net/http skips the CRLF after a POST
		"GET /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\nX-Long: " + strings.Repeat("v", 5000) + "\r\n\r\n",
		"POST /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\nContent-Length: 3\r\n\r\nend",
	}
	wantBodies := []string{"read:hello", "read:abc0123456789", "read:", "read:", "read:end"}
	for i, raw := range reqs {
		io.WriteString(c, raw)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != wantBodies[i] || resp.Close {
			t.Fatalf("request %d: %d %q close=%v; want 200 %q on an open connection", i, resp.StatusCode, b, resp.Close, wantBodies[i])
		}
	}
	if target.calls.Load() != int64(len(reqs)) {
		t.Errorf("target called %d times, want %d", target.calls.Load(), len(reqs))
	}
}

// TestServerRefusalsAudited: what net/http refuses before any handler
// runs leaves one event each, with the status the caller got.
func TestServerRefusalsAudited(t *testing.T) {
	addr, target, events := serveGateway(t, nil)
	for i, tc := range []struct {
		name, raw  string
		wantStatus int
		wantClass  string
	}{
		{"oversized headers", "GET /r HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes+8192) + "\r\n\r\n", 431, "request_header_too_large"},
		{"malformed request line", "NOT A REQUEST\r\n\r\n", 400, "malformed_request"},
		{"no Host", "GET /r HTTP/1.1\r\n\r\n", 400, "malformed_request"},
		{"unknown transfer coding", "POST /r HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unsupported_transfer_encoding"},
		{"cut off in the headers", "GET /r HTTP/1.1\r\nHost: g", 0, "incomplete_request"},
	} {
		got := exchange(t, addr, tc.raw)
		if tc.wantStatus != 0 && !strings.HasPrefix(got, fmt.Sprintf("HTTP/1.1 %d ", tc.wantStatus)) {
			t.Errorf("%s: answered %.60q", tc.name, got)
		}
		// net/http answers without a request id: the event has one of its
		// own, whatever it is.
		ev := events.wait(t, i+1)
		if ev.RequestID == "" {
			t.Errorf("%s: event without a request id", tc.name)
		}
		want := audit.Event{RequestID: ev.RequestID, Decision: audit.DecisionError, Status: tc.wantStatus, ErrorClass: tc.wantClass}
		if diff := testkit.DiffEvent(want, *ev); diff != "" {
			t.Errorf("%s: audit event (-want +got):\n%s", tc.name, diff)
		}
	}
	if target.calls.Load() != 0 {
		t.Errorf("the target was called")
	}
	// A connection opened and closed without a byte is no request.
	c, _ := net.Dial("tcp", addr)
	c.Close()
	got := exchange(t, addr, "GET /r HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer t\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
	if err != nil {
		t.Fatalf("after an empty connection, the answer does not parse: %v\n%s", err, got)
	}
	resp.Body.Close()
	want := audit.Event{RequestID: resp.Header.Get("X-Request-Id"), Tenant: "tid-1", Principal: "tid-1/oid-1", PrincipalKind: "user", App: "app-1",
		Action: "invoke", Resource: "function:r", Route: "r", Decision: audit.DecisionAllow, Policies: []string{"rule-1/reader"}, Role: "reader",
		STSSession: "oid-1", Target: "r", Status: 200}
	if diff := testkit.DiffEvent(want, *events.wait(t, 6)); diff != "" {
		t.Errorf("after an empty connection, audit event (-want +got):\n%s", diff)
	}
}

// TestTLSListener: over TLS, HTTP/1.1 is guarded and the target sees the
// TLS state; HTTP/2 is negotiated and served; plain HTTP on the TLS port
// gets 400 and an event.
func TestTLSListener(t *testing.T) {
	borrowed := httptest.NewTLSServer(nil) // for its certificate (127.0.0.1)
	cfg := &tls.Config{Certificates: borrowed.TLS.Certificates}
	pool := x509.NewCertPool()
	pool.AddCert(borrowed.Certificate())
	borrowed.Close()
	addr, target, events := serveGateway(t, cfg)
	for _, h2 := range []bool{false, true} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		req, _ := http.NewRequest("POST", "https://"+addr+"/r", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer t")
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("h2=%v: %v", h2, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] || !target.tls.Load() {
			t.Errorf("h2=%v: %d %s, target saw TLS %v", h2, resp.StatusCode, resp.Proto, target.tls.Load())
		}
	}
	got := exchange(t, addr, "GET /r HTTP/1.1\r\nHost: gw\r\n\r\n")
	if !strings.Contains(got, "400 Bad Request") {
		t.Errorf("plain HTTP to the TLS port: %q", got)
	}
	ev := events.wait(t, 3)
	if ev.RequestID == "" {
		t.Error("event without a request id")
	}
	want := audit.Event{RequestID: ev.RequestID, Decision: audit.DecisionError, Status: 400, ErrorClass: "plain_http_to_tls"}
	if diff := testkit.DiffEvent(want, *ev); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
}

// framingOf feeds raw to a framing in pieces of random sizes.
func framingOf(raw []byte, rng *rand.Rand) *framing {
	f := newFraming()
	for len(raw) > 0 {
		n := 1 + rng.IntN(min(len(raw), 700))
		f.feed(raw[:n])
		raw = raw[n:]
	}
	return f
}

// TestFramingAgreesWithNetHTTP: requests as Go's own client writes them
// (Content-Length and chunked bodies of every size, fed in pieces of any
// size) never look smuggled or lost, and end where net/http ends them.
func TestFramingAgreesWithNetHTTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var wire bytes.Buffer
		n := 1 + rng.IntN(5)
		for range n {
			body := strings.Repeat("b", rng.IntN(3000))
			req, _ := http.NewRequest("POST", "http://gw/r", io.NopCloser(strings.NewReader(body)))
			if rng.IntN(2) == 0 {
				req.ContentLength = int64(len(body))
			} else {
				req.ContentLength = -1 // chunked
			}
			if rng.IntN(3) == 0 {
				req.Header.Set("X-Long", strings.Repeat("h", 300+rng.IntN(500)))
			}
			req.Write(&wire)
		}
		f := framingOf(wire.Bytes(), rng)
		if f.smuggled || f.lost || f.state != inHeaders || !f.first {
			t.Fatalf("case %d: smuggled %v lost %v state %d first %v after %d well-formed requests", i, f.smuggled, f.lost, f.state, f.first, n)
		}
	}
}

func FuzzFraming(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"))
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr := framingOf(raw, rand.New(rand.NewPCG(uint64(len(raw)), 7)))
		if len(fr.line) > maxFramingLine {
			t.Fatalf("line buffer grew to %d", len(fr.line))
		}
	})
}
