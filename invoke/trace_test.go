package invoke

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// callerTraceHeaders are trace headers a caller sends, each naming the
// caller's own trace.
var callerTraceHeaders = map[string]string{
	"Traceparent":     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	"Tracestate":      "caller=1",
	"Baggage":         "user=alice@contoso.example",
	"X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
	"B3":              "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	"X-B3-Traceid":    "4bf92f3577b34da6a3ce929d0e0e4736",
}

func tracedContext(t *testing.T, sampler sdktrace.Sampler) (context.Context, *tracetest.InMemoryExporter, trace.Span) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sampler))
	ctx, span := tp.Tracer("test").Start(testContext(t), "invoke")
	return ctx, exp, span
}

func TestHTTPTargetTraceContext(t *testing.T) {
	up, got := recordingUpstream(t)
	target, _ := newTestHTTPTarget(t, up.URL, nil)
	send := func(ctx context.Context) upstreamRequest {
		t.Helper()
		r := testRequest("GET", "https://api.example.test/reports/42?who=alice@contoso.example", nil)
		for k, v := range callerTraceHeaders {
			r.Header.Set(k, v)
		}
		call := testCall()
		call.Principal.Subject = "2d4acc68-9d83-4609-a6f0-96e989303d16"
		if _, err := target.Invoke(ctx, httptest.NewRecorder(), r, call); err != nil {
			t.Fatal(err)
		}
		return receive(t, got, "upstream request")
	}

	t.Run("traced", func(t *testing.T) {
		ctx, exp, parent := tracedContext(t, sdktrace.AlwaysSample())
		req := send(ctx)
		parent.End()
		spans := exp.GetSpans()
		if len(spans) != 2 || spans[0].Name != "GET" || spans[0].SpanKind != trace.SpanKindClient || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Fatalf("spans %+v; want the upstream call's client span under invoke", spans)
		}
		s := spans[0]
		want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
		if tp := req.Header.Get("Traceparent"); tp != want {
			t.Errorf("upstream traceparent %q, want gatehouse's %q", tp, want)
		}
		for name := range callerTraceHeaders {
			if name != "Traceparent" && req.Header.Get(name) != "" {
				t.Errorf("the caller's %s reached the upstream: %q", name, req.Header.Get(name))
			}
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.String()
		}
		if attrs["http.request.method"] != "GET" || attrs["server.address"] != "127.0.0.1" || attrs["http.response.status_code"] != "200" || attrs["server.port"] == "" {
			t.Errorf("upstream span attributes %v", attrs)
		}
		for k, v := range attrs {
			if strings.Contains(v, "alice") || strings.Contains(v, "/reports") || strings.Contains(v, "2d4acc68") {
				t.Errorf("attribute %s = %q carries the path, query or caller", k, v)
			}
		}
	})
	t.Run("not sampled: the trace context still is gatehouse's", func(t *testing.T) {
		ctx, exp, parent := tracedContext(t, sdktrace.NeverSample())
		req := send(ctx)
		want := "00-" + parent.SpanContext().TraceID().String() + "-" + parent.SpanContext().SpanID().String() + "-00"
		if tp := req.Header.Get("Traceparent"); tp != want || req.Header.Get("Baggage") != "" {
			t.Errorf("traceparent %q, baggage %q; want %q and none", tp, req.Header.Get("Baggage"), want)
		}
		if n := len(exp.GetSpans()); n != 0 {
			t.Errorf("%d spans recorded", n)
		}
	})
	t.Run("not traced: the caller's headers pass", func(t *testing.T) {
		req := send(testContext(t))
		for name, v := range callerTraceHeaders {
			if req.Header.Get(name) != v {
				t.Errorf("%s = %q, want the caller's %q", name, req.Header.Get(name), v)
			}
		}
	})
}

func TestLambdaTraceContext(t *testing.T) {
	var mu sync.Mutex
	var xray []string
	var evs []events.APIGatewayV2HTTPRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev events.APIGatewayV2HTTPRequest
		json.Unmarshal(body, &ev)
		mu.Lock()
		xray = append(xray, r.Header.Get("X-Amzn-Trace-Id"))
		evs = append(evs, ev)
		mu.Unlock()
		w.Header().Set("X-Amzn-Requestid", "lambda-req-1")
		w.Write([]byte(`{"message":"hi"}`))
	}))
	t.Cleanup(srv.Close)
	l := newTestLambda(t, srv.URL, "hello", nil)
	send := func(ctx context.Context) {
		t.Helper()
		r := testRequest("GET", "https://api.example.test/reports/42", nil)
		for k, v := range callerTraceHeaders {
			r.Header.Set(k, v)
		}
		if _, err := l.Invoke(ctx, httptest.NewRecorder(), r, testCall()); err != nil {
			t.Fatal(err)
		}
	}

	ctx, exp, parent := tracedContext(t, sdktrace.AlwaysSample())
	send(ctx)
	parent.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "Lambda.Invoke" {
		t.Fatalf("spans %v; want Lambda.Invoke under invoke", spans)
	}
	call := spans[0].SpanContext
	tid := parent.SpanContext().TraceID().String()
	ev := evs[0]
	if want := "00-" + tid + "-" + parent.SpanContext().SpanID().String() + "-01"; ev.Headers["traceparent"] != want {
		t.Errorf("event traceparent %q, want %q", ev.Headers["traceparent"], want)
	}
	for name := range ev.Headers {
		if name != "traceparent" && isTracingHeader(name) {
			t.Errorf("the caller's %s reached the event", name)
		}
	}
	if want := "Root=1-" + tid[:8] + "-" + tid[8:] + ";Parent=" + call.SpanID().String() + ";Sampled=1"; xray[0] != want {
		t.Errorf("X-Amzn-Trace-Id %q, want %q", xray[0], want)
	}

	// Not traced: the event carries the caller's headers, as the other
	// standard ones; the Invoke call none.
	send(testContext(t))
	if ev := evs[1]; ev.Headers["traceparent"] != callerTraceHeaders["Traceparent"] || xray[1] != "" {
		t.Errorf("untraced: event traceparent %q, X-Ray header %q", ev.Headers["traceparent"], xray[1])
	}
}
