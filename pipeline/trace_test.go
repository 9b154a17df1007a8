package pipeline

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
)

// The caller's token, name, UPN and e-mail: none may appear in any span.
const (
	callerToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvaWQtYSJ9.c2lnbmF0dXJl"
	callerUPN   = "alice@contoso.example"
	callerName  = "Alice Liddell"
)

var named = &authn.Principal{IssuerName: "corp", Issuer: "https://idp", Subject: "2d4acc68-9d83-4609-a6f0-96e989303d16",
	Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", Kind: authn.KindUser, App: "cli-app",
	Actors: []authn.Actor{{Subject: "agent-sub", App: "agent-app", Via: authn.ActorViaAct}},
	Claims: map[string]any{"aud": "api://x", "upn": callerUPN, "name": callerName, "email": callerUPN, "preferred_username": callerUPN}}

// callerTraceparent is a trace context a caller sends.
const callerTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func tracedPipeline(t *testing.T, v fakeVerifier, p fakePolicy, b *fakeBroker, rec *fakeRecorder, sampler sdktrace.Sampler, trust bool) (*Pipeline, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler))
	pseudo, err := audit.NewPseudonymizer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Verifier: v, Policy: p, Recorder: rec, Pseudonym: pseudo.Principal, Claims: []string{"upn", "name"},
		Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler), Tracer: tp, TrustIncoming: trust}
	if b != nil {
		cfg.Broker = b
	}
	pl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pl, exp
}

// runTraced runs one request as a front door does: its span from Trace
// (the caller sent a traceparent), the steps, Annotate.
func runTraced(t *testing.T, pl *Pipeline, target func(ctx context.Context, c *Call) (int, error)) (Outcome, trace.SpanContext) {
	t.Helper()
	carrier := propagation.MapCarrier{"traceparent": callerTraceparent, "baggage": "user=" + callerUPN}
	ctx, span := pl.Trace(context.Background(), "GET /whoami", carrier)
	span.SetAttributes(attribute.String(AttrRoute, "whoami")) // the front door's
	out := pl.Run(ctx, Request{ID: "req-1", Route: "whoami", Token: callerToken, Action: "invoke",
		Resource: authz.Resource{Kind: "function", Name: "whoami"}}, target)
	out.Call.Annotate(span, out.Status)
	span.End()
	return out, span.SpanContext()
}

func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q among %v", name, spanNames(spans))
	return tracetest.SpanStub{}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

func attrs(s tracetest.SpanStub) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, a := range s.Attributes {
		m[a.Key] = a.Value.String()
	}
	return m
}

func TestTraceSpans(t *testing.T) {
	rec := &fakeRecorder{}
	pl, exp := tracedPipeline(t, fakeVerifier{p: named}, fakePolicy{allow: true}, &fakeBroker{}, rec, sdktrace.AlwaysSample(), false)
	out, root := runTraced(t, pl, func(ctx context.Context, c *Call) (int, error) {
		if _, err := c.Credentials(ctx); err != nil {
			return 0, err
		}
		c.Invoked("whoami", "lambda-1")
		return 200, nil
	})
	if out.Refusal != nil {
		t.Fatalf("refused: %+v", out.Refusal)
	}
	spans := exp.GetSpans()
	if got := strings.Join(spanNames(spans), " "); got != "authn authz creds invoke audit GET /whoami" {
		t.Errorf("spans in end order: %s", got)
	}
	// One trace, gatehouse's own: the caller's traceparent is not trusted.
	if root.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Error("the request continued the caller's trace without trust_incoming")
	}
	req := spanNamed(t, spans, "GET /whoami")
	if req.SpanKind != trace.SpanKindServer || req.Parent.IsValid() {
		t.Errorf("request span: kind %v, parent %v; want a server span at the root", req.SpanKind, req.Parent)
	}
	for _, name := range []string{"authn", "authz", "creds", "invoke", "audit"} {
		s := spanNamed(t, spans, name)
		if s.Parent.SpanID() != root.SpanID() || s.SpanContext.TraceID() != root.TraceID() {
			t.Errorf("%s: parent %v in trace %v; want a child of the request's span", name, s.Parent.SpanID(), s.SpanContext.TraceID())
		}
	}
	if got := rec.events[0].TraceID; got != root.TraceID().String() {
		t.Errorf("event trace id %q, want %s", got, root.TraceID())
	}
	pseudonym := rec.events[0].Principal
	want := map[string]map[attribute.Key]string{
		"GET /whoami": {AttrRequestID: "req-1", AttrRoute: "whoami", AttrPrincipal: pseudonym, AttrPrincipalKind: "user",
			AttrApp: "cli-app", AttrRole: "reader", AttrDecision: "allow", AttrStatus: "200", AttrTarget: "whoami"},
		"authn":  {AttrPrincipal: pseudonym, AttrPrincipalKind: "user"},
		"authz":  {AttrDecision: "allow", AttrRole: "reader"},
		"creds":  {AttrRole: "reader"},
		"invoke": {AttrTarget: "whoami", AttrStatus: "200"},
		"audit":  {AttrDecision: "allow", AttrStatus: "200"},
	}
	for name, kv := range want {
		got := attrs(spanNamed(t, spans, name))
		for k, v := range kv {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got[k], v)
			}
		}
	}
	noPersonalData(t, spans)
}

// noPersonalData fails when any span's name, attribute, event or status
// carries the caller's token, subject, UPN, name or e-mail.
func noPersonalData(t *testing.T, spans tracetest.SpanStubs) {
	t.Helper()
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, a := range s.Attributes {
			texts = append(texts, string(a.Key)+"="+a.Value.String())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, a := range e.Attributes {
				texts = append(texts, a.Value.String())
			}
		}
		for _, text := range texts {
			for _, secret := range []string{callerToken, named.Subject, callerUPN, callerName, "agent-sub"} {
				if strings.Contains(text, secret) {
					t.Errorf("span %s carries %q: %s", s.Name, secret, text)
				}
			}
		}
	}
}

func TestTraceRefusals(t *testing.T) {
	for _, tc := range []struct {
		name      string
		verifier  fakeVerifier
		policy    fakePolicy
		wantSpans string
		failed    string // the span that failed
		wantAttrs map[attribute.Key]string
	}{
		{"bad signature", fakeVerifier{err: &authn.Error{Kind: authn.InvalidToken, Check: "signature", Reason: "the token " + callerToken + " does not verify"}}, fakePolicy{},
			"authn audit GET /whoami", "authn", map[attribute.Key]string{AttrErrorType: "invalid_token", AttrCheck: "signature"}},
		{"denied", fakeVerifier{p: named}, fakePolicy{},
			"authn authz audit GET /whoami", "", map[attribute.Key]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			pl, exp := tracedPipeline(t, tc.verifier, tc.policy, &fakeBroker{}, rec, sdktrace.AlwaysSample(), false)
			out, _ := runTraced(t, pl, func(context.Context, *Call) (int, error) { return 200, nil })
			spans := exp.GetSpans()
			if got := strings.Join(spanNames(spans), " "); got != tc.wantSpans {
				t.Errorf("spans %q, want %q", got, tc.wantSpans)
			}
			if tc.failed != "" {
				got := attrs(spanNamed(t, spans, tc.failed))
				for k, v := range tc.wantAttrs {
					if got[k] != v {
						t.Errorf("%s: %s = %q, want %q", tc.failed, k, got[k], v)
					}
				}
			}
			req := attrs(spanNamed(t, spans, "GET /whoami"))
			if req[AttrStatus] != itoa(out.Status) || req[AttrErrorType] != rec.events[0].ErrorClass {
				t.Errorf("request span %v; want status %d and class %q", req, out.Status, rec.events[0].ErrorClass)
			}
			noPersonalData(t, spans)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTraceTrustIncoming(t *testing.T) {
	rec := &fakeRecorder{}
	pl, exp := tracedPipeline(t, fakeVerifier{p: named}, fakePolicy{allow: true}, &fakeBroker{}, rec, sdktrace.ParentBased(sdktrace.NeverSample()), true)
	_, root := runTraced(t, pl, func(context.Context, *Call) (int, error) { return 200, nil })
	if root.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace %s; want the trusted caller's", root.TraceID())
	}
	req := spanNamed(t, exp.GetSpans(), "GET /whoami")
	if req.Parent.SpanID().String() != "00f067aa0ba902b7" || !req.Parent.IsRemote() {
		t.Errorf("parent %v; want the caller's span", req.Parent)
	}
	if rec.events[0].TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("event trace id %q", rec.events[0].TraceID)
	}
}

// Not sampled: no span is recorded, but the request still has a trace id
// (in the event and for the targets), and no step span is started.
func TestTraceUnsampled(t *testing.T) {
	rec := &fakeRecorder{}
	pl, exp := tracedPipeline(t, fakeVerifier{p: named}, fakePolicy{allow: true}, &fakeBroker{}, rec, sdktrace.NeverSample(), false)
	var inTarget trace.SpanContext
	_, root := runTraced(t, pl, func(ctx context.Context, c *Call) (int, error) {
		inTarget = trace.SpanContextFromContext(ctx)
		return 200, nil
	})
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded, want none", n)
	}
	if !root.IsValid() || !inTarget.Equal(root) || rec.events[0].TraceID != root.TraceID().String() {
		t.Errorf("target saw %v, event has %q; want the request's trace %v", inTarget, rec.events[0].TraceID, root)
	}
}

// Without a tracer nothing is traced and nothing allocated for it.
func TestTraceOff(t *testing.T) {
	rec := &fakeRecorder{}
	pl := newPipeline(t, fakeVerifier{p: alice}, fakePolicy{allow: true}, &fakeBroker{}, rec)
	if pl.Tracing() {
		t.Fatal("Tracing() without a tracer")
	}
	ctx, span := pl.Trace(context.Background(), "GET /whoami", propagation.MapCarrier{"traceparent": callerTraceparent})
	if ctx != context.Background() || span.SpanContext().IsValid() {
		t.Error("Trace without a tracer made a span")
	}
	pl.Run(ctx, Request{ID: "r"}, func(context.Context, *Call) (int, error) { return 200, nil })
	if rec.events[0].TraceID != "" {
		t.Errorf("trace id %q without tracing", rec.events[0].TraceID)
	}
	c := &Call{}
	if _, s := c.span(context.Background(), "authn"); s != noSpan {
		t.Error("a step span without tracing")
	}
	if n := testing.AllocsPerRun(100, func() {
		_, s := c.span(ctx, "authn")
		endStep(s, nil)
	}); n != 0 {
		t.Errorf("a step without tracing allocates %v times", n)
	}
}
