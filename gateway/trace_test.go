package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

const callerTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// tracedGateway is a gateway with fake steps, the real HTTP target to a
// recording upstream on route api (/api/{rest...}), traced into an
// in-memory exporter.
func tracedGateway(t *testing.T, trust bool) (*Gateway, *fakeRecorder, *tracetest.InMemoryExporter, <-chan http.Header) {
	t.Helper()
	headers := make(chan http.Header, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Clone()
		w.Write([]byte("ok"))
	}))
	t.Cleanup(up.Close)
	target, err := invoke.NewHTTP(invoke.HTTPConfig{URL: up.URL,
		Assert: func(*authn.Principal, string, string) (string, error) { return "assertion", nil }})
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	rec := &fakeRecorder{}
	g, err := New(Config{Snapshot: Snapshot{
		Routes: []Route{{ID: "api", Path: "/api/{rest...}", Target: target, TargetName: "api", NoCredentials: true,
			Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "api"}}},
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: rec,
			tracer: sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)), trust: trust}.pipeline(t),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return g, rec, exp, headers
}

func callerRequest(path string) *http.Request {
	r := httptest.NewRequest("GET", path+"?email=alice@contoso.example", nil)
	r.Header.Set("Authorization", "Bearer tok.en.value")
	r.Header.Set("Traceparent", callerTraceparent)
	r.Header.Set("Baggage", "upn=alice@contoso.example")
	r.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
	return r
}

func TestTracedRoute(t *testing.T) {
	g, rec, exp, headers := tracedGateway(t, false)
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, callerRequest("/api/users/alice@contoso.example"))
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	up := <-headers
	spans := exp.GetSpans()
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["GET /api/{rest...}"]
	if !ok || root.SpanKind != trace.SpanKindServer || root.Parent.IsValid() {
		t.Fatalf("no request span at the root of a new trace: %v", names(spans))
	}
	tid := root.SpanContext.TraceID()
	if tid.String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Error("an untrusted caller's trace was continued")
	}
	for _, name := range []string{"authn", "authz", "invoke", "audit"} {
		if s, ok := byName[name]; !ok || s.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("%s: not a child of the request's span (%v)", name, names(spans))
		}
	}
	if _, ok := byName["creds"]; ok {
		t.Error("a creds span for a route that takes no credentials")
	}
	call, ok := byName["GET"]
	if !ok || call.Parent.SpanID() != byName["invoke"].SpanContext.SpanID() {
		t.Fatalf("no upstream call span under invoke: %v", names(spans))
	}
	if want := "00-" + tid.String() + "-" + call.SpanContext.SpanID().String() + "-01"; up.Get("Traceparent") != want {
		t.Errorf("upstream traceparent %q, want %q", up.Get("Traceparent"), want)
	}
	if up.Get("Baggage") != "" || up.Get("X-Amzn-Trace-Id") != "" {
		t.Errorf("the caller's trace headers reached the upstream: %v", up)
	}
	if got := rec.events[0].TraceID; got != tid.String() {
		t.Errorf("event trace id %q, want %s", got, tid)
	}
	attrs := map[attribute.Key]string{}
	for _, a := range root.Attributes {
		attrs[a.Key] = a.Value.String()
	}
	want := map[attribute.Key]string{"http.request.method": "GET", "http.route": "/api/{rest...}", pipeline.AttrRoute: "api",
		pipeline.AttrRequestID: w.Header().Get("X-Request-Id"), pipeline.AttrStatus: "200", pipeline.AttrDecision: "allow",
		pipeline.AttrPrincipal: "tid-1/oid-1", pipeline.AttrRole: "reader", pipeline.AttrTarget: "api"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("request span %s = %q, want %q", k, attrs[k], v)
		}
	}
	for _, s := range spans {
		for _, a := range s.Attributes {
			if v := a.Value.String(); strings.Contains(v, "alice") || strings.Contains(v, "tok.en") {
				t.Errorf("span %s: %s = %q carries the caller's path, query, name or token", s.Name, a.Key, v)
			}
		}
	}
}

func TestTracedRouteTrustsCallerWhenTold(t *testing.T) {
	g, rec, exp, headers := tracedGateway(t, true)
	w := httptest.NewRecorder()
	g.Handler().ServeHTTP(w, callerRequest("/api/x"))
	<-headers
	if got := rec.events[0].TraceID; got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("event trace id %q; want the trusted caller's", got)
	}
	for _, s := range exp.GetSpans() {
		if s.Name == "GET /api/{rest...}" && s.Parent.SpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("request span's parent %v, want the caller's span", s.Parent)
		}
	}
}

func TestTracedUnrouted(t *testing.T) {
	g, rec, exp, _ := tracedGateway(t, false)
	for _, tc := range []struct{ method, path, class string }{
		{"GET", "/nowhere", "no_route"},
		{"BREW", "/x/../api", "non_canonical_path"},
	} {
		exp.Reset()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(tc.method, "/", nil)
		r.URL.Path, r.URL.RawPath = tc.path, ""
		g.Handler().ServeHTTP(w, r)
		spans := exp.GetSpans()
		wantName := tc.method
		if tc.method == "BREW" {
			wantName = "_OTHER"
		}
		if len(spans) != 1 || spans[0].Name != wantName {
			t.Fatalf("%s %s: spans %v, want one named %s", tc.method, tc.path, names(spans), wantName)
		}
		var class string
		for _, a := range spans[0].Attributes {
			if a.Key == pipeline.AttrErrorType {
				class = a.Value.String()
			}
		}
		ev := rec.events[len(rec.events)-1]
		if class != tc.class || ev.TraceID != spans[0].SpanContext.TraceID().String() {
			t.Errorf("%s: class %q, event trace id %q; want %q and the span's trace", tc.path, class, ev.TraceID, tc.class)
		}
	}
	// Health checks are not traced.
	exp.Reset()
	g.Handler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("/healthz made %d spans", n)
	}
}

// Untraced, the caller's trace headers reach the upstream as any standard
// header does, and events carry no trace id.
func TestUntracedRoutePassesCallerHeaders(t *testing.T) {
	headers := make(chan http.Header, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { headers <- r.Header.Clone() }))
	t.Cleanup(up.Close)
	target, _ := invoke.NewHTTP(invoke.HTTPConfig{URL: up.URL, Assert: func(*authn.Principal, string, string) (string, error) { return "a", nil }})
	rec := &fakeRecorder{}
	g, err := New(Config{Snapshot: Snapshot{
		Routes:   []Route{{ID: "api", Path: "/api/{rest...}", Target: target, NoCredentials: true, Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "api"}}},
		Pipeline: steps{verifier: fakeVerifier{}, policy: fakePolicy{allow: true}, broker: fakeBroker{}, recorder: rec}.pipeline(t),
	}})
	if err != nil {
		t.Fatal(err)
	}
	g.Handler().ServeHTTP(httptest.NewRecorder(), callerRequest("/api/x"))
	select {
	case h := <-headers:
		if h.Get("Traceparent") != callerTraceparent || rec.events[0].TraceID != "" {
			t.Errorf("traceparent %q, event trace id %q", h.Get("Traceparent"), rec.events[0].TraceID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream got nothing")
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
