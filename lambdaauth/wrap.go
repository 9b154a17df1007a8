package lambdaauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
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

// errPanic is the audit trail's account of a handler that panicked; the
// panic itself goes on to aws-lambda-go, which reports it.
var errPanic = errors.New("lambdaauth: the handler panicked")

// call runs the handler of an allowed invocation and records the event;
// with a non-nil error from the recorder the caller must be answered 503.
func call[Req, Resp any](ctx context.Context, g *Guard, inv *invocation, h func(context.Context, Req) (Resp, error), ev Req, status func(Resp) int) (resp Resp, herr, rerr error) {
	recorded := false
	defer func() {
		if p := recover(); p != nil {
			if !recorded {
				g.end(ctx, inv, http.StatusBadGateway, fmt.Errorf("%w: %v", errPanic, p))
			}
			panic(p)
		}
	}()
	// The event names the target only when it runs.
	inv.ev.Target, inv.ev.TargetRequestID = g.function, inv.ev.RequestID
	resp, herr = h(withCaller(ctx, inv.caller), ev)
	recorded = true
	rerr = g.end(ctx, inv, status(resp), herr)
	return resp, herr, rerr
}

// refused answers an invocation that may not run, and records it.
func (g *Guard) refused(ctx context.Context, inv *invocation) answer {
	a := g.refuse(inv, inv.err)
	if err := g.end(ctx, inv, a.status, nil); err != nil {
		return g.unavailable(inv, err)
	}
	return a
}

// WrapHTTPAPI protects an API Gateway HTTP API (payload 2.0) handler.
func (g *Guard) WrapHTTPAPI(h HTTPAPIHandler) HTTPAPIHandler {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		rc := &ev.RequestContext
		inv := g.begin(ctx, &request{
			method: rc.HTTP.Method, path: ev.RawPath, route: ev.RouteKey, headers: ev.Headers,
			query: ev.QueryStringParameters, rawQuery: ev.RawQueryString, sourceIP: rc.HTTP.SourceIP, apiRequestID: rc.RequestID,
		})
		if inv.err != nil {
			return httpAPIAnswer(g.refused(ctx, inv)), nil
		}
		ev.Headers = withoutAuthorization(ev.Headers)
		resp, herr, rerr := call(ctx, g, inv, h, ev, func(r events.APIGatewayV2HTTPResponse) int { return r.StatusCode })
		if rerr != nil {
			return httpAPIAnswer(g.unavailable(inv, rerr)), nil
		}
		return resp, herr
	}
}

func httpAPIAnswer(a answer) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: a.status, Headers: lowerKeys(a.headers), Body: a.body}
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
		inv := g.begin(ctx, &request{
			method: ev.HTTPMethod, path: ev.Path, route: route, headers: ev.Headers, multi: ev.MultiValueHeaders,
			query: ev.QueryStringParameters, multiQuery: ev.MultiValueQueryStringParameters,
			sourceIP: rc.Identity.SourceIP, apiRequestID: rc.RequestID,
		})
		if inv.err != nil {
			a := g.refused(ctx, inv)
			return events.APIGatewayProxyResponse{StatusCode: a.status, Headers: a.headers, Body: a.body}, nil
		}
		ev.Headers = withoutAuthorization(ev.Headers)
		ev.MultiValueHeaders = withoutAuthorization(ev.MultiValueHeaders)
		resp, herr, rerr := call(ctx, g, inv, h, ev, func(r events.APIGatewayProxyResponse) int { return r.StatusCode })
		if rerr != nil {
			a := g.unavailable(inv, rerr)
			return events.APIGatewayProxyResponse{StatusCode: a.status, Headers: a.headers, Body: a.body}, nil
		}
		return resp, herr
	}
}

// WrapFunctionURL protects a Lambda function URL handler (auth type NONE:
// the function itself checks the token).
func (g *Guard) WrapFunctionURL(h FunctionURLHandler) FunctionURLHandler {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		rc := &ev.RequestContext
		inv := g.begin(ctx, &request{
			method: rc.HTTP.Method, path: ev.RawPath, route: "$default", headers: ev.Headers,
			query: ev.QueryStringParameters, rawQuery: ev.RawQueryString, sourceIP: rc.HTTP.SourceIP, apiRequestID: rc.RequestID,
		})
		if inv.err != nil {
			a := g.refused(ctx, inv)
			return events.LambdaFunctionURLResponse{StatusCode: a.status, Headers: lowerKeys(a.headers), Body: a.body}, nil
		}
		ev.Headers = withoutAuthorization(ev.Headers)
		resp, herr, rerr := call(ctx, g, inv, h, ev, func(r events.LambdaFunctionURLResponse) int { return r.StatusCode })
		if rerr != nil {
			a := g.unavailable(inv, rerr)
			return events.LambdaFunctionURLResponse{StatusCode: a.status, Headers: lowerKeys(a.headers), Body: a.body}, nil
		}
		return resp, herr
	}
}

// WrapALB protects an Application Load Balancer target handler. Refusals
// use multiValueHeaders when the event did (the target group's
// multi-value headers setting), as ALB requires.
func (g *Guard) WrapALB(h ALBHandler) ALBHandler {
	return func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		multi := ev.MultiValueHeaders != nil
		inv := g.begin(ctx, &request{
			method: ev.HTTPMethod, path: ev.Path, headers: ev.Headers, multi: ev.MultiValueHeaders,
			query: ev.QueryStringParameters, multiQuery: ev.MultiValueQueryStringParameters, escapedQuery: true,
			sourceIP: albSourceIP(ev),
		})
		if inv.err != nil {
			return albAnswer(g.refused(ctx, inv), multi), nil
		}
		ev.Headers = withoutAuthorization(ev.Headers)
		ev.MultiValueHeaders = withoutAuthorization(ev.MultiValueHeaders)
		resp, herr, rerr := call(ctx, g, inv, h, ev, func(r events.ALBTargetGroupResponse) int { return r.StatusCode })
		if rerr != nil {
			return albAnswer(g.unavailable(inv, rerr), multi), nil
		}
		return resp, herr
	}
}

func albAnswer(a answer, multi bool) events.ALBTargetGroupResponse {
	r := events.ALBTargetGroupResponse{StatusCode: a.status, StatusDescription: strconv.Itoa(a.status) + " " + http.StatusText(a.status), Body: a.body}
	if multi {
		r.MultiValueHeaders = make(map[string][]string, len(a.headers))
		for k, v := range a.headers {
			r.MultiValueHeaders[k] = []string{v}
		}
	} else {
		r.Headers = a.headers
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
