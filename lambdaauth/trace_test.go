package lambdaauth_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

const callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// flushCounting is the SDK's TracerProvider, counting ForceFlush calls.
type flushCounting struct {
	*sdktrace.TracerProvider
	flushes atomic.Int64
}

func (f *flushCounting) ForceFlush(ctx context.Context) error {
	f.flushes.Add(1)
	return f.TracerProvider.ForceFlush(ctx)
}

func tracedConfig(t *testing.T, cfg lambdaauth.Config, trust bool) (lambdaauth.Config, *tracetest.InMemoryExporter, *flushCounting) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := &flushCounting{TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))}
	cfg.Tracer, cfg.TrustIncoming = tp, trust
	return cfg, exp, tp
}

func byName(spans tracetest.SpanStubs) map[string]tracetest.SpanStub {
	m := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		m[s.Name] = s
	}
	return m
}

// A wrapped handler's invocation is one trace: its span named by the route
// template, the steps under it, the handler running in "invoke"; the event
// records the trace id; the spans are flushed before the invocation
// returns; nothing names the caller or the path.
func TestWrappedHandlerTraced(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	for _, trust := range []bool{false, true} {
		cfg, exp, tp := tracedConfig(t, baseConfig(iss, trail), trust)
		g := newGuard(t, cfg)
		tok := readerToken(iss)
		var inHandler trace.SpanContext
		h := g.WrapHTTPAPI(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			inHandler = trace.SpanContextFromContext(ctx)
			return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
		})
		ev := events.APIGatewayV2HTTPRequest{RouteKey: "GET /reports/{id}", RawPath: "/reports/user-1@example.com",
			Headers: map[string]string{"authorization": "Bearer " + tok, "traceparent": "00-" + callerTraceID + "-00f067aa0ba902b7-01"}}
		ev.RequestContext.HTTP.Method = "GET"
		if resp, err := h(lambdaCtx("inv-1"), ev); err != nil || resp.StatusCode != 200 {
			t.Fatalf("invocation: %d %v", resp.StatusCode, err)
		}
		if n := tp.flushes.Load(); n != 1 {
			t.Errorf("%d flushes, want one before the invocation returned", n)
		}
		spans := byName(exp.GetSpans())
		root, ok := spans["GET /reports/{id}"]
		if !ok || root.SpanKind != trace.SpanKindServer {
			t.Fatalf("no invocation span: %v", exp.GetSpans())
		}
		for _, step := range []string{"authn", "authz", "invoke", "audit"} {
			if spans[step].Parent.SpanID() != root.SpanContext.SpanID() {
				t.Errorf("%s is not a child of the invocation's span", step)
			}
		}
		if inHandler.SpanID() != spans["invoke"].SpanContext.SpanID() {
			t.Error("the handler does not run in the invoke span")
		}
		tid := root.SpanContext.TraceID().String()
		if (tid == callerTraceID) != trust {
			t.Errorf("trust_incoming %v: trace %s", trust, tid)
		}
		if got := trail.last(t).TraceID; got != tid {
			t.Errorf("event trace id %q, want %s", got, tid)
		}
		for _, s := range exp.GetSpans() {
			for _, a := range s.Attributes {
				if v := a.Value.String(); strings.Contains(v, "user-1") || strings.Contains(v, tok) {
					t.Errorf("span %s: %s = %q names the caller or the path", s.Name, a.Key, v)
				}
			}
		}
	}
}

// An authorizer's invocation is named by the route it matched (never the
// request's path) and flushed too.
func TestAuthorizerTraced(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	cfg, exp, tp := tracedConfig(t, authorizerConfig(iss, trail), false)
	g := newGuard(t, cfg)
	ev := events.APIGatewayV2CustomAuthorizerV2Request{Version: "2.0", Type: "REQUEST",
		RouteArn: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/GET/jobs/user-1@example.com",
		RouteKey: "GET /jobs/{id}", RawPath: "/jobs/user-1@example.com",
		Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)}}
	ev.RequestContext.HTTP.Method = "GET"
	if _, err := authorize(t, g, ev); err != nil {
		t.Fatal(err)
	}
	spans := byName(exp.GetSpans())
	root, ok := spans["authorize GET /jobs/{id}"]
	if !ok || tp.flushes.Load() != 1 {
		t.Fatalf("spans %v, %d flushes", exp.GetSpans(), tp.flushes.Load())
	}
	if spans["authn"].Parent.SpanID() != root.SpanContext.SpanID() || trail.last(t).TraceID != root.SpanContext.TraceID().String() {
		t.Error("the steps or the event are not in the authorizer's trace")
	}
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "user-1") {
				t.Errorf("span %s: %s = %q names the path", s.Name, a.Key, a.Value.String())
			}
		}
	}
}
