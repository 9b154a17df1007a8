package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// seenRequest is what the hostile upstream received.
type seenRequest struct {
	Method string
	Path   string
	Proto  string
	Header http.Header
}

// h2cUpstream is an HTTP service that switches any request carrying
// "Upgrade: h2c" to HTTP/2, without insisting on the HTTP2-Settings
// connection option (which a proxy drops as hop-by-hop), and serves what
// comes through the tunnel. It records every request it sees.
type h2cUpstream struct {
	mu   sync.Mutex
	seen []seenRequest
	url  string
}

func newH2CUpstream(t *testing.T) *h2cUpstream {
	t.Helper()
	u := &h2cUpstream{}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, seenRequest{r.Method, r.URL.Path, r.Proto, r.Header.Clone()})
		u.mu.Unlock()
		w.Write([]byte("upstream answered " + r.Method + " over " + r.Proto))
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
			record(w, r)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		rw.Flush()
		// From here on the connection speaks HTTP/2 (the client's preface
		// first), served by net/http's own HTTP/2 server.
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tunnel := &http.Server{Handler: record, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
		tunnel.Serve(&oneConnListener{conn: conn, done: make(chan struct{})})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	u.url = "http://" + ln.Addr().String()
	return u
}

// oneConnListener hands out one connection, then waits until closed.
type oneConnListener struct {
	conn net.Conn
	once sync.Once
	done chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.conn.LocalAddr() }

func (u *h2cUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seenRequest(nil), u.seen...)
}

// startDevWithUpstream runs `gatehouse dev` with the api route proxying to
// upstreamURL.
func startDevWithUpstream(t *testing.T, upstreamURL string) *devProcess {
	t.Helper()
	cfg, _, _ := run(t, "", "dev", "--print-config")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.ReplaceAll(cfg, "package: examples/", "package: "+filepath.Join(root, "examples")+"/")
	cfg = strings.Replace(cfg, "        url: dev\n", "        url: "+upstreamURL+"\n", 1)
	// A body that stops arriving is cut off sooner than the default 30 s.
	cfg = strings.Replace(cfg, "\ngateway:\n", "\ngateway:\n  read_timeout: 3s\n", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDevConfig(t, filepath.Join(dir, "state"), path)
}

// rawTLS opens a TLS connection to the dev gateway speaking HTTP/1.1 only.
func rawTLS(t *testing.T, d *devProcess) *tls.Conn {
	t.Helper()
	pem, err := os.ReadFile(d.ready.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u, _ := url.Parse(d.ready.Gateway)
	c, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// TestH2CTunnelRefused: a read-only user asks an HTTP-upstream route to
// upgrade to h2c. Before the fix the upstream's 101 came back and HTTP/2
// requests inside the tunnel (a DELETE with a forged X-Gatehouse-Subject)
// reached the upstream with no authentication, policy or audit. Now the
// Upgrade never reaches the upstream: the request is served as plain
// HTTP/1.1, and nothing else travels on that connection unchecked.
func TestH2CTunnelRefused(t *testing.T) {
	up := newH2CUpstream(t)
	d := startDevWithUpstream(t, up.url)
	bob := token(t, d.stateDir, "--user", "bob") // reads the api route, may not write

	c := rawTLS(t, d)
	fmt.Fprintf(c, "GET /api/items HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"+
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", bob)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The tunnel is open: show what gets through it, HTTP/2 over the
		// connection the gateway switched.
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p, DialContext: func(context.Context, string, string) (net.Conn, error) { return c, nil }}
		req, _ := http.NewRequest("DELETE", "http://gw/api/items/1", nil)
		req.Header.Set("X-Gatehouse-Subject", "admin")
		if r2, err := tr.RoundTrip(req); err == nil {
			io.Copy(io.Discard, r2.Body)
			r2.Body.Close()
		}
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if resp.StatusCode != 200 {
		t.Errorf("GET with Upgrade: h2c answered %d, want 200 as plain HTTP/1.1", resp.StatusCode)
	}
	for _, r := range up.requests() {
		if r.Method != "GET" || r.Proto != "HTTP/1.1" || r.Header.Get("Upgrade") != "" || r.Header.Get("Http2-Settings") != "" {
			t.Errorf("the upstream received %s %s over %s with Upgrade %q", r.Method, r.Path, r.Proto, r.Header.Get("Upgrade"))
		}
		if v := r.Header.Get("X-Gatehouse-Subject"); v == "admin" {
			t.Errorf("a forged X-Gatehouse-Subject reached the upstream")
		}
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("the upstream received %d requests, want 1", n)
	}

	// The same on a Lambda route, and on a function URL of the local host:
	// no switch of protocol.
	for _, target := range []string{d.ready.Gateway + "/whoami", d.ready.Lambda + "/lambda-url/protected/"} {
		u, _ := url.Parse(target)
		c := rawTLSTo(t, d, u.Host)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", u.Path, bob)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSwitchingProtocols {
			t.Errorf("%s switched protocols", target)
		}
	}
}

func rawTLSTo(t *testing.T, d *devProcess, host string) *tls.Conn {
	t.Helper()
	pem, _ := os.ReadFile(d.ready.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", host, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// TestGatewayHardening drives the built gateway with what an outside probe
// tried: smuggling by Content-Length and Transfer-Encoding, a slow body,
// requests net/http refuses by itself, metrics on the public listener,
// identity and host headers the caller made up.
func TestGatewayHardening(t *testing.T) {
	up := newH2CUpstream(t)
	d := startDevWithUpstream(t, up.url)
	bob := token(t, d.stateDir, "--user", "bob")

	// Content-Length with Transfer-Encoding: 400, and the connection
	// closed, so the "body" is never read as a second request.
	c := rawTLS(t, d)
	smuggled := "DELETE /api/items/1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + bob + "\r\n\r\n"
	fmt.Fprintf(c, "POST /api/items HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
		bob, 5+len(smuggled), smuggled)
	all, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(all), "HTTP/1.1 400 ") || strings.Count(string(all), "HTTP/1.1 ") != 1 {
		t.Errorf("Content-Length with Transfer-Encoding: got\n%s\nwant one 400, then the connection closed", all)
	}

	// A body that stops arriving: 408 at the read timeout, not 499.
	c = rawTLS(t, d)
	fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n{\"mess", bob)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("slow body: %d, want 408", resp.StatusCode)
	}

	// Oversized headers: net/http answers 431 by itself; the trail has it.
	c = rawTLS(t, d)
	fmt.Fprintf(c, "GET /whoami HTTP/1.1\r\nHost: gw\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 80<<10))
	if b, _ := io.ReadAll(c); !strings.HasPrefix(string(b), "HTTP/1.1 431 ") {
		t.Errorf("oversized headers: %.40q", b)
	}

	// Metrics: not on the public listener; on the admin listener.
	gc := gatewayClient(t, d)
	if r := call(t, gc, "GET", d.ready.Gateway+"/metrics", "", ""); r.status != 404 || strings.Contains(r.body, "gatehouse_") {
		t.Errorf("public /metrics: %d %.60s", r.status, r.body)
	}
	var ready map[string]string
	b, _ := os.ReadFile(filepath.Join(d.stateDir, "endpoints.json"))
	json.Unmarshal(b, &ready)
	admin := ready["admin"]
	if !strings.HasPrefix(admin, "http://127.0.0.1:") {
		t.Fatalf("admin listener %q, want loopback", admin)
	}
	if r := call(t, &http.Client{Timeout: 10 * time.Second}, "GET", admin+"/metrics", "", ""); r.status != 200 || !strings.Contains(r.body, "gatehouse_requests_total") {
		t.Errorf("admin /metrics: %d %.60s", r.status, r.body)
	}

	// Spoofed identity, address, scheme and host headers never arrive;
	// X-Forwarded-Host is the gateway's public host, not the caller's.
	req, _ := http.NewRequest("GET", d.ready.Gateway+"/api/items", nil)
	req.Header.Set("Authorization", "Bearer "+bob)
	req.Host = "evil.example"
	for _, h := range []string{"Client-Ip", "X-Original-Host", "X-Host", "X-Appengine-User-Email", "OIDC_CLAIM_email",
		"X-Jwt-Assertion", "X-Id-Token", "X-Access-Token", "X-Scheme", "X-Url-Scheme", "Front-End-Https",
		"X-Originating-IP", "X-Envoy-External-Address", "Fly-Client-IP", "X-Azure-ClientIP", "X-Gatehouse", "X-Made-Up"} {
		req.Header[h] = []string{"spoofed"}
	}
	resp, err = gc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/items: %d", resp.StatusCode)
	}
	reqs := up.requests()
	last := reqs[len(reqs)-1]
	for name, vs := range last.Header {
		for _, v := range vs {
			if strings.Contains(v, "spoofed") {
				t.Errorf("the upstream got %s: %s", name, v)
			}
		}
	}
	gwURL, _ := url.Parse(d.ready.Gateway)
	if got := last.Header.Get("X-Forwarded-Host"); got != gwURL.Host {
		t.Errorf("X-Forwarded-Host = %q, want the gateway's own %q", got, gwURL.Host)
	}

	// The trail: the smuggling attempt, the slow body and the 431, each
	// with its status and class, and no target named for refusals.
	if r := call(t, gc, "GET", d.ready.Gateway+"/whoami", "", ""); r.status != 401 {
		t.Errorf("no token: %d", r.status)
	}
	out, errOut, code := run(t, "", "audit", "query", "--state-dir", d.stateDir, "--format", "json", "--limit", "0")
	if code != 0 {
		t.Fatalf("audit query: %s", errOut)
	}
	type event struct {
		Route, Target string
		Status        int
		ErrorClass    string `json:"error_class"`
	}
	var events []event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit query line %q: %v", line, err)
		}
		events = append(events, ev)
	}
	for _, want := range []event{
		{Status: 400, ErrorClass: "ambiguous_framing"},
		{Route: "echo", Target: "echo", Status: 408, ErrorClass: "target:request_timeout"},
		{Status: 431, ErrorClass: "request_header_too_large"},
		{Route: "whoami", Status: 401, ErrorClass: "invalid_request"}, // no target: nothing was invoked
	} {
		found := false
		for _, ev := range events {
			found = found || ev == want
		}
		if !found {
			t.Errorf("the trail lacks %+v:\n%s", want, out)
		}
	}
}
