// Package awstrace traces the AWS SDK's calls: Middleware adds to a
// client's stack one client span per operation ("STS.AssumeRoleWithWebIdentity",
// "Lambda.Invoke"), a child of the span of the call's context when that
// span is recording, and, for Lambda, the X-Ray trace header
// (X-Amzn-Trace-Id) of the call's trace context, so that Lambda's own
// traces join gatehouse's.
//
// A span says the service, the operation, the region, the AWS request id,
// the HTTP status and the error code: never a parameter, an error message
// (AWS's messages name role sessions, which are people's directory ids) or
// a credential. With no span in the context it does nothing, so a client
// may carry it whether tracing is on or not.
//
// The AWS SDK's own tracing (smithy-go's tracing.TracerProvider, adapted to
// OpenTelemetry by smithyoteltracing) was not used: it makes about ten
// spans per call (serialisation, signing, endpoint resolution, retries) and
// records error messages as attributes. The contrib module otelaws is
// deprecated.
package awstrace

import (
	"context"
	"errors"
	"fmt"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope of the spans.
const Scope = "github.com/gatehouse-dev/gatehouse/internal/awstrace"

// HeaderXRay is the X-Ray trace header.
const HeaderXRay = "X-Amzn-Trace-Id"

// Middleware returns the stack option that adds the operation's span and,
// when xray is set, the X-Ray trace header. Add it to a client's
// Options.APIOptions (or aws.Config.APIOptions).
func Middleware(xray bool) func(*middleware.Stack) error {
	return func(s *middleware.Stack) error {
		if err := s.Initialize.Add(spanMiddleware{}, middleware.After); err != nil {
			return err
		}
		if xray {
			// Before the SDK's RecursionDetection, which sets the header
			// from Lambda's environment only when it is not set yet.
			return s.Build.Add(xrayMiddleware{}, middleware.Before)
		}
		return nil
	}
}

type spanMiddleware struct{}

func (spanMiddleware) ID() string { return "GatehouseTraceSpan" }

func (spanMiddleware) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	out middleware.InitializeOutput, md middleware.Metadata, err error) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return next.HandleInitialize(ctx, in)
	}
	svc, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	ctx, span := parent.TracerProvider().Tracer(Scope).Start(ctx, svc+"."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("rpc.system", "aws-api"),
			attribute.String("rpc.service", svc),
			attribute.String("rpc.method", op),
			attribute.String("cloud.region", clip(awsmiddleware.GetRegion(ctx))),
		))
	defer span.End()
	out, md, err = next.HandleInitialize(ctx, in)
	if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok && id != "" {
		span.SetAttributes(attribute.String("aws.request_id", clip(id)))
	}
	if res, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && res != nil && res.Response != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", res.StatusCode))
	}
	if err != nil {
		span.SetAttributes(attribute.String("error.type", ErrorClass(err)))
		span.SetStatus(codes.Error, "")
	}
	return out, md, err
}

// ErrorClass names an AWS call's failure without its message: the API's
// error code ("AccessDenied", "ExpiredToken"), "canceled", "timeout" or
// "transport".
func ErrorClass(err error) string {
	var api smithy.APIError
	switch {
	case errors.As(err, &api) && api.ErrorCode() != "":
		return token(api.ErrorCode())
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "transport"
}

type xrayMiddleware struct{}

func (xrayMiddleware) ID() string { return "GatehouseTraceXRay" }

func (xrayMiddleware) HandleBuild(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (
	middleware.BuildOutput, middleware.Metadata, error) {
	if req, ok := in.Request.(*smithyhttp.Request); ok {
		if h := XRayHeader(trace.SpanContextFromContext(ctx)); h != "" {
			req.Header.Set(HeaderXRay, h)
		}
	}
	return next.HandleBuild(ctx, in)
}

// XRayHeader is the X-Ray trace header of sc ("Root=1-<8 hex>-<24
// hex>;Parent=<16 hex>;Sampled=<0|1>"), or "" when sc is not valid. X-Ray
// reads the first eight digits of its trace ids as a time; OpenTelemetry's
// random ones are accepted by X-Ray's OpenTelemetry endpoints as they are.
func XRayHeader(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	tid, sid := sc.TraceID().String(), sc.SpanID().String()
	sampled := "0"
	if sc.IsSampled() {
		sampled = "1"
	}
	return fmt.Sprintf("Root=1-%s-%s;Parent=%s;Sampled=%s", tid[:8], tid[8:], sid, sampled)
}

// clip bounds a value taken from configuration or from AWS.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128]
	}
	return s
}

// token keeps an error code to the characters error codes use, at most 64.
func token(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "unknown"
	}
	return string(b)
}
