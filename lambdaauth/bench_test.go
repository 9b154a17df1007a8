package lambdaauth_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

// BenchmarkWarmInvocation is the middleware's cost per warm invocation: the
// token's verification cached (as for a caller's second request), policy
// decided, credentials prepared (not obtained: the handler makes no AWS
// call), and the audit event written synchronously as JSON lines (to
// io.Discard, so the figure leaves out the write to standard output).
func BenchmarkWarmInvocation(b *testing.B) {
	iss := testkit.NewIssuer(b, testkit.IssuerConfig{})
	cfg := baseConfig(iss, nil)
	cfg.Audit.Sink = jsonl.New(io.Discard)
	g := newGuard(b, cfg)
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET /report", RawPath: "/report",
		Headers:        map[string]string{"authorization": "Bearer " + readerToken(iss), "accept": "application/json", "user-agent": "bench", "x-forwarded-for": "192.0.2.10"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "api-req", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/report", SourceIP: "192.0.2.10"}},
	}
	bare := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}, nil
	}
	h := g.WrapHTTPAPI(bare)
	ctx := lambdaCtx("bench")
	if r, _ := h(ctx, ev); r.StatusCode != 200 {
		b.Fatalf("status %d", r.StatusCode)
	}
	b.Run("wrapped", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h(ctx, ev)
		}
	})
	b.Run("wrapped/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h(ctx, ev)
			}
		})
	})
	b.Run("denied", func(b *testing.B) {
		denied := ev
		denied.Headers = map[string]string{"authorization": "Bearer " + signToken(iss, nil)}
		b.ReportAllocs()
		for b.Loop() {
			h(ctx, denied)
		}
	})
	// The authorizer's warm cost, four routes decided per event.
	acfg := authorizerConfig(iss, nil)
	acfg.Audit.Sink = jsonl.New(io.Discard)
	ag := newGuard(b, acfg)
	raw, _ := json.Marshal(events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer " + readerToken(iss), MethodArn: apiPrefix + "GET/jobs/42"})
	authorizer := ag.Authorizer()
	b.Run("authorizer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := authorizer(ctx, raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = lambdaauth.ErrUnauthorized
}
