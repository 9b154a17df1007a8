package upstream_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/devkit/upstream"
	"github.com/gatehouse-dev/gatehouse/mint"
)

const (
	testIdP    = "https://login.example/2e3fd419-1fb6-41f4-a9a1-60531a867149/v2.0"
	testTenant = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	testUser   = "2d4acc68-9d83-4609-a6f0-96e989303d16"
	testApp    = "992ebcd3-3449-4a98-88ed-901221c068d6"
	testAgent  = "8f5c3767-7276-4be0-b5db-808ab516452c"
)

// rig is the upstream on 127.0.0.1 with a real authn.Verifier for
// gatehouse's real issuer (mint.Issuer), whose discovery document and
// JWKS another loopback server serves over TLS, as the gateway does.
type rig struct {
	t        *testing.T
	srv      *httptest.Server
	issuer   *mint.Issuer
	audience string // the upstream's origin
}

// serveIssuer serves a new gatehouse issuer at path on a TLS server.
func serveIssuer(t *testing.T, path string) (*mint.Issuer, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	iss, err := mint.NewIssuer(mint.Config{URL: srv.URL + path})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(path+"/", iss.Handler())
	return iss, srv
}

func newRig(t *testing.T, withVerifier bool) *rig {
	t.Helper()
	iss, issSrv := serveIssuer(t, "/gatehouse")
	g := &rig{t: t, issuer: iss}
	var h http.Handler
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(g.srv.Close)
	g.audience = g.srv.URL
	cfg := upstream.Config{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	if withVerifier {
		v, err := authn.NewVerifier(authn.Config{
			Issuers: []authn.IssuerConfig{{
				Name: "gatehouse", Type: authn.TypeOIDC, Issuer: iss.URL(), Audiences: []string{g.audience},
				Types: []string{"JWT"}, Claims: authn.ClaimNames{Tenant: "tid"},
			}},
			HTTPClient: issSrv.Client(),
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Verifier = v
	}
	h = upstream.Handler(cfg)
	return g
}

// principal is a verified caller: alice, through the CLI, with an agent
// acting for her.
func principal(now time.Time) *authn.Principal {
	return &authn.Principal{
		IssuerName: "dev", Issuer: testIdP, Subject: testUser, Tenant: testTenant, Kind: authn.KindUser, App: testApp,
		Roles: []string{"Functions.Reader"}, Scopes: []string{"access_as_user"},
		Actors:  []authn.Actor{{Subject: testAgent, App: testAgent, Via: authn.ActorViaAct}},
		TokenID: "uti-1", Expiry: now.Add(time.Hour),
	}
}

// assertion is what the gateway sends for principal under role reader,
// issued by iss (the rig's issuer when nil) for audience ("" = the rig's)
// at now.
func (g *rig) assertion(iss *mint.Issuer, audience string, now time.Time) string {
	g.t.Helper()
	if iss == nil {
		iss = g.issuer
	}
	if audience == "" {
		audience = g.audience
	}
	tok, err := iss.Assertion(principal(now), audience, "reader", now)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

func (g *rig) good() string { return g.assertion(nil, "", time.Now()) }

func (g *rig) do(method, path string, body io.Reader, header http.Header) (*http.Response, []byte) {
	g.t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, body)
	if err != nil {
		g.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return resp, b
}

func (g *rig) describe(header http.Header) (upstream.Description, string) {
	g.t.Helper()
	resp, b := g.do(http.MethodGet, "/up/items?x=1&y=%20", nil, header)
	if resp.StatusCode != http.StatusOK {
		g.t.Fatalf("status %d, body %s", resp.StatusCode, b)
	}
	var d upstream.Description
	if err := json.Unmarshal(b, &d); err != nil {
		g.t.Fatalf("body is not a description: %v\n%s", err, b)
	}
	return d, string(b)
}

func TestDescribeVerifiedIdentity(t *testing.T) {
	g := newRig(t, true)
	a := g.good()
	d, raw := g.describe(http.Header{
		"X-Gatehouse-Assertion": {a},
		"X-Gatehouse-Route":     {"bench-upstream"},
		"X-Request-Id":          {"req-1"},
		"X-Forwarded-For":       {"192.0.2.7"},
		"X-Forwarded-Proto":     {"https"},
		"X-Forwarded-Host":      {"127.0.0.1:9480"},
		"Cookie":                {"session=secret-cookie"},
		"Authorization":         {"Bearer caller-token"},
	})
	if d.Method != "GET" || d.Path != "/up/items" || d.RawQuery != "x=1&y=%20" {
		t.Errorf("method, path, query = %q %q %q", d.Method, d.Path, d.RawQuery)
	}
	id := d.Identity
	if id == nil || id.Error != "" {
		t.Fatalf("identity = %+v, want verified", id)
	}
	if id.Subject != testUser || id.Tenant != testTenant || id.Role != "reader" || id.Agent != testAgent ||
		id.Issuer != g.issuer.URL() || id.IdP != testIdP || id.App != testApp || id.Kind != "user" {
		t.Errorf("identity = %+v", id)
	}
	if id.Audience != g.audience || id.Expiry == nil || id.Claims["jti"] == nil || len(id.Roles) != 1 || len(id.Scopes) != 1 {
		t.Errorf("audience %v, expiry %v, claims %v", id.Audience, id.Expiry, id.Claims)
	}
	want := map[string]string{
		"X-Gatehouse-Assertion": "present", "X-Gatehouse-Route": "bench-upstream", "X-Request-Id": "req-1",
		"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "127.0.0.1:9480",
	}
	for k, v := range want {
		if got := d.Headers[k]; len(got) != 1 || got[0] != v {
			t.Errorf("headers[%s] = %q, want %q", k, got, v)
		}
	}
	if len(d.Headers) != len(want) {
		t.Errorf("headers = %v, want only the gateway-set ones", d.Headers)
	}
	if d.Authorization != "present" {
		t.Errorf("authorization = %q, want present", d.Authorization)
	}
	for _, secret := range []string{a, "caller-token", "secret-cookie"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the description echoes %q", secret[:10])
		}
	}
}

func TestDescribeRefusedAssertion(t *testing.T) {
	g := newRig(t, true)
	// Same URL, other keys: what a forged or stale issuer would sign.
	forger, err := mint.NewIssuer(mint.Config{URL: g.issuer.URL()})
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := serveIssuer(t, "/elsewhere")
	tests := []struct {
		name      string
		header    http.Header
		wantCheck string
		wantError string
	}{
		{name: "no assertion", header: http.Header{}, wantError: "no X-Gatehouse-Assertion header"},
		{name: "two assertions", header: http.Header{"X-Gatehouse-Assertion": {g.good(), g.good()}}, wantError: "several"},
		{name: "another upstream's", header: http.Header{"X-Gatehouse-Assertion": {g.assertion(nil, "http://127.0.0.1:1", time.Now())}}, wantCheck: "aud"},
		{name: "expired", header: http.Header{"X-Gatehouse-Assertion": {g.assertion(nil, "", time.Now().Add(-time.Hour))}}, wantCheck: "exp"},
		{name: "another issuer", header: http.Header{"X-Gatehouse-Assertion": {g.assertion(stranger, "", time.Now())}}, wantCheck: "iss"},
		{name: "unknown signing key", header: http.Header{"X-Gatehouse-Assertion": {g.assertion(forger, "", time.Now())}}, wantCheck: "kid"},
		{name: "not a JWT", header: http.Header{"X-Gatehouse-Assertion": {"not-a-jwt"}}, wantCheck: "format"},
		{name: "huge", header: http.Header{"X-Gatehouse-Assertion": {strings.Repeat("a", 20<<10)}}, wantError: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := g.describe(tt.header)
			id := d.Identity
			if id == nil || id.Error == "" || id.Subject != "" {
				t.Fatalf("identity = %+v, want an error", id)
			}
			if id.Check != tt.wantCheck {
				t.Errorf("check = %q (%s), want %q", id.Check, id.Error, tt.wantCheck)
			}
			if !strings.Contains(id.Error, tt.wantError) {
				t.Errorf("error = %q, want it to contain %q", id.Error, tt.wantError)
			}
		})
	}
}

func TestDescribeWithoutVerifier(t *testing.T) {
	g := newRig(t, false)
	d, _ := g.describe(http.Header{"X-Gatehouse-Assertion": {g.good()}})
	if d.Identity == nil || !strings.Contains(d.Identity.Error, "no verifier") {
		t.Errorf("identity = %+v, want the missing verifier named", d.Identity)
	}
	if d.Authorization != "absent" {
		t.Errorf("authorization = %q, want absent", d.Authorization)
	}
}

func TestDescribeBoundsWhatItReads(t *testing.T) {
	g := newRig(t, true)
	resp, b := g.do(http.MethodPost, "/anything", strings.NewReader(strings.Repeat("é", 1<<20)), http.Header{
		"X-Gatehouse-Odd": {"\xff\xfe bad utf-8", strings.Repeat("v", 5000)},
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var d upstream.Description
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if d.Body == nil || d.Body.Bytes != 1<<20 || !d.Body.Truncated {
		t.Errorf("body = %+v, want 1 MiB read and truncated", d.Body)
	}
	if n := len(d.Body.Preview); n == 0 || n > 1<<10 || strings.ContainsRune(d.Body.Preview, '\uFFFD') {
		t.Errorf("preview of %d bytes, cut mid-rune: %q", n, d.Body.Preview[max(0, n-8):])
	}
	odd := d.Headers["X-Gatehouse-Odd"]
	if len(odd) != 2 || len(odd[1]) > 1100 || !strings.Contains(odd[0], "\uFFFD") {
		t.Errorf("odd header shown as %q", odd)
	}
}

// readEvents reads server-sent events until the stream ends or stop says so.
func readEvents(t *testing.T, r io.Reader, stop func(n int) bool) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if name != "tick" {
				t.Errorf("event name %q, want tick", name)
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
				t.Fatalf("event data: %v", err)
			}
			out = append(out, ev)
			if stop != nil && stop(len(out)) {
				return out
			}
		}
	}
	return out
}

func TestEvents(t *testing.T) {
	g := newRig(t, true)
	req, _ := http.NewRequest(http.MethodGet, g.srv.URL+"/api/events?n=4&interval=1ms", nil)
	req.Header.Set("X-Gatehouse-Assertion", g.good())
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	evs := readEvents(t, resp.Body, nil)
	if len(evs) != 4 {
		t.Fatalf("%d events, want 4", len(evs))
	}
	for i, ev := range evs {
		if ev["seq"] != float64(i+1) || ev["of"] != float64(4) {
			t.Errorf("event %d = %v", i, ev)
		}
	}
	first, _ := evs[0]["request"].(map[string]any)
	id, _ := first["identity"].(map[string]any)
	if id["subject"] != testUser {
		t.Errorf("first event's identity = %v, want subject %s", id, testUser)
	}
	if _, ok := evs[1]["request"]; ok {
		t.Errorf("the request is repeated on later events")
	}
}

// TestEventsFlushEach reads the first event of a stream whose second is
// seconds away: it arrives only if each event is flushed as written.
func TestEventsFlushEach(t *testing.T) {
	g := newRig(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.srv.URL+"/events?n=2&interval=5s", nil)
	resp, err := g.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readEvents(t, resp.Body, func(n int) bool { return n == 1 })
	if len(evs) != 1 || ctx.Err() != nil {
		t.Fatalf("got %d events before the deadline (%v), want the first at once", len(evs), ctx.Err())
	}
}

func TestEventsBadParameters(t *testing.T) {
	g := newRig(t, false)
	for _, q := range []string{"n=0", "n=101", "n=abc", "n=1e3", "n=-1", "interval=6s", "interval=-1ms", "interval=soon", "n=99999999999999999999"} {
		resp, b := g.do(http.MethodGet, "/events?"+q, nil, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "want") {
			t.Errorf("%s: status %d, body %s; want 400 naming the limit", q, resp.StatusCode, b)
		}
	}
	resp, _ := g.do(http.MethodPost, "/events", strings.NewReader("x"), nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") == "" {
		t.Errorf("POST /events: status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = g.do(http.MethodHead, "/events", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD /events: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestWebSocketEcho(t *testing.T) {
	g := newRig(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	h := http.Header{"X-Gatehouse-Assertion": {g.good()}}
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.srv.URL, "http")+"/chat/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	for _, m := range []struct {
		typ  websocket.MessageType
		data []byte
	}{{websocket.MessageText, []byte("hello")}, {websocket.MessageBinary, []byte{0, 1, 2, 255}}, {websocket.MessageText, []byte(strings.Repeat("x", 60<<10))}} {
		if err := c.Write(ctx, m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if typ != m.typ || string(got) != string(m.data) {
			t.Errorf("echo = %v %d bytes, want %v %d bytes", typ, len(got), m.typ, len(m.data))
		}
	}
	// A message over the limit closes the connection with 1009.
	if err := c.Write(ctx, websocket.MessageBinary, make([]byte, 65<<10)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("after an oversized message: %v, want close status 1009", err)
	}
}

func TestWebSocketOrigin(t *testing.T) {
	g := newRig(t, false)
	url := "ws" + strings.TrimPrefix(g.srv.URL, "http") + "/ws"
	tests := []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"no origin (not a browser)", http.Header{}, true},
		{"same host", http.Header{"Origin": {g.srv.URL}}, true},
		{"the gateway's origin", http.Header{"Origin": {"https://127.0.0.1:9480"}, "X-Forwarded-Host": {"127.0.0.1:9480"}}, true},
		{"another site", http.Header{"Origin": {"https://evil.example"}, "X-Forwarded-Host": {"127.0.0.1:9480"}}, false},
		{"a wildcard forwarded host", http.Header{"Origin": {"https://evil.example"}, "X-Forwarded-Host": {"*"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: tt.header})
			if (err == nil) != tt.ok {
				t.Fatalf("dial err = %v, want ok %v", err, tt.ok)
			}
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
	// A plain GET of /ws is a failed handshake, not a crash.
	resp, _ := g.do(http.MethodGet, "/ws", nil, nil)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("plain GET /ws: status %d, want a 4xx", resp.StatusCode)
	}
}

// TestOddRequests sends what no client library would, on a raw connection.
func TestOddRequests(t *testing.T) {
	g := newRig(t, true)
	addr := strings.TrimPrefix(g.srv.URL, "http://")
	for _, raw := range []string{
		"GET /%ff%00/events?n=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
		"BREW /pot?interval=1h HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Assertion: a.b.c\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 99\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",
		"GET /x HTTP/1.1\r\nHost: x\r\nX-Gatehouse-Assertion: \x01\x02\r\n\r\n",
	} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c, raw)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, c)
		c.Close()
	}
	// Still serving.
	d, _ := g.describe(http.Header{"X-Gatehouse-Assertion": {g.good()}})
	if d.Identity.Subject != testUser {
		t.Errorf("after odd requests: identity %+v", d.Identity)
	}
}
