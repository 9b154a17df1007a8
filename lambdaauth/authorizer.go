package lambdaauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// AuthorizerHandler is an API Gateway Lambda authorizer, as lambda.Start
// takes it: the event as raw JSON, the answer as a value to encode.
type AuthorizerHandler func(context.Context, json.RawMessage) (any, error)

// ErrUnauthorized is what a REST API authorizer fails with when the token
// is missing or fails a check: API Gateway answers the exact message
// "Unauthorized" (capitalised as it matches it) with 401, and caches
// nothing.
var ErrUnauthorized = errors.New("Unauthorized")

// errKeysUnavailable fails an authorizer whose issuer keys are unavailable:
// API Gateway answers 500, which, unlike a denial, it does not cache.
var errKeysUnavailable = errors.New("lambdaauth: the issuer's signing keys are unavailable")

// PolicyVersion is the IAM policy language version of authorizer policies.
const PolicyVersion = "2012-10-17"

// InvokeAction is the action authorizer policies allow or deny.
const InvokeAction = "execute-api:Invoke"

// Authorizer returns the handler of an API Gateway Lambda authorizer built
// on the Guard:
//
//   - REST API TOKEN authorizers (the token source header's value as
//     authorizationToken) and REQUEST authorizers (the Authorization
//     header), and HTTP API authorizers with payload format 1.0, get an
//     IAM policy (APIGatewayCustomAuthorizerResponse);
//   - HTTP API authorizers with payload format 2.0 get a simple response
//     (isAuthorized and context; enableSimpleResponses must be on).
//
// With Config.Routes, each request is matched to its route (by the
// REQUEST event's resource template, the HTTP API route key, or the method
// ARN's path) and every route is decided for the caller: the policy allows
// execute-api:Invoke on the ARNs of the allowed routes (path parameters as
// "*"; the whole stage only when every route is allowed and the request
// matched one) and denies the denied ones and the requested method ARN if
// it is not allowed, so a policy API Gateway caches for the token and
// reuses for other methods never allows more than a fresh decision would.
// A request that matches no route is denied. List every route of the API
// that uses the authorizer: an IAM "*" spans "/", so a cached allow for
// "GET /jobs/{id}" also covers an unlisted "GET /jobs/{id}/logs". Without
// Routes, Config.Action on Config.Resource is decided and exactly the
// method ARN is allowed or denied: turn the authorizer cache off then, or
// cached policies will deny other paths.
//
// A simple response answers the requested route only: with caching on, add
// $context.routeKey to the identity sources.
//
// A missing, malformed or failing token makes a REST authorizer fail with
// ErrUnauthorized (401) and an HTTP API authorizer deny (403). Issuer keys
// unavailable past their maximum age, or an audit trail that cannot take
// the event, fail the authorizer (API Gateway answers 500 and caches
// nothing). Anything that is not an authorizer event is an error.
func (g *Guard) Authorizer() AuthorizerHandler {
	return g.authorize
}

func (g *Guard) authorize(ctx context.Context, raw json.RawMessage) (any, error) {
	var head struct {
		Type    string `json:"type"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("lambdaauth: authorizer event: %w", err)
	}
	switch {
	case head.Version == "2.0" && strings.EqualFold(head.Type, "REQUEST"):
		var ev events.APIGatewayV2CustomAuthorizerV2Request
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("lambdaauth: authorizer event: %w", err)
		}
		return g.simpleResponse(ctx, &ev)
	case head.Version == "1.0" && strings.EqualFold(head.Type, "REQUEST"):
		var ev events.APIGatewayV2CustomAuthorizerV1Request
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("lambdaauth: authorizer event: %w", err)
		}
		method := cmpOr(ev.HTTPMethod, ev.RequestContext.HTTPMethod)
		return g.policyResponse(ctx, authzInput{
			arn: ev.MethodArn, method: method, template: cmpOr(ev.Resource, ev.RequestContext.ResourcePath),
			req: &request{method: method, path: ev.Path, headers: ev.Headers, query: ev.QueryStringParameters,
				sourceIP: ev.RequestContext.Identity.SourceIP, apiRequestID: ev.RequestContext.RequestID},
		})
	case head.Version == "" && strings.EqualFold(head.Type, "TOKEN"):
		var ev events.APIGatewayCustomAuthorizerRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("lambdaauth: authorizer event: %w", err)
		}
		var h map[string]string
		if ev.AuthorizationToken != "" {
			h = map[string]string{"Authorization": ev.AuthorizationToken}
		}
		return g.policyResponse(ctx, authzInput{arn: ev.MethodArn, req: &request{headers: h}, rest: true})
	case head.Version == "" && strings.EqualFold(head.Type, "REQUEST"):
		var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("lambdaauth: authorizer event: %w", err)
		}
		method := cmpOr(ev.HTTPMethod, ev.RequestContext.HTTPMethod)
		return g.policyResponse(ctx, authzInput{
			arn: ev.MethodArn, method: method, template: cmpOr(ev.Resource, ev.RequestContext.ResourcePath), rest: true,
			req: &request{method: method, path: ev.Path, headers: ev.Headers, multi: ev.MultiValueHeaders,
				query: ev.QueryStringParameters, multiQuery: ev.MultiValueQueryStringParameters,
				sourceIP: ev.RequestContext.Identity.SourceIP, apiRequestID: ev.RequestContext.RequestID},
		})
	}
	return nil, errors.New("lambdaauth: not an API Gateway authorizer event (type TOKEN or REQUEST, version 1.0 or 2.0 for HTTP APIs)")
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// authzInput is what an authorizer event says about the request.
type authzInput struct {
	arn      string // methodArn, or routeArn for HTTP API 2.0
	method   string // the request's method, when the event says it
	template string // the route's resource template, when the event says it
	routeKey string // HTTP API route key ("POST /jobs/{id}", "$default")
	req      *request
	rest     bool // a REST API authorizer: a failing token is ErrUnauthorized
}

// verdict is the authorizer's decision for one event.
type verdict struct {
	c       *pipeline.Call
	ctx     context.Context // the invocation's, with its span
	span    trace.Span      // the invocation's
	arn     executeAPIArn
	current *route // the requested route; nil if none matched (or no Routes)
	allow   bool   // the requested route is allowed
	allowed []*route
	denied  []*route
}

// decide runs the pipeline's steps 1 and 2 for the requested route (the
// Guard's action and resource without Routes) and, if every, decides
// every configured route for the same principal. A refusal is in v.c.Err().
func (g *Guard) decide(ctx context.Context, in authzInput, every bool) (*verdict, error) {
	arn, err := parseExecuteAPIArn(in.arn)
	if err != nil {
		return nil, err
	}
	v := &verdict{arn: arn}
	req := g.pipelineRequest(ctx, in.req)
	req.ID, req.Route = lambdaRequestID(ctx, ""), ""
	if len(g.routes) > 0 {
		v.current = g.requestedRoute(in, arn)
		req.Action, req.Resource, req.Role = "", authz.Resource{}, ""
		req.Route = arn.method + " /" + arn.path
	}
	if v.current != nil {
		req.Route, req.Action, req.Resource, req.Role = v.current.id, v.current.Action, v.current.Resource, v.current.Role
	}
	// With Routes, a request that matches none has nothing to be allowed:
	// policy denies it (no resource), after the token is checked. The span
	// is named for the route matched, never for the request's path.
	name := "authorize"
	if v.current != nil {
		name = "authorize " + v.current.id
	}
	v.ctx, v.span = g.traceInvocation(ctx, req.ID, "", "", in.req)
	v.span.SetName(name)
	if v.current != nil && v.span.IsRecording() {
		v.span.SetAttributes(attribute.String(pipeline.AttrRoute, v.current.id))
	}
	v.c = g.pl.Begin(v.ctx, req)
	v.allow = v.c.Err() == nil
	if v.c.Principal == nil || !every {
		return v, nil
	}
	for _, rt := range g.routes {
		d := v.c.Decision
		if rt != v.current {
			d = v.c.Decide(rt.Action, rt.Resource, rt.Role)
		}
		if d.Allow {
			v.allowed = append(v.allowed, rt)
		} else {
			v.denied = append(v.denied, rt)
		}
	}
	return v, nil
}

// requestedRoute finds the configured route of the request.
func (g *Guard) requestedRoute(in authzInput, arn executeAPIArn) *route {
	if in.template != "" {
		if r := matchTemplate(g.routes, cmpOr(in.method, arn.method), in.template); r != nil {
			return r
		}
	}
	if in.routeKey != "" && in.routeKey != "$default" {
		if method, tmpl, ok := strings.Cut(in.routeKey, " "); ok {
			if r := matchTemplate(g.routes, method, tmpl); r != nil {
				return r
			}
		}
	}
	return matchPath(g.routes, arn.method, "/"+arn.path)
}

// finish records the verdict's event; an error means the authorizer must
// fail rather than answer (API Gateway answers 500 and caches nothing).
// It returns the status the request gets: 200, 403, 401 for any token
// failure (an authorizer can only say Unauthorized), 503 when the issuer's
// keys are unavailable.
func (g *Guard) finish(ctx context.Context, v *verdict, in authzInput) (int, error) {
	status := http.StatusOK
	if err := v.c.Err(); err != nil {
		status = v.c.Refuse(err).Status // fills check and error class, logs
		if status == http.StatusBadRequest {
			status = http.StatusUnauthorized
		}
	} else {
		// The decision lets API Gateway run the route's integration.
		v.c.Invoked("execute-api:"+v.arn.apiID+"/"+v.arn.stage, in.req.apiRequestID)
	}
	err := v.c.Finish(v.ctx, status)
	g.endInvocation(v.ctx, v.span, v.c, status)
	return status, err
}

// policyResponse answers REST API authorizers and HTTP API payload 1.0.
func (g *Guard) policyResponse(ctx context.Context, in authzInput) (any, error) {
	v, err := g.decide(ctx, in, true)
	if err != nil {
		return nil, err
	}
	status, err := g.finish(ctx, v, in)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusServiceUnavailable:
		return nil, errKeysUnavailable
	case status == http.StatusUnauthorized && in.rest:
		return nil, ErrUnauthorized
	case status == http.StatusUnauthorized:
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID:    "unauthenticated",
			PolicyDocument: policy(nil, []string{v.arn.raw}),
		}, nil
	}
	var allow, deny []string
	switch {
	case len(g.routes) == 0 && v.allow:
		allow = []string{v.arn.raw}
	case len(g.routes) == 0:
		deny = []string{v.arn.raw}
	default:
		if len(v.allowed) == len(g.routes) && v.current != nil {
			allow = []string{v.arn.prefix + "*"}
		} else {
			for _, r := range v.allowed {
				allow = append(allow, v.arn.resource(r))
			}
		}
		for _, r := range v.denied {
			deny = append(deny, v.arn.resource(r))
		}
		if !v.allow && !slices.Contains(deny, v.arn.raw) {
			deny = append(deny, v.arn.raw)
		}
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:    v.c.Event.Principal,
		PolicyDocument: policy(allow, deny),
		Context:        g.authorizerContext(v),
	}, nil
}

// simpleResponse answers HTTP API payload 2.0 authorizers.
func (g *Guard) simpleResponse(ctx context.Context, ev *events.APIGatewayV2CustomAuthorizerV2Request) (any, error) {
	rc := &ev.RequestContext
	method := rc.HTTP.Method
	in := authzInput{
		arn: ev.RouteArn, method: method, routeKey: ev.RouteKey,
		req: &request{method: method, path: ev.RawPath, headers: ev.Headers, query: ev.QueryStringParameters,
			rawQuery: ev.RawQueryString, sourceIP: rc.HTTP.SourceIP, apiRequestID: rc.RequestID},
	}
	v, err := g.decide(ctx, in, false)
	if err != nil {
		return nil, err
	}
	status, err := g.finish(ctx, v, in)
	if err != nil {
		return nil, err
	}
	if status == http.StatusServiceUnavailable {
		return nil, errKeysUnavailable
	}
	resp := events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: v.allow}
	if v.c.Principal != nil {
		resp.Context = g.authorizerContext(v)
	}
	return resp, nil
}

// authorizerContext is the context map of an answer: strings only, no
// personal data (the principal as its pseudonym).
func (g *Guard) authorizerContext(v *verdict) map[string]any {
	c := map[string]any{}
	set := func(k, val string) {
		if val != "" {
			c[k] = val
		}
	}
	p := v.c.Principal
	set("principal", v.c.Event.Principal)
	set("tenant", p.Tenant)
	set("kind", string(p.Kind))
	set("roles", strings.Join(p.Roles, " "))
	set("role", v.c.Decision.Role)
	set("agent", p.Agent())
	set("requestId", v.c.Event.RequestID)
	return c
}

func policy(allow, deny []string) events.APIGatewayCustomAuthorizerPolicy {
	p := events.APIGatewayCustomAuthorizerPolicy{Version: PolicyVersion}
	if len(allow) > 0 {
		p.Statement = append(p.Statement, events.IAMPolicyStatement{Action: []string{InvokeAction}, Effect: "Allow", Resource: allow})
	}
	if len(deny) > 0 {
		p.Statement = append(p.Statement, events.IAMPolicyStatement{Action: []string{InvokeAction}, Effect: "Deny", Resource: deny})
	}
	return p
}

// executeAPIArn is a method or route ARN:
// arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>.
type executeAPIArn struct {
	raw          string
	prefix       string // through "<stage>/"
	apiID, stage string
	method, path string // path without its leading "/"
}

func parseExecuteAPIArn(s string) (executeAPIArn, error) {
	bad := fmt.Errorf("lambdaauth: %q is not an execute-api method ARN", truncate(s, 200))
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "execute-api" || parts[3] == "" || parts[4] == "" {
		return executeAPIArn{}, bad
	}
	res := strings.SplitN(parts[5], "/", 4)
	if len(res) < 3 || res[0] == "" || res[1] == "" || res[2] == "" {
		return executeAPIArn{}, bad
	}
	a := executeAPIArn{raw: s, apiID: res[0], stage: res[1], method: res[2]}
	if len(res) == 4 {
		a.path = res[3]
	}
	a.prefix = strings.Join(parts[:5], ":") + ":" + a.apiID + "/" + a.stage + "/"
	return a, nil
}

// resource is the ARN of route r in the same API and stage.
func (a executeAPIArn) resource(r *route) string {
	return a.prefix + r.arnMethod() + "/" + r.arnPath
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
