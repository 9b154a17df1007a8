package lambdaauth

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Handler types the wrappers take and return; each is what lambda.Start
// accepts for its event type.
type (
	// HTTPAPIHandler handles API Gateway HTTP API events (payload format 2.0).
	HTTPAPIHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
	// RESTHandler handles API Gateway REST API proxy events (and HTTP API
	// payload format 1.0).
	RESTHandler func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
	// FunctionURLHandler handles Lambda function URL events.
	FunctionURLHandler func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error)
	// ALBHandler handles Application Load Balancer target events.
	ALBHandler func(context.Context, events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error)
)

// run is the pipeline's adapter for a wrapped handler: the event becomes a
// pipeline.Request, the handler is step 4 (with the Caller in its context
// and the event without its Authorization header), and a refusal takes the
// event's response shape (answer). A handler's error is passed back to
// Lambda as it is, and recorded as a 502 (what API Gateway answers).
func run[Req, Resp any](ctx context.Context, g *Guard, r *request, h func(context.Context, Req) (Resp, error), ev Req,
	strip func(Req) Req, status func(Resp) int, answer func(*pipeline.Refusal) Resp) (Resp, error) {
	var (
		resp Resp
		herr error
		ran  bool
		out  pipeline.Outcome
	)
	preq := g.pipelineRequest(ctx, r)
	ctx, span := g.traceInvocation(ctx, preq.ID, r.method, r.route, r)
	defer func() { g.endInvocation(ctx, span, out.Call, out.Status) }()
	out = g.pl.Run(ctx, preq, func(ctx context.Context, c *pipeline.Call) (int, error) {
		ran = true
		c.Invoked(g.function, c.Event.RequestID)
		ev = strip(ev)
		defer func() {
			if p := recover(); p != nil {
				// The panic goes on to aws-lambda-go, which reports it;
				// the trail has the invocation first.
				c.Event.ErrorClass = "target:" + invoke.CodeFunctionError
				c.Finish(ctx, http.StatusBadGateway)
				panic(p)
			}
		}()
		resp, herr = h(withCaller(ctx, g.caller(c)), ev)
		if herr != nil {
			return 0, &invoke.Error{Status: http.StatusBadGateway, Code: invoke.CodeFunctionError, Reason: "the function failed", Err: herr}
		}
		return status(resp), nil
	})
	if out.Refusal != nil && (!ran || out.Call.Event.ErrorClass == "audit_unavailable") {
		return answer(out.Refusal), nil
	}
	return resp, herr
}

// WrapHTTPAPI protects an API Gateway HTTP API (payload 2.0) handler.
func (g *Guard) WrapHTTPAPI(h HTTPAPIHandler) HTTPAPIHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		rc := &ev.RequestContext
		return run(ctx, g, &request{
			method: rc.HTTP.Method, path: ev.RawPath, route: ev.RouteKey, headers: ev.Headers,
			query: ev.QueryStringParameters, rawQuery: ev.RawQueryString, sourceIP: rc.HTTP.SourceIP, apiRequestID: rc.RequestID,
		}, h, ev,
			func(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
				ev.Headers = withoutAuthorization(ev.Headers)
				return ev
			},
			func(r events.APIGatewayV2HTTPResponse) int { return r.StatusCode },
			func(a *pipeline.Refusal) events.APIGatewayV2HTTPResponse {
				return events.APIGatewayV2HTTPResponse{StatusCode: a.Status, Headers: lowerKeys(a.Headers()), Body: string(a.Body())}
			})
	}
}

// WrapREST protects an API Gateway REST API proxy handler (also HTTP API
// payload format 1.0).
func (g *Guard) WrapREST(h RESTHandler) RESTHandler {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := &ev.RequestContext
		route := ""
		if ev.Resource != "" {
			route = ev.HTTPMethod + " " + ev.Resource
		}
		return run(ctx, g, &request{
			method: ev.HTTPMethod, path: ev.Path, route: route, headers: ev.Headers, multi: ev.MultiValueHeaders,
			query: ev.QueryStringParameters, multiQuery: ev.MultiValueQueryStringParameters,
			sourceIP: rc.Identity.SourceIP, apiRequestID: rc.RequestID,
		}, h, ev,
			func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
				ev.Headers = withoutAuthorization(ev.Headers)
				ev.MultiValueHeaders = withoutAuthorization(ev.MultiValueHeaders)
				return ev
			},
			func(r events.APIGatewayProxyResponse) int { return r.StatusCode },
			func(a *pipeline.Refusal) events.APIGatewayProxyResponse {
				return events.APIGatewayProxyResponse{StatusCode: a.Status, Headers: a.Headers(), Body: string(a.Body())}
			})
	}
}

// WrapFunctionURL protects a Lambda function URL handler (auth type NONE:
// the function itself checks the token).
func (g *Guard) WrapFunctionURL(h FunctionURLHandler) FunctionURLHandler {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		rc := &ev.RequestContext
		return run(ctx, g, &request{
			method: rc.HTTP.Method, path: ev.RawPath, route: "$default", headers: ev.Headers,
			query: ev.QueryStringParameters, rawQuery: ev.RawQueryString, sourceIP: rc.HTTP.SourceIP, apiRequestID: rc.RequestID,
		}, h, ev,
			func(ev events.LambdaFunctionURLRequest) events.LambdaFunctionURLRequest {
				ev.Headers = withoutAuthorization(ev.Headers)
				return ev
			},
			func(r events.LambdaFunctionURLResponse) int { return r.StatusCode },
			func(a *pipeline.Refusal) events.LambdaFunctionURLResponse {
				return events.LambdaFunctionURLResponse{StatusCode: a.Status, Headers: lowerKeys(a.Headers()), Body: string(a.Body())}
			})
	}
}

// WrapALB protects an Application Load Balancer target handler. Refusals
// use multiValueHeaders when the event did (the target group's
// multi-value headers setting), as ALB requires.
func (g *Guard) WrapALB(h ALBHandler) ALBHandler {
	return func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		multi := ev.MultiValueHeaders != nil
		return run(ctx, g, &request{
			method: ev.HTTPMethod, path: ev.Path, headers: ev.Headers, multi: ev.MultiValueHeaders,
			query: ev.QueryStringParameters, multiQuery: ev.MultiValueQueryStringParameters, escapedQuery: true,
			sourceIP: albSourceIP(ev),
		}, h, ev,
			func(ev events.ALBTargetGroupRequest) events.ALBTargetGroupRequest {
				ev.Headers = withoutAuthorization(ev.Headers)
				ev.MultiValueHeaders = withoutAuthorization(ev.MultiValueHeaders)
				return ev
			},
			func(r events.ALBTargetGroupResponse) int { return r.StatusCode },
			func(a *pipeline.Refusal) events.ALBTargetGroupResponse { return albAnswer(a, multi) })
	}
}

func albAnswer(a *pipeline.Refusal, multi bool) events.ALBTargetGroupResponse {
	r := events.ALBTargetGroupResponse{StatusCode: a.Status, StatusDescription: strconv.Itoa(a.Status) + " " + http.StatusText(a.Status), Body: string(a.Body())}
	if multi {
		r.MultiValueHeaders = make(map[string][]string)
		for k, v := range a.Headers() {
			r.MultiValueHeaders[k] = []string{v}
		}
	} else {
		r.Headers = a.Headers()
	}
	return r
}

// albSourceIP is the last address of X-Forwarded-For, the one the load
// balancer appended (earlier ones are the client's to choose).
func albSourceIP(ev events.ALBTargetGroupRequest) string {
	var v string
	for k, vs := range ev.MultiValueHeaders {
		if strings.EqualFold(k, "X-Forwarded-For") && len(vs) > 0 {
			v = vs[len(vs)-1]
		}
	}
	if v == "" {
		for k, s := range ev.Headers {
			if strings.EqualFold(k, "X-Forwarded-For") {
				v = s
			}
		}
	}
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// withoutAuthorization returns m without its Authorization entries (any
// case): a copy if it had any, m itself otherwise.
func withoutAuthorization[V any](m map[string]V) map[string]V {
	found := false
	for k := range m {
		if strings.EqualFold(k, "Authorization") {
			found = true
			break
		}
	}
	if !found {
		return m
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		if !strings.EqualFold(k, "Authorization") {
			out[k] = v
		}
	}
	return out
}

// lowerKeys lower-cases header names, as HTTP API and function URL
// responses conventionally carry them.
func lowerKeys(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[strings.ToLower(k)] = v
	}
	return out
}
