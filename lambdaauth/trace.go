package lambdaauth

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/requestid"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// With Config.Tracer set, each invocation is a server span, named by the
// event's route template ("GET /reports/{id}", never the request's path)
// or its method, with the pipeline's step spans as its children and the
// wrapped handler's work under "invoke"; the handler's context carries the
// span, so spans it starts (and AWS calls it traces) join the trace. The
// caller's traceparent (from the event's headers) is continued only with
// Config.TrustIncoming. Before the invocation returns, the spans are
// flushed, when the TracerProvider can (the SDK's has ForceFlush): Lambda
// may freeze the process as soon as it returns.

// maxRouteName bounds a route template used as a span name; a longer one
// is not used (the method names the span).
const maxRouteName = 256

// flushTimeout bounds the flush at the end of an invocation.
const flushTimeout = 2 * time.Second

var noSpan = trace.SpanFromContext(context.Background())

// traceInvocation starts an invocation's span; the context also carries
// the request id, for the log.
func (g *Guard) traceInvocation(ctx context.Context, requestID, method, route string, r *request) (context.Context, trace.Span) {
	ctx = requestid.With(ctx, requestID)
	if !g.pl.Tracing() {
		return ctx, noSpan
	}
	m := invoke.SpanMethod(method)
	name, tmpl := m, ""
	if _, t, ok := strings.Cut(route, " "); ok && strings.HasPrefix(t, "/") && len(route) <= maxRouteName {
		name, tmpl = route, t // API Gateway's route key or resource: a template, never the request's path
	}
	var carrier headerCarrier
	if r != nil {
		carrier = headerCarrier{r}
	}
	ctx, span := g.pl.Trace(ctx, name, carrier)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("faas.trigger", "http"))
		if method != "" {
			span.SetAttributes(attribute.String("http.request.method", m))
		}
		if tmpl != "" {
			span.SetAttributes(attribute.String("http.route", tmpl))
		}
	}
	return ctx, span
}

// endInvocation annotates and ends an invocation's span, and flushes.
func (g *Guard) endInvocation(ctx context.Context, span trace.Span, c *pipeline.Call, status int) {
	if span == noSpan {
		return
	}
	if c != nil {
		c.Annotate(span, status)
	}
	span.End()
	if g.flush != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := g.flush(fctx); err != nil {
			g.log.WarnContext(ctx, "lambdaauth: spans not exported before the invocation returned", "err", err)
		}
	}
}

// headerCarrier reads an event's headers (names in any case; multi-value
// headers too) for the trace context.
type headerCarrier struct{ r *request }

func (c headerCarrier) Get(key string) string {
	for k, vs := range c.r.multi {
		if strings.EqualFold(k, key) && len(vs) > 0 {
			return vs[0]
		}
	}
	for k, v := range c.r.headers {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func (c headerCarrier) Set(string, string) {}

func (c headerCarrier) Keys() []string {
	var out []string
	for k := range c.r.headers {
		out = append(out, k)
	}
	return out
}
