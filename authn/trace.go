package authn

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// The verifier traces nothing of its own accord: when the context of a
// verification carries a recording span (the pipeline's authn step), a
// key fetch it causes gets a span of its own, named "jwks fetch", with the
// issuer's configured name, the number of keys and, on failure,
// error.type "fetch_failed" (never the error's text, which names URLs).

const traceScope = "github.com/gatehouse-dev/gatehouse/authn"

var noSpan = trace.SpanFromContext(context.Background())

// fetchSpan starts the span of a key fetch, a child of ctx's span when that
// one is recording.
func fetchSpan(ctx context.Context, issuer string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, noSpan
	}
	ctx, span := parent.TracerProvider().Tracer(traceScope).Start(ctx, "jwks fetch", trace.WithSpanKind(trace.SpanKindClient))
	span.SetAttributes(attribute.String("gatehouse.issuer", issuer))
	return ctx, span
}

// endFetchSpan ends a key fetch's span with its outcome.
func endFetchSpan(span trace.Span, keys int, err error) {
	if span.IsRecording() {
		if err != nil {
			span.SetAttributes(attribute.String("error.type", "fetch_failed"))
			span.SetStatus(codes.Error, "")
		} else {
			span.SetAttributes(attribute.Int("gatehouse.keys", keys))
		}
	}
	span.End()
}
