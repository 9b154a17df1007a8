package lambdaauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

const apiPrefix = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/prod/"

// authorizerConfig protects an API of four routes: readers may list and
// read jobs (role reader), only operators may run or delete them.
func authorizerConfig(iss *testkit.Issuer, trail *auditBuffer) lambdaauth.Config {
	cfg := baseConfig(iss, trail)
	cfg.Resource = authz.Resource{}
	cfg.AuthZ.Roles = []authz.Role{
		{Name: "reader", Actions: []string{authz.ActionRead}, Routes: []string{"jobs-list", "jobs-get"}},
		{Name: "operator", Actions: []string{authz.ActionRead, authz.ActionWrite}, Routes: []string{"*"}},
	}
	cfg.AuthZ.Rules = append(cfg.AuthZ.Rules, authz.Rule{ID: "ops", Effect: authz.EffectAllow, Roles: []string{"operator"}, AppRoles: []string{"Jobs.Operate"}})
	route := func(method, path, action, id string) lambdaauth.Route {
		return lambdaauth.Route{Method: method, Path: path, Action: action, Resource: authz.Resource{Kind: authz.ResourceRoute, Name: id}}
	}
	cfg.Routes = []lambdaauth.Route{
		route("GET", "/jobs", authz.ActionRead, "jobs-list"),
		route("GET", "/jobs/{id}", authz.ActionRead, "jobs-get"),
		route("POST", "/jobs/{id}/run", authz.ActionWrite, "jobs-run"),
		route("DELETE", "/jobs/{proxy+}", authz.ActionWrite, "jobs-delete"),
	}
	return cfg
}

func authorize(t *testing.T, g *lambdaauth.Guard, event any) (any, error) {
	t.Helper()
	raw, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	return g.Authorizer()(lambdaCtx("authz-req"), raw)
}

// policyOf runs the authorizer on event and returns its IAM policy answer.
func policyOf(t *testing.T, g *lambdaauth.Guard, event any) events.APIGatewayCustomAuthorizerResponse {
	t.Helper()
	out, err := authorize(t, g, event)
	if err != nil {
		t.Fatalf("authorizer error %v", err)
	}
	r, ok := out.(events.APIGatewayCustomAuthorizerResponse)
	if !ok {
		t.Fatalf("answer %T, want an IAM policy response", out)
	}
	return r
}

func statement(effect string, resources ...string) events.IAMPolicyStatement {
	return events.IAMPolicyStatement{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: resources}
}

func TestAuthorizerPolicies(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	g := newGuard(t, authorizerConfig(iss, trail))
	reader := "Bearer " + readerToken(iss)
	operator := "Bearer " + signToken(iss, func(c map[string]any) { c["roles"] = []any{"Jobs.Operate"} })
	stranger := "Bearer " + signToken(iss, nil)

	allReaderDenies := statement("Deny", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*")
	// The API's route is the target of an allowed request only: nothing
	// runs for a denied one.
	const stage = "execute-api:a1b2c3/prod"
	for _, tc := range []struct {
		name, token, methodArn string
		want                   []events.IAMPolicyStatement
		wantEvent              audit.Event // beside the caller's identity and the request id
	}{
		{"reader reads: allowed exactly the read routes", reader, apiPrefix + "GET/jobs/42",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*"), allReaderDenies},
			audit.Event{Route: "GET /jobs/{id}", Action: authz.ActionRead, Resource: "route:jobs-get",
				Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: stage, Status: 200}},
		{"reader runs: denied, the same cacheable policy plus the method", reader, apiPrefix + "POST/jobs/42/run",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*"),
				statement("Deny", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*", apiPrefix+"POST/jobs/42/run")},
			audit.Event{Route: "POST /jobs/{id}/run", Action: authz.ActionWrite, Resource: "route:jobs-run",
				Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"}},
		{"operator: every route allowed, the whole stage", operator, apiPrefix + "DELETE/jobs/42/logs",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"*")},
			audit.Event{Route: "DELETE /jobs/{proxy+}", Action: authz.ActionWrite, Resource: "route:jobs-delete",
				Decision: audit.DecisionAllow, Policies: []string{"ops/operator"}, Role: "operator", Target: stage, Status: 200}},
		{"operator on an unlisted route: no stage wildcard", operator, apiPrefix + "GET/admin",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*"),
				statement("Deny", apiPrefix+"GET/admin")},
			audit.Event{Route: "GET /admin", Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"}},
		{"no role at all: every route denied", stranger, apiPrefix + "GET/jobs",
			[]events.IAMPolicyStatement{statement("Deny", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*")},
			audit.Event{Route: "GET /jobs", Action: authz.ActionRead, Resource: "route:jobs-list",
				Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := policyOf(t, g, events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: tc.token, MethodArn: tc.methodArn})
			want := events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: tc.want}
			if diff := cmp.Diff(want, r.PolicyDocument); diff != "" {
				t.Errorf("policy (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(r.PrincipalID, audit.PseudonymPrefix) {
				t.Errorf("principalId %q is not the pseudonym", r.PrincipalID)
			}
			for k, v := range r.Context {
				if _, ok := v.(string); !ok {
					t.Errorf("context[%s] = %#v is not a string", k, v)
				}
			}
			if r.Context["principal"] != r.PrincipalID || r.Context["tenant"] != testTenant || r.Context["kind"] != "user" || r.Context["requestId"] != "authz-req" {
				t.Errorf("context %v", r.Context)
			}
			if got, _ := r.Context["role"].(string); got != tc.wantEvent.Role {
				t.Errorf("context role %q, want %q", got, tc.wantEvent.Role)
			}
			wantEv := userEvent(t, tc.wantEvent)
			wantEv.RequestID = "authz-req"
			ev := trail.last(t)
			if diff := testkit.DiffEvent(wantEv, ev); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
			if ev.Principal != r.PrincipalID {
				t.Errorf("audit principal %q, principalId %q: want the same pseudonym", ev.Principal, r.PrincipalID)
			}
		})
	}

	t.Run("REQUEST matches the resource template", func(t *testing.T) {
		r := policyOf(t, g, events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type: "REQUEST", MethodArn: apiPrefix + "GET/jobs/42", Resource: "/jobs/{jobId}", Path: "/jobs/42", HTTPMethod: "GET",
			Headers:        map[string]string{"Authorization": reader},
			RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{RequestID: "api-1"},
		})
		if r.PolicyDocument.Statement[0].Effect != "Allow" || r.Context["role"] != "reader" {
			t.Errorf("policy %+v context %v", r.PolicyDocument, r.Context)
		}
		want := userEvent(t, audit.Event{RequestID: "authz-req", Route: "GET /jobs/{id}", Action: authz.ActionRead, Resource: "route:jobs-get",
			Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: stage, TargetRequestID: "api-1", Status: 200})
		if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
			t.Errorf("audit event (-want +got):\n%s", diff)
		}
	})

	for _, tc := range []struct {
		name         string
		event        any
		check, class string
	}{
		{"TOKEN without a token", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: apiPrefix + "GET/jobs"},
			authn.CheckRequest, string(authn.InvalidRequest)},
		{"TOKEN with a bad token", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: reader + "x", MethodArn: apiPrefix + "GET/jobs"},
			authn.CheckFormat, string(authn.InvalidToken)},
		{"TOKEN with another scheme", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Basic eA==", MethodArn: apiPrefix + "GET/jobs"},
			authn.CheckRequest, string(authn.InvalidRequest)},
		{"REQUEST without a token", events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: apiPrefix + "GET/jobs"},
			authn.CheckRequest, string(authn.InvalidRequest)},
	} {
		t.Run(tc.name+": Unauthorized", func(t *testing.T) {
			out, err := authorize(t, g, tc.event)
			if !errors.Is(err, lambdaauth.ErrUnauthorized) || err.Error() != "Unauthorized" || out != nil {
				t.Fatalf("= %v, %v; want the error \"Unauthorized\"", out, err)
			}
			// No identity: the token was not verified.
			want := audit.Event{RequestID: "authz-req", Route: "GET /jobs", Action: authz.ActionRead, Resource: "route:jobs-list",
				Decision: audit.DecisionError, Status: 401, Check: tc.check, ErrorClass: tc.class}
			if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("HTTP API payload 1.0: a bad token is denied, not an error", func(t *testing.T) {
		r := policyOf(t, g, events.APIGatewayV2CustomAuthorizerV1Request{
			Version: "1.0", Type: "REQUEST", MethodArn: apiPrefix + "GET/jobs", Headers: map[string]string{"authorization": "Bearer bad"},
		})
		want := events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{statement("Deny", apiPrefix+"GET/jobs")}}
		if diff := cmp.Diff(want, r.PolicyDocument); diff != "" || r.Context != nil {
			t.Errorf("policy (-want +got):\n%s context %v", diff, r.Context)
		}
	})

	for _, tc := range []struct {
		name string
		raw  string
	}{
		{"not JSON", `nope`},
		{"not an authorizer event", `{"version":"2.0","routeKey":"GET /jobs"}`},
		{"a bad method ARN", `{"type":"TOKEN","authorizationToken":"Bearer x","methodArn":"arn:aws:lambda:x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := g.Authorizer()(lambdaCtx("r"), json.RawMessage(tc.raw)); err == nil {
				t.Fatalf("= %v, want an error (API Gateway answers 500)", out)
			}
		})
	}
}

func TestAuthorizerSimpleResponses(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	g := newGuard(t, authorizerConfig(iss, trail))
	event := func(token, routeKey, method, path string) events.APIGatewayV2CustomAuthorizerV2Request {
		ev := events.APIGatewayV2CustomAuthorizerV2Request{
			Version: "2.0", Type: "REQUEST", RouteArn: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/$default/" + method + path,
			RouteKey: routeKey, RawPath: path,
		}
		ev.RequestContext.HTTP.Method = method
		ev.RequestContext.RequestID = "api-2"
		if token != "" {
			ev.Headers = map[string]string{"authorization": "Bearer " + token}
			ev.IdentitySource = []string{"Bearer " + token}
		}
		return ev
	}
	const stage = "execute-api:a1b2c3/$default"
	for _, tc := range []struct {
		name      string
		ev        events.APIGatewayV2CustomAuthorizerV2Request
		want      bool
		wantEvent audit.Event // beside the request id; the target is the API's request when allowed
	}{
		{"reader on a read route", event(readerToken(iss), "GET /jobs/{id}", "GET", "/jobs/7"), true,
			userEvent(t, audit.Event{Route: "GET /jobs/{id}", Action: authz.ActionRead, Resource: "route:jobs-get",
				Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: stage, TargetRequestID: "api-2", Status: 200})},
		{"reader on a write route", event(readerToken(iss), "POST /jobs/{id}/run", "POST", "/jobs/7/run"), false,
			userEvent(t, audit.Event{Route: "POST /jobs/{id}/run", Action: authz.ActionWrite, Resource: "route:jobs-run",
				Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"})},
		{"$default route, matched by path", event(readerToken(iss), "$default", "GET", "/jobs"), true,
			userEvent(t, audit.Event{Route: "GET /jobs", Action: authz.ActionRead, Resource: "route:jobs-list",
				Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: stage, TargetRequestID: "api-2", Status: 200})},
		{"unlisted route", event(readerToken(iss), "$default", "GET", "/admin"), false,
			userEvent(t, audit.Event{Route: "GET /admin", Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"})},
		{"no token", event("", "GET /jobs", "GET", "/jobs"), false,
			audit.Event{Route: "GET /jobs", Action: authz.ActionRead, Resource: "route:jobs-list",
				Decision: audit.DecisionError, Status: 401, Check: authn.CheckRequest, ErrorClass: string(authn.InvalidRequest)}},
		{"bad token", event("x.y.z", "GET /jobs", "GET", "/jobs"), false,
			audit.Event{Route: "GET /jobs", Action: authz.ActionRead, Resource: "route:jobs-list",
				Decision: audit.DecisionError, Status: 401, Check: authn.CheckFormat, ErrorClass: string(authn.InvalidToken)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := authorize(t, g, tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := out.(events.APIGatewayV2CustomAuthorizerSimpleResponse)
			if !ok {
				t.Fatalf("answer %T, want a simple response", out)
			}
			if r.IsAuthorized != tc.want {
				t.Errorf("isAuthorized %v, want %v", r.IsAuthorized, tc.want)
			}
			if got, _ := r.Context["role"].(string); got != tc.wantEvent.Role {
				t.Errorf("context %v, want role %q", r.Context, tc.wantEvent.Role)
			}
			want := tc.wantEvent
			want.RequestID = "authz-req"
			if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
		})
	}
}

// Without routes the authorizer decides Config.Action on Config.Resource
// and answers for exactly the method ARN.
func TestAuthorizerWithoutRoutes(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	g := newGuard(t, baseConfig(iss, &auditBuffer{}))
	arn := apiPrefix + "GET/report"
	for token, effect := range map[string]string{readerToken(iss): "Allow", signToken(iss, nil): "Deny"} {
		r := policyOf(t, g, events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer " + token, MethodArn: arn})
		want := events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{statement(effect, arn)}}
		if diff := cmp.Diff(want, r.PolicyDocument); diff != "" {
			t.Errorf("%s: policy (-want +got):\n%s", effect, diff)
		}
	}
}

func TestRouteConfigRefused(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	for _, tc := range []struct {
		name string
		r    lambdaauth.Route
		want string
	}{
		{"relative path", lambdaauth.Route{Method: "GET", Path: "jobs"}, "from /"},
		{"greedy not last", lambdaauth.Route{Path: "/{p+}/x"}, "last segment"},
		{"mixed segment", lambdaauth.Route{Path: "/job-{id}"}, "mixes"},
		{"empty segment", lambdaauth.Route{Path: "/a//b"}, "empty segment"},
		{"bad method", lambdaauth.Route{Method: "G3T", Path: "/a"}, "method"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(iss, &auditBuffer{})
			tc.r.Resource = authz.Resource{Kind: authz.ResourceRoute, Name: "x"}
			cfg.Routes = []lambdaauth.Route{tc.r}
			if _, err := lambdaauth.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
	cfg := baseConfig(iss, &auditBuffer{})
	r := lambdaauth.Route{Method: "GET", Path: "/a/{x}", Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "x"}}
	r2 := r
	r2.Path = "/a/{y}"
	cfg.Routes = []lambdaauth.Route{r, r2}
	if _, err := lambdaauth.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a route declared twice: %v", err)
	}
}
