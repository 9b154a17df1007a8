package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// The steps' real implementations are tested against real servers in their
// own packages and end to end in e2e. Here each collaborator is a small
// fake so that every failure of every step can be forced deterministically
// (an STS outage, an audit trail that is down) and the one mapping from
// error to response checked with the event it leaves.

type fakeVerifier struct{ err error }

func (f fakeVerifier) Verify(context.Context, string) (*authn.Principal, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &authn.Principal{Subject: "oid-1", Tenant: "tid-1", Kind: authn.KindUser, App: "app-1",
		Claims: map[string]any{"upn": "alice@contoso.example", "azpacr": "0"}}, nil
}
func (fakeVerifier) Ready() bool { return true }

type fakePolicy struct{ allow bool }

func (f fakePolicy) Decide(*authn.Principal, authz.Request) authz.Decision {
	if f.allow {
		return authz.Decision{Allow: true, Role: "reader", Policies: []string{"rule-1/reader"}}
	}
	return authz.Decision{Reason: "no rule grants a role", Policies: nil}
}

type fakeBroker struct{ err error }

func (f fakeBroker) Credentials(context.Context, creds.Request) (*creds.Session, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &creds.Session{SessionName: "oid-1", AssumedRoleARN: "arn:aws:sts::000000000000:assumed-role/r/oid-1"}, nil
}

type fakeTarget struct{ err error }

func (f fakeTarget) Invoke(_ context.Context, w http.ResponseWriter, _ *http.Request, _ invoke.Call) (*invoke.Outcome, error) {
	if f.err != nil {
		return &invoke.Outcome{TargetRequestID: "lambda-req"}, f.err
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte("hello"))
	return &invoke.Outcome{Status: 200, TargetRequestID: "lambda-req"}, nil
}

// fakeRecorder keeps a copy of each event as it was recorded (and refuses
// it when err is set).
type fakeRecorder struct {
	events []audit.Event
	err    error
}

func (f *fakeRecorder) Record(_ context.Context, ev *audit.Event) error {
	f.events = append(f.events, *ev)
	return f.err
}

// steps is the pipeline of a test gateway: its steps, as fakes or real.
type steps struct {
	verifier pipeline.Verifier
	policy   pipeline.Policy
	broker   pipeline.Broker
	recorder pipeline.Recorder
	pseudo   func(tenant, subject string) string
	claims   []string
	tracer   trace.TracerProvider // nil: not traced
	trust    bool                 // trust the caller's trace context
}

func (s steps) pipeline(t testing.TB) *pipeline.Pipeline {
	t.Helper()
	if s.pseudo == nil {
		s.pseudo = func(a, b string) string { return a + "/" + b }
	}
	pl, err := pipeline.New(pipeline.Config{Verifier: s.verifier, Policy: s.policy, Broker: s.broker, Recorder: s.recorder,
		Pseudonym: s.pseudo, Claims: s.claims, Tracer: s.tracer, TrustIncoming: s.trust})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func TestPipelineOutcomes(t *testing.T) {
	// caller is ev with fakeVerifier's principal as the event names it: by
	// the pseudonym, with the allow-listed claims but upn, which is
	// personal and dropped whatever the list says.
	caller := func(ev audit.Event) audit.Event {
		ev.Tenant, ev.Principal, ev.PrincipalKind, ev.App = "tid-1", "p:tid-1/oid-1", "user", "app-1"
		ev.Claims = map[string]string{"azpacr": "0"}
		return ev
	}
	// The target is named only when it was invoked: never for a request
	// refused before step 4.
	const target, targetReq = "hello", "lambda-req"
	allow, rule := audit.DecisionAllow, []string{"rule-1/reader"}
	tests := []struct {
		name       string
		bearer     string
		verifier   fakeVerifier
		policy     fakePolicy
		broker     fakeBroker
		target     fakeTarget
		recordErr  error
		wantStatus int
		wantHeader map[string]string // header -> substring
		wantEvent  audit.Event       // beside the request id, route, action and resource
	}{
		{name: "allowed", bearer: "t", policy: fakePolicy{allow: true}, wantStatus: 200,
			wantEvent: caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", STSSession: "oid-1", Target: target, TargetRequestID: targetReq, Status: 200})},
		{name: "no token", wantStatus: 401, wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="gatehouse", resource_metadata=`},
			wantEvent: audit.Event{Decision: audit.DecisionError, Status: 401, Check: authn.CheckRequest, ErrorClass: string(authn.InvalidRequest)}},
		{name: "bad token", bearer: "t", verifier: fakeVerifier{err: &authn.Error{Kind: authn.InvalidToken, Check: "signature", Reason: "signature does not verify"}},
			wantStatus: 401, wantHeader: map[string]string{"WWW-Authenticate": `error="invalid_token", error_description="signature: signature does not verify"`},
			wantEvent: audit.Event{Decision: audit.DecisionError, Status: 401, Check: "signature", ErrorClass: string(authn.InvalidToken)}},
		{name: "issuer keys unavailable", bearer: "t", verifier: fakeVerifier{err: &authn.Error{Kind: authn.Unavailable, Check: "keys", Reason: "keys unavailable"}},
			wantStatus: 503, wantHeader: map[string]string{"Retry-After": "30"},
			wantEvent: audit.Event{Decision: audit.DecisionError, Status: 503, Check: "keys", ErrorClass: string(authn.Unavailable)}},
		{name: "policy denial", bearer: "t", wantStatus: 403, wantHeader: map[string]string{"WWW-Authenticate": `error="insufficient_scope"`},
			wantEvent: caller(audit.Event{Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"})},
		{name: "trust policy refused", bearer: "t", policy: fakePolicy{allow: true}, broker: fakeBroker{err: &creds.Error{Status: 403, Role: "reader", Reason: `role "reader" refused the session`}},
			wantStatus: 403,
			wantEvent:  caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", Status: 403, ErrorClass: "credentials"})},
		{name: "STS outage", bearer: "t", policy: fakePolicy{allow: true}, broker: fakeBroker{err: &creds.Error{Status: 503, Role: "reader", Reason: "STS unavailable", RetryAfter: 1500 * time.Millisecond}},
			wantStatus: 503, wantHeader: map[string]string{"Retry-After": "2"},
			wantEvent: caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", Status: 503, ErrorClass: "credentials"})},
		{name: "function timed out", bearer: "t", policy: fakePolicy{allow: true}, target: fakeTarget{err: &invoke.Error{Status: 504, Code: "function_timeout", Reason: "the function timed out"}},
			wantStatus: 504,
			wantEvent: caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", STSSession: "oid-1", Target: target, TargetRequestID: targetReq,
				Status: 504, ErrorClass: "target:function_timeout"})},
		{name: "throttled", bearer: "t", policy: fakePolicy{allow: true}, target: fakeTarget{err: &invoke.Error{Status: 429, Code: "throttled", Reason: "too many requests", RetryAfter: 7}},
			wantStatus: 429, wantHeader: map[string]string{"Retry-After": "7"},
			wantEvent: caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", STSSession: "oid-1", Target: target, TargetRequestID: targetReq,
				Status: 429, ErrorClass: "target:throttled"})},
		// The trail was offered the whole event, with the target's status,
		// and refused it: the caller gets 503 instead.
		{name: "audit trail down fails closed", bearer: "t", policy: fakePolicy{allow: true}, recordErr: audit.ErrUnavailable,
			wantStatus: 503, wantHeader: map[string]string{"Retry-After": "5"},
			wantEvent: caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", STSSession: "oid-1", Target: target, TargetRequestID: targetReq, Status: 200})},
		{name: "a bug is a 500 with only the request id", bearer: "t", policy: fakePolicy{allow: true}, target: fakeTarget{err: errors.New("internal detail 10.0.0.7")},
			wantStatus: 500,
			wantEvent:  caller(audit.Event{Decision: allow, Policies: rule, Role: "reader", STSSession: "oid-1", Target: target, TargetRequestID: targetReq, Status: 500})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{err: tc.recordErr}
			g, err := New(Config{Snapshot: Snapshot{
				Routes: []Route{{ID: "hello", Method: "GET", Path: "/hello", Target: tc.target, TargetName: "hello", Action: "invoke",
					Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "hello"}}},
				Pipeline: steps{verifier: tc.verifier, policy: tc.policy, broker: tc.broker, recorder: rec, claims: []string{"azpacr", "upn"},
					pseudo: func(tenant, subject string) string { return "p:" + tenant + "/" + subject }}.pipeline(t),
				Metadata: ResourceMetadata{Resource: "https://gw.example"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/hello", nil)
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			w := httptest.NewRecorder()
			g.Handler().ServeHTTP(w, req)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			reqID := w.Header().Get("X-Request-Id")
			if reqID == "" {
				t.Error("no X-Request-Id")
			}
			for h, want := range tc.wantHeader {
				if got := w.Header().Get(h); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", h, got, want)
				}
			}
			if tc.wantStatus >= 400 && (!strings.Contains(w.Body.String(), reqID) || strings.Contains(w.Body.String(), "10.0.0.7")) {
				t.Errorf("error body %s: want the request id and no internal detail", w.Body)
			}
			if len(rec.events) != 1 {
				t.Fatalf("%d events recorded, want exactly 1", len(rec.events))
			}
			want := tc.wantEvent
			want.RequestID, want.Route, want.Action, want.Resource = reqID, "hello", "invoke", "function:hello"
			if diff := testkit.DiffEvent(want, rec.events[0]); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRefusesUnprotectedRoutes(t *testing.T) {
	base := Config{Snapshot: Snapshot{Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{}, broker: fakeBroker{}, recorder: &fakeRecorder{}}.pipeline(t)}}
	for _, rt := range []Route{
		{ID: "no-target", Path: "/x", Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "x"}},
		{ID: "bad-host", Host: "evil.example/admin", Path: "/x", Target: fakeTarget{}, Resource: authz.Resource{Kind: "function", Name: "x"}},
		{ID: "no-path", Target: fakeTarget{}, Resource: authz.Resource{Kind: "function", Name: "x"}},
		{ID: "no-resource", Path: "/x", Target: fakeTarget{}, Action: "invoke"},
		{ID: "bad-pattern", Path: "/x/{", Target: fakeTarget{}, Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "x"}},
	} {
		cfg := base
		cfg.Routes = []Route{rt}
		if _, err := New(cfg); err == nil {
			t.Errorf("route %s accepted", rt.ID)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("a gateway without its steps was built")
	}
}

func TestMetrics(t *testing.T) {
	m := NewMetrics()
	g, err := New(Config{Snapshot: Snapshot{
		Routes: []Route{{ID: "hello", Method: "GET", Path: "/hello", Target: fakeTarget{}, TargetName: "hello", Action: "invoke",
			Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "hello"}}},
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: &fakeRecorder{}}.pipeline(t),
	}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	h := g.Handler()
	for _, bearer := range []string{"t", "t", ""} {
		req := httptest.NewRequest("GET", "/hello", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	// Metrics are the operators': not on the public listener.
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusNotFound || strings.Contains(w.Body.String(), "gatehouse_requests_total") {
		t.Errorf("public GET /metrics: %d %.80s, want 404", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`gatehouse_requests_total{decision="allow",route="hello",status="200"} 2`,
		`gatehouse_requests_total{decision="error",route="hello",status="401"} 1`,
		`gatehouse_request_duration_seconds_count{route="hello"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestUnroutedRequestsAudited: a request that reaches no route, or whose
// path is not canonical, leaves its event too; the public documents
// (health, metadata) do not.
func TestUnroutedRequestsAudited(t *testing.T) {
	rec := &fakeRecorder{}
	g, err := New(Config{Snapshot: Snapshot{
		Routes: []Route{{ID: "hello", Method: "GET", Path: "/hello", Target: fakeTarget{}, TargetName: "hello", Action: "invoke",
			Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "hello"}}},
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: rec}.pipeline(t),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
		class  string
	}{
		{"/nowhere", 404, "no_route"},
		{"/hello/../admin", 400, "non_canonical_path"},
		{"/healthz", 200, ""},
		{"/.well-known/oauth-protected-resource", 200, ""},
	} {
		before := len(rec.events)
		w := httptest.NewRecorder()
		g.Handler().ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, w.Code, tc.status)
		}
		switch {
		case tc.class == "" && len(rec.events) != before:
			t.Errorf("GET %s recorded an event", tc.path)
		case tc.class != "" && len(rec.events) != before+1:
			t.Errorf("GET %s recorded %d events, want 1", tc.path, len(rec.events)-before)
		case tc.class != "":
			// No route, so nothing asked or decided, and no one verified.
			want := audit.Event{RequestID: w.Header().Get("X-Request-Id"), Decision: audit.DecisionError, Status: tc.status, ErrorClass: tc.class}
			if diff := testkit.DiffEvent(want, rec.events[before]); diff != "" {
				t.Errorf("GET %s: audit event (-want +got):\n%s", tc.path, diff)
			}
		}
	}
}

// TestReadyAsksConfig: /readyz also asks Config.Ready (the secrets); the
// public listener says only "not ready", the admin listener says why.
func TestReadyAsksConfig(t *testing.T) {
	var notReady error
	g, err := New(Config{Snapshot: Snapshot{
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: &fakeRecorder{}}.pipeline(t),
	}, Ready: func() error { return notReady }})
	if err != nil {
		t.Fatal(err)
	}
	get := func(h http.Handler) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, _ := get(g.Handler()); code != http.StatusOK {
		t.Errorf("ready: %d", code)
	}
	notReady = errors.New("secrets unavailable: file:dsn")
	if code, body := get(g.Handler()); code != http.StatusServiceUnavailable || strings.Contains(body, "file:dsn") {
		t.Errorf("public /readyz: %d %q; want 503 without the reason", code, body)
	}
	if code, body := get(g.AdminHandler()); code != http.StatusServiceUnavailable || !strings.Contains(body, "file:dsn") {
		t.Errorf("admin /readyz: %d %q; want 503 naming the reason", code, body)
	}
}
