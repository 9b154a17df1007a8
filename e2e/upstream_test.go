package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

const aliceOID = "2d4acc68-9d83-4609-a6f0-96e989303d16"

// upstreamView is what the development upstream says it received.
type upstreamView struct {
	Method        string              `json:"method"`
	Path          string              `json:"path"`
	RawQuery      string              `json:"raw_query"`
	Headers       map[string][]string `json:"headers"`
	Authorization string              `json:"authorization"`
	Identity      struct {
		Error   string `json:"error"`
		Subject string `json:"subject"`
		Tenant  string `json:"tenant"`
		Role    string `json:"role"`
	} `json:"identity"`
}

// TestGatewayUpstream: the dev configuration's HTTP upstream route. The
// upstream gets the caller's identity only as gatehouse's signed assertion
// (which it verifies with gatehouse's published keys), never the caller's
// token or identity headers the caller made up; streams and WebSockets
// pass through; policy decides per method.
func TestGatewayUpstream(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	c := gatewayClient(t, d)
	gw := d.ready.Gateway
	alice, bob, dave := token(t, state, "--user", "alice"), token(t, state, "--user", "bob"), token(t, state, "--user", "dave")

	req, _ := http.NewRequest("GET", gw+"/api/reports/7?page=2&q=a%20b", nil)
	req.Header.Set("Authorization", "Bearer "+bob)
	for k, v := range map[string]string{
		"X-Gatehouse-Subject": "admin", "X-Gatehouse-Role": "operator", "X-Gatehouse-Assertion": "forged",
		"X-Forwarded-For": "10.9.9.9", "X-Forwarded-Host": "admin.internal", "Forwarded": "for=10.9.9.9",
		"X-Amzn-Oidc-Identity": "admin", "Remote-User": "admin", "X-Request-Id": "mine",
		"Connection": "X-Gatehouse-Assertion, X-Gatehouse-Subject",
	} {
		req.Header.Set(k, v)
	}
	req.Header["x_gatehouse_subject"] = []string{"admin"}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var v upstreamView
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bob GET /api/reports/7: %d %v", resp.StatusCode, err)
	}
	const bobOID = "1ee840e4-61de-4634-b1e6-1e29799b084f"
	if v.Identity.Error != "" || v.Identity.Subject != bobOID || v.Identity.Tenant != d.ready.Tenant {
		t.Errorf("the upstream's verified identity: %+v, want bob", v.Identity)
	}
	if v.Path != "/api/reports/7" || v.RawQuery != "page=2&q=a%20b" || v.Authorization != "absent" {
		t.Errorf("forwarded %s %s?%s, authorization %s", v.Method, v.Path, v.RawQuery, v.Authorization)
	}
	want := map[string]string{"X-Gatehouse-Subject": bobOID, "X-Gatehouse-Role": "reader", "X-Gatehouse-Assertion": "present",
		"X-Forwarded-For": "127.0.0.1", "X-Request-Id": resp.Header.Get("X-Request-Id")}
	for k, w := range want {
		if got := v.Headers[k]; len(got) != 1 || got[0] != w {
			t.Errorf("upstream got %s = %q, want [%s]", k, got, w)
		}
	}
	for k, vals := range v.Headers {
		for _, val := range vals {
			if strings.Contains(val, "admin") || strings.Contains(val, "10.9.9.9") || val == "mine" || val == "forged" {
				t.Errorf("a spoofed header reached the upstream: %s: %s", k, val)
			}
		}
	}

	// Policy per method: reading is the reader's, writing the operator's.
	if r := call(t, c, "POST", gw+"/api/reports", bob, `{}`); r.status != 403 || !strings.Contains(r.body, "insufficient_scope") {
		t.Errorf("bob POST /api/reports: %d %s, want 403", r.status, r.body)
	}
	r := call(t, c, "POST", gw+"/api/reports", alice, `{}`)
	var av upstreamView
	if json.Unmarshal([]byte(r.body), &av); r.status != 200 || av.Method != "POST" || len(av.Headers["X-Gatehouse-Role"]) != 1 || av.Headers["X-Gatehouse-Role"][0] != "operator" {
		t.Errorf("alice POST /api/reports: %d %s, want 200 as operator", r.status, r.body)
	}
	if r := call(t, c, "GET", gw+"/api/reports", dave, ""); r.status != 403 {
		t.Errorf("dave GET /api/reports: %d, want 403", r.status)
	}
	if r := call(t, c, "GET", gw+"/api/reports", "", ""); r.status != 401 {
		t.Errorf("no token: %d, want 401", r.status)
	}

	// Server-sent events arrive as they are sent: the first of two events
	// 5 s apart is read long before the second exists.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, "GET", gw+"/api/events?n=2&interval=5s", nil)
	req.Header.Set("Authorization", "Bearer "+bob)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("GET /api/events: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("GET /api/events: %d %s", resp.StatusCode, ct)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(line, "data:") && !strings.HasPrefix(line, "id:") && !strings.HasPrefix(line, "event:") {
		t.Errorf("first server-sent event line %q, %v: the stream was held back", line, err)
	}

	// A WebSocket through the gateway, authenticated by the bearer token.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	conn, _, err := websocket.Dial(wctx, strings.Replace(gw, "https://", "wss://", 1)+"/api/ws", &websocket.DialOptions{
		HTTPClient: c, HTTPHeader: http.Header{"Authorization": {"Bearer " + bob}},
	})
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	if err := conn.Write(wctx, websocket.MessageText, []byte("hello through gatehouse")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := conn.Read(wctx)
	if err != nil || !strings.Contains(string(msg), "hello through gatehouse") {
		t.Errorf("WebSocket echo: %q, %v", msg, err)
	}
	conn.Close(websocket.StatusNormalClosure, "")
	if _, _, err := websocket.Dial(wctx, strings.Replace(gw, "https://", "wss://", 1)+"/api/ws", &websocket.DialOptions{HTTPClient: c}); err == nil {
		t.Error("a WebSocket without a token was let through")
	}

	// The trail holds the upstream calls, with the decision and the role.
	out, errOut, code := run(t, "", "audit", "query", "--state-dir", state, "--user", "bob@contoso.example", "--format", "json")
	if code != 0 {
		t.Fatalf("audit query: %d %s", code, errOut)
	}
	for _, w := range []string{`"route":"api"`, `"action":"read"`, `"action":"write"`, `"decision":"deny"`, `"status":101`} {
		if !strings.Contains(out, w) {
			t.Errorf("bob's events lack %s:\n%s", w, out)
		}
	}
}

// TestAgentTraced: report-agent, a confidential client, acting for alice
// (a delegated token it obtained for her) is traced as her agent, and may
// do only what both it and she may: whoami is not among its functions.
func TestAgentTraced(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	c := gatewayClient(t, d)
	agent := token(t, state, "--user", "alice", "--app", "report-agent")
	p, errOut, code := verify(t, state, agent)
	if code != 0 {
		t.Fatalf("verify agent token: %s", errOut)
	}
	if p.Subject != aliceOID {
		t.Fatalf("the agent's token is for %s, want alice", p.Subject)
	}
	r := call(t, c, "GET", d.ready.Gateway+"/whoami", agent, "")
	if r.status != 403 {
		t.Errorf("report-agent for alice GET /whoami: %d %s, want 403 (not among the agent's functions)", r.status, r.body)
	}
	out, _, code := run(t, "", "audit", "query", "--state-dir", state, "--user", "alice@contoso.example", "--format", "json")
	if code != 0 || !strings.Contains(out, `"agents":[{`) || !strings.Contains(out, "8f5c3767-7276-4be0-b5db-808ab516452c") {
		t.Errorf("the event does not name the agent acting for alice:\n%s", out)
	}
}

// TestAWSDenialIs403: a route the policy allows but whose role IAM does not
// let invoke the function: the AWS-side denial reaches the caller as 403.
func TestAWSDenialIs403(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.ReplaceAll(cfg, "package: examples/", "package: "+filepath.Join(root, "examples")+"/")
	// The reader role may invoke echo only, in IAM.
	cfg = strings.Replace(cfg, "  sts:\n    listen: 127.0.0.1:9444\n    roles:\n",
		"  sts:\n    listen: 127.0.0.1:9444\n    roles:\n      - arn: arn:aws:iam::000000000000:role/gatehouse-reader\n        invoke: [echo]\n", 1)
	if !strings.Contains(cfg, "invoke: [echo]") {
		t.Fatal("could not add the IAM override to the configuration")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	d := startDevConfig(t, filepath.Join(dir, "state"), path)
	bob := token(t, d.stateDir, "--user", "bob")
	c := gatewayClient(t, d)
	if r := call(t, c, "GET", d.ready.Gateway+"/whoami", bob, ""); r.status != 403 || !strings.Contains(r.body, "target_access_denied") {
		t.Errorf("bob GET /whoami with IAM refusing the reader role: %d %s, want 403 target_access_denied", r.status, r.body)
	}
	if r := call(t, c, "POST", d.ready.Gateway+"/echo", bob, `{"message":"x"}`); r.status != 200 {
		t.Errorf("bob POST /echo (allowed by IAM): %d %s", r.status, r.body)
	}
}
