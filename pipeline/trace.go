package pipeline

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// Tracing: a front door starts each request's span with Trace; the steps
// run in child spans named after them (authn, authz, creds, invoke,
// audit), all children of the request's span, whichever step's context
// they start from (credentials obtained while the target runs are a step
// of their own, not part of step 4). Spans say what the event says of the
// request, minus everything that names someone: a pseudonym, never a
// subject, a name, a token or a claim.
//
// With no tracer (Config.Tracer nil), or when the request's span is not
// recording (not sampled), no step span is started: nothing is allocated.

// Span attribute keys of the request's span and the steps' spans.
const (
	AttrRequestID     = "gatehouse.request_id"     // the request id
	AttrRoute         = "gatehouse.route"          // the route's id
	AttrPrincipal     = "gatehouse.principal"      // the principal's pseudonym, as in the event
	AttrPrincipalKind = "gatehouse.principal_kind" // user or app
	AttrApp           = "gatehouse.app"            // the calling client's id (azp/appid)
	AttrRole          = "gatehouse.role"           // the logical role granted
	AttrDecision      = "gatehouse.decision"       // allow, deny or error
	AttrCheck         = "gatehouse.check"          // the authn check that failed
	AttrTarget        = "gatehouse.target"         // the function or upstream run
	AttrErrorType     = "error.type"               // the event's error class
	AttrStatus        = "http.response.status_code"
)

// instrumentation scope of the pipeline's spans.
const scope = "github.com/gatehouse-dev/gatehouse/pipeline"

// noSpan is what span returns when nothing is traced: ending it does
// nothing.
var noSpan = trace.SpanFromContext(context.Background())

// traceContext reads and writes W3C trace context (traceparent,
// tracestate); gatehouse never takes or passes baggage.
var traceContext propagation.TraceContext

// Tracing reports whether requests are traced: a front door traces with
// Trace, and its targets then carry gatehouse's trace context, never the
// caller's.
func (pl *Pipeline) Tracing() bool { return pl.tracer != nil }

// Trace starts the span of one request, a server span named name, and
// returns it with the context the request runs in; the front door sets
// its protocol's attributes, runs the request in that context, calls
// Annotate and ends the span. incoming reads the trace context the caller
// sent: used only when Config.TrustIncoming is set, else the request's
// trace is a new one (or a child of a span of this process already in
// ctx). Without a tracer it returns ctx and a span that does nothing.
func (pl *Pipeline) Trace(ctx context.Context, name string, incoming propagation.TextMapCarrier) (context.Context, trace.Span) {
	if pl.tracer == nil {
		return ctx, noSpan
	}
	if pl.cfg.TrustIncoming && incoming != nil {
		ctx = traceContext.Extract(ctx, incoming)
	} else if sc := trace.SpanContextFromContext(ctx); sc.IsRemote() {
		// A remote parent is the caller's: not trusted.
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	}
	return pl.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
}

// Annotate sets on span (the request's, from Trace) what the request came
// to: the status the caller got, the decision, the principal's pseudonym
// and kind, the calling client, the role, the failed check and the error
// class; a status of 500 or more marks it failed. It sets nothing that
// names anyone.
func (c *Call) Annotate(span trace.Span, status int) {
	if !span.IsRecording() {
		return
	}
	ev := &c.Event
	span.SetAttributes(attribute.Int(AttrStatus, status), attribute.String(AttrDecision, cmpOr(ev.Decision, "error")))
	setStrings(span, AttrPrincipal, ev.Principal, AttrPrincipalKind, ev.PrincipalKind, AttrApp, ev.App,
		AttrRole, ev.Role, AttrCheck, ev.Check, AttrErrorType, ev.ErrorClass, AttrTarget, ev.Target)
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
}

// span starts the span of a step: a child of the request's span, with
// ctx's deadline and values. When the request is not traced, or its span
// is not recording, it returns ctx and noSpan.
func (c *Call) span(ctx context.Context, name string) (context.Context, trace.Span) {
	if c.root == nil || !c.root.IsRecording() {
		return ctx, noSpan
	}
	if trace.SpanFromContext(ctx) != c.root {
		ctx = trace.ContextWithSpan(ctx, c.root)
	}
	return c.pl.tracer.Start(ctx, name)
}

// endStep ends a step's span, failed with err's class when err is set.
func endStep(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		class, check := errorClass(err)
		setStrings(span, AttrErrorType, class, AttrCheck, check)
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// errorClass is a step's failure as the event classes it, without its
// message (which may quote what the caller sent): the error class and, for
// authn, the failed check.
func errorClass(err error) (class, check string) {
	var (
		ae *authn.Error
		ie *invoke.Error
		pe *Error
		ce *creds.Error
	)
	switch {
	case errors.As(err, &ae):
		return string(ae.Kind), ae.Check
	case errors.Is(err, authn.ErrNoToken):
		return string(authn.InvalidRequest), authn.CheckRequest
	case errors.As(err, &ie):
		return "target:" + ie.Code, ""
	case errors.As(err, &pe):
		return pe.Code, ""
	case errors.As(err, &ce), errors.Is(err, ErrNoCredentials):
		return credentialsClass(err), ""
	}
	return "error", ""
}

// setStrings sets the non-empty values of key, value pairs, each cut to
// maxAttr bytes.
func setStrings(span trace.Span, kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1]; v != "" {
			span.SetAttributes(attribute.String(kv[i], clip(v)))
		}
	}
}

// maxAttr bounds an attribute's value: identifiers and names from the
// configuration, never long.
const maxAttr = 128

func clip(s string) string {
	if len(s) > maxAttr {
		return s[:maxAttr]
	}
	return s
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
