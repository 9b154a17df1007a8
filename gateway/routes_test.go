package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Fakes as in gateway_test.go: the real upstream proxy is tested in invoke
// and end to end in e2e; here the gateway's own rules are isolated.

// principalVerifier returns a fixed principal.
type principalVerifier struct{ p *authn.Principal }

func (v principalVerifier) Verify(context.Context, string) (*authn.Principal, error) { return v.p, nil }
func (principalVerifier) Ready() bool                                                { return true }

// recordingPolicy allows and remembers the action asked.
type recordingPolicy struct {
	mu      sync.Mutex
	actions []string
}

func (p *recordingPolicy) Decide(_ *authn.Principal, r authz.Request) authz.Decision {
	p.mu.Lock()
	p.actions = append(p.actions, r.Action)
	p.mu.Unlock()
	return authz.Decision{Allow: true, Role: "reader", Policies: []string{"rule-1/reader"}}
}

// countingBroker counts calls.
type countingBroker struct{ calls int }

func (b *countingBroker) Credentials(context.Context, creds.Request) (*creds.Session, error) {
	b.calls++
	return &creds.Session{SessionName: "s"}, nil
}

// namedTarget answers with its name.
type namedTarget string

func (n namedTarget) Invoke(_ context.Context, w http.ResponseWriter, _ *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	w.Write([]byte(n))
	return &invoke.Outcome{Status: 200}, nil
}

func newTestGateway(t *testing.T, p *authn.Principal, rec pipeline.Recorder, routes ...Route) (*Gateway, *countingBroker) {
	t.Helper()
	b := &countingBroker{}
	g, err := New(Config{Snapshot: Snapshot{Routes: routes,
		Pipeline: steps{verifier: principalVerifier{p}, policy: &recordingPolicy{}, broker: b, recorder: rec}.pipeline(t)}})
	if err != nil {
		t.Fatal(err)
	}
	return g, b
}

func get(h http.Handler, method, host, path string, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	req.Host = host
	req.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func fn(name string) authz.Resource { return authz.Resource{Kind: authz.ResourceFunction, Name: name} }

func TestHostRouting(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	g, _ := newTestGateway(t, p, &fakeRecorder{},
		Route{ID: "a", Host: "a.example", Path: "/x", Target: namedTarget("a"), Action: "invoke", Resource: fn("a")},
		Route{ID: "any", Path: "/x", Target: namedTarget("any"), Action: "invoke", Resource: fn("any")},
	)
	h := g.Handler()
	for _, c := range []struct{ host, want string }{
		{"a.example", "a"}, {"a.example:8443", "a"}, {"b.example", "any"}, {"A.EXAMPLE.evil", "any"},
	} {
		if got := get(h, "GET", c.host, "/x", nil).Body.String(); got != c.want {
			t.Errorf("Host %s: reached %q, want %q", c.host, got, c.want)
		}
	}
}

func TestRouteIssuersAndAudiences(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser, IssuerName: "partner",
		Claims: map[string]any{"aud": []any{"api://other", "api://reports"}}}
	rec := &fakeRecorder{}
	g, b := newTestGateway(t, p, rec,
		Route{ID: "corp-only", Path: "/corp", Issuers: []string{"corp"}, Target: namedTarget("x"), Action: "invoke", Resource: fn("x")},
		Route{ID: "partner-wrong-aud", Path: "/aud", Issuers: []string{"partner"}, Audiences: []string{"api://gatehouse"}, Target: namedTarget("x"), Action: "invoke", Resource: fn("x")},
		Route{ID: "partner-ok", Path: "/ok", Issuers: []string{"corp", "partner"}, Audiences: []string{"api://reports"}, Target: namedTarget("ok"), Action: "invoke", Resource: fn("x")},
	)
	h := g.Handler()
	var reqIDs []string
	for _, c := range [][2]string{{"/corp", `error="invalid_token", error_description="iss: tokens of this issuer are not accepted on this route"`},
		{"/aud", `error="invalid_token", error_description="aud: the token's audience is not accepted on this route"`}} {
		path, want := c[0], c[1]
		w := get(h, "GET", "gw", path, nil)
		if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), want) {
			t.Errorf("%s: %d %q, want 401 with %s", path, w.Code, w.Header().Get("WWW-Authenticate"), want)
		}
		reqIDs = append(reqIDs, w.Header().Get("X-Request-Id"))
	}
	if b.calls != 0 {
		t.Errorf("credentials obtained for a refused token (%d calls)", b.calls)
	}
	w := get(h, "GET", "gw", "/ok", nil)
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Errorf("/ok: %d %q", w.Code, w.Body.String())
	}
	reqIDs = append(reqIDs, w.Header().Get("X-Request-Id"))
	if len(rec.events) != 3 {
		t.Fatalf("%d events recorded, want 3: %+v", len(rec.events), rec.events)
	}
	// The token was verified: the refusals name who was refused.
	caller := audit.Event{Principal: "/s", PrincipalKind: "user", Action: "invoke", Resource: "function:x"}
	refused := func(reqID, route, check string) audit.Event {
		ev := caller
		ev.RequestID, ev.Route, ev.Decision, ev.Status, ev.Check, ev.ErrorClass = reqID, route, audit.DecisionError, 401, check, string(authn.InvalidToken)
		return ev
	}
	allowed := caller
	allowed.RequestID, allowed.Route, allowed.Decision, allowed.Policies, allowed.Role, allowed.STSSession, allowed.Status =
		reqIDs[2], "partner-ok", audit.DecisionAllow, []string{"rule-1/reader"}, "reader", "s", 200
	for i, want := range []audit.Event{refused(reqIDs[0], "corp-only", "iss"), refused(reqIDs[1], "partner-wrong-aud", "aud"), allowed} {
		if diff := testkit.DiffEvent(want, rec.events[i]); diff != "" {
			t.Errorf("audit event %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestActionByMethodAndNoCredentials(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	rec := &fakeRecorder{}
	pol := &recordingPolicy{}
	b := &countingBroker{}
	g, err := New(Config{Snapshot: Snapshot{Pipeline: steps{verifier: principalVerifier{p}, policy: pol, broker: b, recorder: rec}.pipeline(t),
		Routes: []Route{{ID: "svc", Path: "/svc/{rest...}", Target: namedTarget("svc"), Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "svc"}, NoCredentials: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	var reqIDs []string
	for _, m := range []string{"GET", "HEAD", "OPTIONS", "POST", "DELETE", "PATCH"} {
		w := get(h, m, "gw", "/svc/a", nil)
		if w.Code != 200 {
			t.Errorf("%s: %d", m, w.Code)
		}
		reqIDs = append(reqIDs, w.Header().Get("X-Request-Id"))
	}
	want := []string{"read", "read", "read", "write", "write", "write"}
	if strings.Join(pol.actions, ",") != strings.Join(want, ",") {
		t.Errorf("actions asked of policy %v, want %v", pol.actions, want)
	}
	if b.calls != 0 {
		t.Errorf("a route without credentials called the broker %d times", b.calls)
	}
	if len(rec.events) != len(want) {
		t.Fatalf("%d events recorded, want %d", len(rec.events), len(want))
	}
	for i, action := range want { // and no STS session
		ev := audit.Event{RequestID: reqIDs[i], Principal: "/s", PrincipalKind: "user", Action: action, Resource: "route:svc", Route: "svc",
			Decision: audit.DecisionAllow, Policies: []string{"rule-1/reader"}, Role: "reader", Status: 200}
		if diff := testkit.DiffEvent(ev, rec.events[i]); diff != "" {
			t.Errorf("audit event %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestRequestBodyLimit(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	rec := &fakeRecorder{}
	g, err := New(Config{MaxRequestBytes: 10, Snapshot: Snapshot{
		Pipeline: steps{verifier: principalVerifier{p}, policy: &recordingPolicy{}, broker: &countingBroker{}, recorder: rec}.pipeline(t),
		Routes:   []Route{{ID: "r", Path: "/r", Target: bodyTarget{}, Action: "invoke", Resource: fn("r")}}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	declared := get(h, "POST", "gw", "/r", strings.NewReader(strings.Repeat("x", 11)))
	if declared.Code != 413 {
		t.Errorf("declared length over the limit: %d, want 413", declared.Code)
	}
	// A body without a declared length is cut at the limit while read.
	req := httptest.NewRequest("POST", "/r", io.MultiReader(strings.NewReader(strings.Repeat("y", 11))))
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer t")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 413 {
		t.Errorf("streamed body over the limit: %d %q, want 413", w.Code, w.Body.String())
	}
	if len(rec.events) != 2 {
		t.Fatalf("%d events recorded, want 2: %+v", len(rec.events), rec.events)
	}
	// A declared length is refused before any step runs; a streamed body
	// only when the target reads past the limit.
	want := []audit.Event{
		{RequestID: declared.Header().Get("X-Request-Id"), Action: "invoke", Resource: "function:r", Route: "r",
			Decision: audit.DecisionError, Status: 413, ErrorClass: "request_too_large"},
		{RequestID: w.Header().Get("X-Request-Id"), Principal: "/s", PrincipalKind: "user", Action: "invoke", Resource: "function:r", Route: "r",
			Decision: audit.DecisionAllow, Policies: []string{"rule-1/reader"}, Role: "reader", STSSession: "s", Status: 413, ErrorClass: "target:request_too_large"},
	}
	for i := range want {
		if diff := testkit.DiffEvent(want[i], rec.events[i]); diff != "" {
			t.Errorf("audit event %d (-want +got):\n%s", i, diff)
		}
	}
}

// bodyTarget reads the body as the Lambda target does.
type bodyTarget struct{}

func (bodyTarget) Invoke(_ context.Context, w http.ResponseWriter, r *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	if _, err := io.ReadAll(r.Body); err != nil {
		return nil, &invoke.Error{Status: 413, Code: invoke.CodeRequestTooLarge, Reason: "the request body is too large", Err: err}
	}
	return &invoke.Outcome{Status: 200}, nil
}

func TestSetRoutesKeepsInFlightRequests(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	entered, release := make(chan struct{}), make(chan struct{})
	g, _ := newTestGateway(t, p, &fakeRecorder{},
		Route{ID: "old", Path: "/x", Target: blockingTarget{entered, release}, Action: "invoke", Resource: fn("old")})
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	done := make(chan string)
	go func() {
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-entered
	pl := g.Pipeline()
	if err := g.Swap(Snapshot{Pipeline: pl, Routes: []Route{{ID: "new", Path: "/x", Target: namedTarget("new"), Action: "invoke", Resource: fn("new")}}}); err != nil {
		t.Fatal(err)
	}
	if got := get(g.Handler(), "GET", "gw", "/x", nil).Body.String(); got != "new" {
		t.Errorf("after Swap a new request reached %q", got)
	}
	close(release)
	if got := <-done; got != "old" {
		t.Errorf("the in-flight request got %q, want the old route's answer", got)
	}
	// A bad table is refused and the current one stays.
	if err := g.Swap(Snapshot{Pipeline: pl, Routes: []Route{{ID: "broken", Path: "/y"}}}); err == nil {
		t.Error("a route without a target was accepted on reload")
	}
	if got := get(g.Handler(), "GET", "gw", "/x", nil).Body.String(); got != "new" {
		t.Errorf("after a refused reload /x reached %q", got)
	}
}

type blockingTarget struct{ entered, release chan struct{} }

func (b blockingTarget) Invoke(_ context.Context, w http.ResponseWriter, _ *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	close(b.entered)
	<-b.release
	w.Write([]byte("old"))
	return &invoke.Outcome{Status: 200}, nil
}

// streamTarget writes two server-sent events, waiting between them.
type streamTarget struct{ between chan struct{} }

func (s streamTarget) Streams() bool { return true }

func (s streamTarget) Invoke(_ context.Context, w http.ResponseWriter, _ *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Upstream", "1")
	w.WriteHeader(200)
	w.Write([]byte("data: one\n\n"))
	if err := http.NewResponseController(w).Flush(); err != nil {
		return &invoke.Outcome{Status: 200}, nil
	}
	<-s.between
	w.Write([]byte("data: two\n\n"))
	return &invoke.Outcome{Status: 200}, nil
}

// gateRecorder records, and tells when, so a test can check order.
type gateRecorder struct {
	mu     sync.Mutex
	events []audit.Event
	err    error
}

func (r *gateRecorder) Record(_ context.Context, ev *audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, *ev)
	return r.err
}

func TestStreamedResponseAfterItsEvent(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	rec := &gateRecorder{}
	between := make(chan struct{})
	g, _ := newTestGateway(t, p, rec, Route{ID: "sse", Path: "/events", Target: streamTarget{between}, Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "sse"}, NoCredentials: true})
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/events", nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The first event arrives while the target still holds the second:
	// the response is streamed, not buffered.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	rec.mu.Lock()
	n := len(rec.events)
	var ev audit.Event
	if n == 1 {
		ev = rec.events[0]
	}
	rec.mu.Unlock()
	if n != 1 {
		t.Fatalf("when the first byte arrived the trail held %d events, want the allow event", n)
	}
	want := audit.Event{RequestID: resp.Header.Get("X-Request-Id"), Principal: "/s", PrincipalKind: "user", Action: "read", Resource: "route:sse", Route: "sse",
		Decision: audit.DecisionAllow, Policies: []string{"rule-1/reader"}, Role: "reader", Status: 200}
	if diff := testkit.DiffEvent(want, ev); diff != "" {
		t.Errorf("audit event when the first byte arrived (-want +got):\n%s", diff)
	}
	if resp.Header.Get("X-Upstream") != "1" || ev.RequestID == "" {
		t.Errorf("headers %v", resp.Header)
	}
	close(between)
}

func TestStreamedResponseRefusedWhenTrailFails(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	rec := &gateRecorder{err: audit.ErrUnavailable}
	between := make(chan struct{})
	close(between)
	g, _ := newTestGateway(t, p, rec, Route{ID: "sse", Path: "/events", Target: streamTarget{between}, Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "sse"}, NoCredentials: true})
	w := get(g.Handler(), "GET", "gw", "/events", nil)
	if w.Code != 503 || strings.Contains(w.Body.String(), "data:") || w.Header().Get("X-Upstream") != "" {
		t.Errorf("trail down: %d %v %q, want 503 without the target's headers or body", w.Code, w.Header(), w.Body.String())
	}
}

// TestRouteMetadata: a route's own RFC 9728 document names the issuers and
// scopes it wants, and its 401s point at it.
func TestRouteMetadata(t *testing.T) {
	g, err := New(Config{Snapshot: Snapshot{
		Pipeline: steps{verifier: fakeVerifier{err: authn.ErrNoToken}, policy: &recordingPolicy{}, broker: &countingBroker{}, recorder: &fakeRecorder{}}.pipeline(t),
		Metadata: ResourceMetadata{Resource: "https://gw.example/", AuthorizationServers: []string{"https://corp.example", "https://partner.example"}},
		Routes: []Route{
			{ID: "partner", Path: "/partner/{id}", Target: namedTarget("p"), Action: "invoke", Resource: fn("p"),
				Metadata: &ResourceMetadata{AuthorizationServers: []string{"https://partner.example"}, ScopesSupported: []string{"reports.read"}, ResourceName: "partner"}},
			{ID: "plain", Path: "/plain", Target: namedTarget("x"), Action: "invoke", Resource: fn("x")},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/oauth-protected-resource/partner", nil))
	var doc ResourceMetadata
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != 200 {
		t.Fatalf("route document: %d %s", w.Code, w.Body)
	}
	if doc.Resource != "https://gw.example/partner" || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != "https://partner.example" ||
		len(doc.ScopesSupported) != 1 || doc.BearerMethods[0] != "header" {
		t.Errorf("route document %+v", doc)
	}
	for path, want := range map[string]string{
		"/partner/7": `resource_metadata="https://gw.example/.well-known/oauth-protected-resource/partner"`,
		"/plain":     `resource_metadata="https://gw.example/.well-known/oauth-protected-resource"`,
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if wa := w.Header().Get("WWW-Authenticate"); w.Code != 401 || !strings.Contains(wa, want) {
			t.Errorf("%s: %d %q, want %s", path, w.Code, wa, want)
		}
	}
}

// paramTarget answers with the path parameters the gateway passed.
type paramTarget struct{}

func (paramTarget) Invoke(_ context.Context, w http.ResponseWriter, _ *http.Request, call invoke.Call) (*invoke.Outcome, error) {
	json.NewEncoder(w).Encode(call.PathParameters)
	return &invoke.Outcome{Status: 200}, nil
}

func TestPathParametersAndHostCase(t *testing.T) {
	p := &authn.Principal{Subject: "s", Kind: authn.KindUser}
	g, _ := newTestGateway(t, p, &fakeRecorder{},
		Route{ID: "r", Host: "api.example", Path: "/reports/{id}/files/{rest...}", Target: paramTarget{}, Action: "invoke", Resource: fn("r")})
	w := get(g.Handler(), "GET", "API.Example:8443", "/reports/42/files/a/b.txt", nil)
	var got map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if got["id"] != "42" || got["rest"] != "a/b.txt" || len(got) != 2 {
		t.Errorf("path parameters %v, want id=42 rest=a/b.txt", got)
	}
}
