package lambdaauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"gatehouse/audit"
	"gatehouse/authz"
	"gatehouse/lambdaauth"
)

const apiPrefix = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/prod/"

// authorizerConfig protects an API of four routes: readers may list and
// read jobs (role reader), only operators may run or delete them.
func authorizerConfig(ti *testIssuer, trail *auditBuffer) lambdaauth.Config {
	cfg := baseConfig(ti, trail)
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
	ti := newTestIssuer(t)
	trail := &auditBuffer{}
	g := newGuard(t, authorizerConfig(ti, trail))
	reader := "Bearer " + ti.reader(t)
	operator := "Bearer " + ti.token(t, func(c jwt.MapClaims) { c["roles"] = []any{"Jobs.Operate"} })
	stranger := "Bearer " + ti.token(t, nil)

	allReaderDenies := statement("Deny", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*")
	for _, tc := range []struct {
		name, token, methodArn string
		want                   []events.IAMPolicyStatement
		wantRole, wantRoute    string
		wantDecision           string
	}{
		{"reader reads: allowed exactly the read routes", reader, apiPrefix + "GET/jobs/42",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*"), allReaderDenies},
			"reader", "GET /jobs/{id}", audit.DecisionAllow},
		{"reader runs: denied, the same cacheable policy plus the method", reader, apiPrefix + "POST/jobs/42/run",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*"),
				statement("Deny", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*", apiPrefix+"POST/jobs/42/run")},
			"", "POST /jobs/{id}/run", audit.DecisionDeny},
		{"operator: every route allowed, the whole stage", operator, apiPrefix + "DELETE/jobs/42/logs",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"*")},
			"operator", "DELETE /jobs/{proxy+}", audit.DecisionAllow},
		{"operator on an unlisted route: no stage wildcard", operator, apiPrefix + "GET/admin",
			[]events.IAMPolicyStatement{statement("Allow", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*"),
				statement("Deny", apiPrefix+"GET/admin")},
			"", "GET /admin", audit.DecisionDeny},
		{"no role at all: every route denied", stranger, apiPrefix + "GET/jobs",
			[]events.IAMPolicyStatement{statement("Deny", apiPrefix+"GET/jobs", apiPrefix+"GET/jobs/*", apiPrefix+"POST/jobs/*/run", apiPrefix+"DELETE/jobs/*")},
			"", "GET /jobs", audit.DecisionDeny},
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
			if got, _ := r.Context["role"].(string); got != tc.wantRole {
				t.Errorf("context role %q, want %q", got, tc.wantRole)
			}
			ev := trail.last(t)
			// The API's route is the target of an allowed request only:
			// nothing runs for a denied one.
			wantTarget := map[bool]string{true: "execute-api:a1b2c3/prod"}[tc.wantDecision == audit.DecisionAllow]
			if ev.Route != tc.wantRoute || ev.Decision != tc.wantDecision || ev.RequestID != "authz-req" || ev.Target != wantTarget {
				t.Errorf("audit event %+v", ev)
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
		if ev := trail.last(t); ev.TargetRequestID != "api-1" || ev.Route != "GET /jobs/{id}" {
			t.Errorf("audit event %+v", ev)
		}
	})

	for _, tc := range []struct {
		name  string
		event any
	}{
		{"TOKEN without a token", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", MethodArn: apiPrefix + "GET/jobs"}},
		{"TOKEN with a bad token", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: reader + "x", MethodArn: apiPrefix + "GET/jobs"}},
		{"TOKEN with another scheme", events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Basic eA==", MethodArn: apiPrefix + "GET/jobs"}},
		{"REQUEST without a token", events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: apiPrefix + "GET/jobs"}},
	} {
		t.Run(tc.name+": Unauthorized", func(t *testing.T) {
			out, err := authorize(t, g, tc.event)
			if !errors.Is(err, lambdaauth.ErrUnauthorized) || err.Error() != "Unauthorized" || out != nil {
				t.Fatalf("= %v, %v; want the error \"Unauthorized\"", out, err)
			}
			if ev := trail.last(t); ev.Status != 401 || ev.Decision != audit.DecisionError {
				t.Errorf("audit event %+v", ev)
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
	ti := newTestIssuer(t)
	trail := &auditBuffer{}
	g := newGuard(t, authorizerConfig(ti, trail))
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
	for _, tc := range []struct {
		name       string
		ev         events.APIGatewayV2CustomAuthorizerV2Request
		want       bool
		wantRole   string
		wantStatus int
	}{
		{"reader on a read route", event(ti.reader(t), "GET /jobs/{id}", "GET", "/jobs/7"), true, "reader", 200},
		{"reader on a write route", event(ti.reader(t), "POST /jobs/{id}/run", "POST", "/jobs/7/run"), false, "", 403},
		{"$default route, matched by path", event(ti.reader(t), "$default", "GET", "/jobs"), true, "reader", 200},
		{"unlisted route", event(ti.reader(t), "$default", "GET", "/admin"), false, "", 403},
		{"no token", event("", "GET /jobs", "GET", "/jobs"), false, "", 401},
		{"bad token", event("x.y.z", "GET /jobs", "GET", "/jobs"), false, "", 401},
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
			if got, _ := r.Context["role"].(string); got != tc.wantRole {
				t.Errorf("context %v, want role %q", r.Context, tc.wantRole)
			}
			if ev := trail.last(t); ev.Status != tc.wantStatus || (ev.TargetRequestID == "api-2") != (tc.wantStatus == 200) {
				t.Errorf("audit event %+v, want status %d", ev, tc.wantStatus)
			}
		})
	}
}

// Without routes the authorizer decides Config.Action on Config.Resource
// and answers for exactly the method ARN.
func TestAuthorizerWithoutRoutes(t *testing.T) {
	ti := newTestIssuer(t)
	g := newGuard(t, baseConfig(ti, &auditBuffer{}))
	arn := apiPrefix + "GET/report"
	for token, effect := range map[string]string{ti.reader(t): "Allow", ti.token(t, nil): "Deny"} {
		r := policyOf(t, g, events.APIGatewayCustomAuthorizerRequest{Type: "TOKEN", AuthorizationToken: "Bearer " + token, MethodArn: arn})
		want := events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{statement(effect, arn)}}
		if diff := cmp.Diff(want, r.PolicyDocument); diff != "" {
			t.Errorf("%s: policy (-want +got):\n%s", effect, diff)
		}
	}
}

func TestRouteConfigRefused(t *testing.T) {
	ti := newTestIssuer(t)
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
			cfg := baseConfig(ti, &auditBuffer{})
			tc.r.Resource = authz.Resource{Kind: authz.ResourceRoute, Name: "x"}
			cfg.Routes = []lambdaauth.Route{tc.r}
			if _, err := lambdaauth.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want %q", err, tc.want)
			}
		})
	}
	cfg := baseConfig(ti, &auditBuffer{})
	r := lambdaauth.Route{Method: "GET", Path: "/a/{x}", Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "x"}}
	r2 := r
	r2.Path = "/a/{y}"
	cfg.Routes = []lambdaauth.Route{r, r2}
	if _, err := lambdaauth.New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a route declared twice: %v", err)
	}
}
