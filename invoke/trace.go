package invoke

import (
	"context"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Targets trace what the request's context says: when it carries a span
// context (the gateway traces requests), the caller's trace headers
// (traceparent, tracestate, baggage, X-Amzn-Trace-Id, B3) never reach the
// target, which gets gatehouse's own trace context instead: traceparent
// (and tracestate, only when a trusted caller's trace is continued) on an
// upstream request and in a function's event, and the X-Ray header on the
// Lambda Invoke call. An HTTP upstream's call is a client span of its own
// (the Lambda call's span is internal/awstrace's). Without a span context
// the caller's trace headers pass as the other standard headers do.

const traceScope = "github.com/gatehouse-dev/gatehouse/invoke"

var noSpan = trace.SpanFromContext(context.Background())

// traceContext writes W3C trace context; baggage is never passed.
var traceContext propagation.TraceContext

// tracingHeaders are the trace headers of the default allow-list.
var tracingHeaders = newNameSet([]string{"Traceparent", "Tracestate", "Baggage", "X-Amzn-Trace-Id", "B3", "X-B3-*"})

// traced reports whether ctx carries a trace: the target then passes
// gatehouse's trace context, not the caller's.
func traced(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

// isTracingHeader reports whether the header name is one of the caller's
// trace headers, in any case and with '_' or '-'.
func isTracingHeader(name string) bool {
	var buf [maxHeaderName]byte
	return tracingHeaders.has(normalize(&buf, name))
}

// withTraceContext replaces the caller's trace headers in h with ctx's
// trace context.
func withTraceContext(ctx context.Context, h http.Header) {
	for name := range h {
		if isTracingHeader(name) {
			delete(h, name)
		}
	}
	traceContext.Inject(ctx, propagation.HeaderCarrier(h))
}

// eventTraceContext does the same for a function event's headers (lower
// case names).
func eventTraceContext(ctx context.Context, h map[string]string) {
	for name := range h {
		if isTracingHeader(name) {
			delete(h, name)
		}
	}
	traceContext.Inject(ctx, lowerCarrier(h))
}

// lowerCarrier writes header names in lower case, as events carry them.
type lowerCarrier map[string]string

func (c lowerCarrier) Get(key string) string { return c[key] }
func (c lowerCarrier) Set(key, value string) { c[key] = value } // traceparent, tracestate: already lower case
func (c lowerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// upstreamSpan starts the client span of an upstream call when ctx's span
// is recording: named for the method, with the upstream's address as
// configured (never the request's path or query).
func (t *HTTPTarget) upstreamSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, noSpan
	}
	m := SpanMethod(method)
	ctx, span := parent.TracerProvider().Tracer(traceScope).Start(ctx, m, trace.WithSpanKind(trace.SpanKindClient))
	attrs := []attribute.KeyValue{attribute.String("http.request.method", m), attribute.String("url.scheme", t.scheme)}
	host, port, err := net.SplitHostPort(t.host)
	if err != nil {
		host, port = t.host, ""
	}
	attrs = append(attrs, attribute.String("server.address", host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	span.SetAttributes(attrs...)
	return ctx, span
}

// endUpstreamSpan ends an upstream call's span with the upstream's status,
// or the failure's code.
func endUpstreamSpan(span trace.Span, status int, err *Error) {
	if span.IsRecording() {
		if status != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		if err != nil {
			span.SetAttributes(attribute.String("error.type", err.Code))
			span.SetStatus(codes.Error, "")
		} else if status >= 500 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	}
	span.End()
}

// SpanMethod is an HTTP method as spans name it: one of RFC 9110's and
// PATCH, else "_OTHER" (a caller's made-up method is neither a span name
// nor an attribute).
func SpanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}
