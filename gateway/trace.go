package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// When the pipeline traces requests (pipeline.Config.Tracer), each request
// that reaches a route, or is refused for reaching none, is a server span:
// named "METHOD /route/{pattern}" (the route's pattern, never the request's
// path), with the method, the route's pattern and id, the request id and,
// at the end, what pipeline.Call.Annotate adds. The caller's trace headers
// are read only when the pipeline trusts them; health checks and metadata
// documents are not traced.

var noSpan = trace.SpanFromContext(context.Background())

// traceRoute starts a routed request's span; r then runs in its context.
func traceRoute(pl *pipeline.Pipeline, rt *Route, r *http.Request) (*http.Request, trace.Span) {
	method := invoke.SpanMethod(r.Method)
	name := rt.spanName
	if name == "" {
		name = method + " " + rt.Path
	}
	ctx, span := pl.Trace(r.Context(), name, propagation.HeaderCarrier(r.Header))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", rt.Path),
			attribute.String(pipeline.AttrRoute, rt.ID))
	}
	return r.WithContext(ctx), span
}

// traceUnrouted starts the span of a request no route takes.
func traceUnrouted(pl *pipeline.Pipeline, r *http.Request, ref *pipeline.Refusal, class string) (*http.Request, trace.Span) {
	method := invoke.SpanMethod(r.Method)
	ctx, span := pl.Trace(r.Context(), method, propagation.HeaderCarrier(r.Header))
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", method), attribute.String(pipeline.AttrRequestID, ref.RequestID),
			attribute.Int(pipeline.AttrStatus, ref.Status), attribute.String(pipeline.AttrErrorType, class))
	}
	return r.WithContext(ctx), span
}
