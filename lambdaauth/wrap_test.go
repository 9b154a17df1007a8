package lambdaauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

// seen is what a wrapped handler saw of its invocation.
type seen struct {
	called  bool
	caller  *lambdaauth.Caller
	headers []string // header names of the event it got
}

// outcome is a wrapper's answer in a shape common to every event type.
type outcome struct {
	status  int
	headers map[string]string // lower-case names
	body    string
}

// eventKind drives one wrapper with a request given as headers (one value
// each, as written), multi-value headers and a raw query.
type eventKind struct {
	name  string
	route string // what the trail records as the event's route
	run   func(t *testing.T, g *lambdaauth.Guard, ctx context.Context, headers map[string]string, multi map[string][]string, query string, s *seen) outcome
}

func lower(h map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[strings.ToLower(k)] = v
	}
	return out
}

func queryMaps(raw string) (map[string]string, map[string][]string) {
	if raw == "" {
		return nil, nil
	}
	q, _ := url.ParseQuery(raw)
	single := map[string]string{}
	for k, vs := range q {
		single[k] = strings.Join(vs, ",")
	}
	return single, q
}

func handlerHeaders[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, strings.ToLower(k))
	}
	return out
}

var eventKinds = []eventKind{
	{"HTTP API 2.0", "GET /report", func(t *testing.T, g *lambdaauth.Guard, ctx context.Context, headers map[string]string, multi map[string][]string, query string, s *seen) outcome {
		q, _ := queryMaps(query)
		ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /report", RawPath: "/report", RawQueryString: query,
			Headers: lower(headers), QueryStringParameters: q,
			RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "api-req-1", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/report", SourceIP: "192.0.2.10"}}}
		for k, vs := range multi { // HTTP API joins repeated headers with commas
			ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
		}
		resp, err := g.WrapHTTPAPI(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			s.called, s.headers = true, handlerHeaders(ev.Headers)
			s.caller, _ = lambdaauth.FromContext(ctx)
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "ok"}, nil
		})(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return outcome{resp.StatusCode, lower(resp.Headers), resp.Body}
	}},
	{"REST API", "GET /report", func(t *testing.T, g *lambdaauth.Guard, ctx context.Context, headers map[string]string, multi map[string][]string, query string, s *seen) outcome {
		q, mq := queryMaps(query)
		ev := events.APIGatewayProxyRequest{Resource: "/report", Path: "/report", HTTPMethod: "GET", Headers: headers,
			QueryStringParameters: q, MultiValueQueryStringParameters: mq,
			RequestContext: events.APIGatewayProxyRequestContext{RequestID: "api-req-1", Identity: events.APIGatewayRequestIdentity{SourceIP: "192.0.2.10"}}}
		if multi != nil {
			ev.MultiValueHeaders = multi
		} else if headers != nil {
			ev.MultiValueHeaders = map[string][]string{}
			for k, v := range headers {
				ev.MultiValueHeaders[k] = []string{v}
			}
		}
		resp, err := g.WrapREST(func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
			s.called, s.headers = true, append(handlerHeaders(ev.Headers), handlerHeaders(ev.MultiValueHeaders)...)
			s.caller, _ = lambdaauth.FromContext(ctx)
			return events.APIGatewayProxyResponse{StatusCode: 200, Body: "ok"}, nil
		})(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return outcome{resp.StatusCode, lower(resp.Headers), resp.Body}
	}},
	{"function URL", "$default", func(t *testing.T, g *lambdaauth.Guard, ctx context.Context, headers map[string]string, multi map[string][]string, query string, s *seen) outcome {
		q, _ := queryMaps(query)
		ev := events.LambdaFunctionURLRequest{Version: "2.0", RawPath: "/report", RawQueryString: query, Headers: lower(headers), QueryStringParameters: q,
			RequestContext: events.LambdaFunctionURLRequestContext{RequestID: "api-req-1", DomainName: "abc.lambda-url.eu-west-1.on.aws",
				HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET", Path: "/report"}}}
		for k, vs := range multi {
			ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
		}
		resp, err := g.WrapFunctionURL(func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
			s.called, s.headers = true, handlerHeaders(ev.Headers)
			s.caller, _ = lambdaauth.FromContext(ctx)
			return events.LambdaFunctionURLResponse{StatusCode: 200, Body: "ok"}, nil
		})(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return outcome{resp.StatusCode, lower(resp.Headers), resp.Body}
	}},
	{"ALB", "", func(t *testing.T, g *lambdaauth.Guard, ctx context.Context, headers map[string]string, multi map[string][]string, query string, s *seen) outcome {
		q, mq := queryMaps(query)
		ev := events.ALBTargetGroupRequest{HTTPMethod: "GET", Path: "/report"}
		if multi != nil { // the target group's multi-value headers setting
			ev.MultiValueHeaders, ev.MultiValueQueryStringParameters = multi, mq
			for k, v := range headers {
				ev.MultiValueHeaders[k] = append(ev.MultiValueHeaders[k], v)
			}
		} else {
			ev.Headers, ev.QueryStringParameters = headers, q
		}
		ev.RequestContext.ELB.TargetGroupArn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/protected/1"
		resp, err := g.WrapALB(func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
			s.called, s.headers = true, append(handlerHeaders(ev.Headers), handlerHeaders(ev.MultiValueHeaders)...)
			s.caller, _ = lambdaauth.FromContext(ctx)
			return events.ALBTargetGroupResponse{StatusCode: 200, StatusDescription: "200 OK", Body: "ok"}, nil
		})(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		h := lower(resp.Headers)
		if multi != nil {
			if resp.Headers != nil {
				t.Errorf("ALB multi-value event answered with single-value headers %v", resp.Headers)
			}
			for k, vs := range resp.MultiValueHeaders {
				h[strings.ToLower(k)] = strings.Join(vs, ",")
			}
		} else if resp.MultiValueHeaders != nil {
			t.Errorf("ALB single-value event answered with multi-value headers %v", resp.MultiValueHeaders)
		}
		if resp.StatusCode != 200 && !strings.HasPrefix(resp.StatusDescription, strings.Fields(resp.StatusDescription)[0]) {
			t.Errorf("StatusDescription %q", resp.StatusDescription)
		}
		return outcome{resp.StatusCode, h, resp.Body}
	}},
}

func TestWrappers(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	g := newGuard(t, baseConfig(iss, trail))
	reader := readerToken(iss)
	stranger := signToken(iss, nil)
	expired := signToken(iss, func(c map[string]any) { c["groups"] = []any{readersGroup}; c["iat"], c["exp"] = 1, 2 })
	otherAud := signToken(iss, func(c map[string]any) { c["groups"] = []any{readersGroup}; c["aud"] = "api://another" })
	tampered := reader[:len(reader)-4] + "AAAA"

	allowed := userEvent(t, audit.Event{Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader"})
	denied := userEvent(t, audit.Event{Decision: audit.DecisionDeny, ErrorClass: "access_denied"})
	refused := func(check string, kind authn.ErrorKind) audit.Event {
		return audit.Event{Decision: audit.DecisionError, Check: check, ErrorClass: string(kind)}
	}
	for _, tc := range []struct {
		name       string
		headers    map[string]string
		multi      map[string][]string
		query      string
		wantStatus int
		wantAuth   string      // WWW-Authenticate, "" for none; a prefix when it ends in "*"
		wantEvent  audit.Event // who and what was decided; the test adds the request's fields
	}{
		{"allowed", map[string]string{"Authorization": "Bearer " + reader}, nil, "", 200, "", allowed},
		{"scheme in any case", map[string]string{"authorization": "bearer " + reader}, nil, "", 200, "", allowed},
		{"denied by policy", map[string]string{"Authorization": "Bearer " + stranger}, nil, "", 403, `Bearer realm="gatehouse", error="insufficient_scope"*`, denied},
		{"no token", map[string]string{"Accept": "application/json"}, nil, "", 401, `Bearer realm="gatehouse"`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"no headers at all", nil, nil, "", 401, `Bearer realm="gatehouse"`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"bad signature", map[string]string{"Authorization": "Bearer " + tampered}, nil, "", 401, `Bearer realm="gatehouse", error="invalid_token", error_description="signature: *`, refused(authn.CheckSignature, authn.InvalidToken)},
		{"expired", map[string]string{"Authorization": "Bearer " + expired}, nil, "", 401, `Bearer realm="gatehouse", error="invalid_token", error_description="exp: *`, refused(authn.CheckExpiry, authn.InvalidToken)},
		{"another audience", map[string]string{"Authorization": "Bearer " + otherAud}, nil, "", 401, `Bearer realm="gatehouse", error="invalid_token", error_description="aud: *`, refused(authn.CheckAudience, authn.InvalidToken)},
		{"not a JWT", map[string]string{"Authorization": "Bearer abc.def"}, nil, "", 401, `Bearer realm="gatehouse", error="invalid_token"*`, refused(authn.CheckFormat, authn.InvalidToken)},
		{"basic scheme", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, nil, "", 400, `Bearer realm="gatehouse", error="invalid_request"*`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"token in the query string", map[string]string{"Authorization": "Bearer " + reader}, nil, "access_token=" + reader, 400, `Bearer realm="gatehouse", error="invalid_request"*`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"token only in the query string", nil, nil, "access_token=" + reader, 400, `Bearer realm="gatehouse", error="invalid_request"*`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"two Authorization values", nil, map[string][]string{"Authorization": {"Bearer " + reader, "Bearer " + stranger}}, "", 400, `Bearer realm="gatehouse", error="invalid_request"*`, refused(authn.CheckRequest, authn.InvalidRequest)},
		{"names differing in case", map[string]string{"Authorization": "Bearer " + reader, "AUTHORIZATION": "Bearer " + stranger}, nil, "", 400, `Bearer realm="gatehouse", error="invalid_request"*`, refused(authn.CheckRequest, authn.InvalidRequest)},
	} {
		for _, k := range eventKinds {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				if tc.name == "names differing in case" && (k.name == "HTTP API 2.0" || k.name == "function URL") {
					t.Skip("HTTP API and function URL events have lower-case header names")
				}
				var s seen
				out := k.run(t, g, lambdaCtx("lambda-req-"+tc.name), clone(tc.headers), cloneMulti(tc.multi), tc.query, &s)
				if out.status != tc.wantStatus {
					t.Fatalf("status %d (body %s), want %d", out.status, out.body, tc.wantStatus)
				}
				if s.called != (tc.wantStatus == 200) {
					t.Fatalf("handler called = %v with status %d", s.called, out.status)
				}
				got := out.headers["www-authenticate"]
				if want, prefix := strings.CutSuffix(tc.wantAuth, "*"); prefix && !strings.HasPrefix(got, want) || !prefix && got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, tc.wantAuth)
				}
				if strings.Contains(out.body, "eyJ") || strings.Contains(got, "eyJ") {
					t.Errorf("the answer echoes the token: %s %s", got, out.body)
				}
				if s.called {
					for _, h := range s.headers {
						if h == "authorization" {
							t.Error("the handler's event still carries the Authorization header")
						}
					}
					if s.caller == nil || s.caller.Decision.Role != "reader" || !strings.HasPrefix(s.caller.Pseudonym, audit.PseudonymPrefix) || s.caller.Principal.Subject != "user-1" {
						t.Errorf("Caller = %+v", s.caller)
					}
					if s.caller.RequestID != "lambda-req-"+tc.name {
						t.Errorf("Caller.RequestID = %q", s.caller.RequestID)
					}
				} else {
					var body map[string]string
					if err := json.Unmarshal([]byte(out.body), &body); err != nil || body["request_id"] != "lambda-req-"+tc.name || body["error"] == "" {
						t.Errorf("error body %s", out.body)
					}
					if out.headers["content-type"] != "application/json" || out.headers["cache-control"] != "no-store" {
						t.Errorf("error headers %v", out.headers)
					}
				}
				want := tc.wantEvent
				want.RequestID, want.Route, want.Status = "lambda-req-"+tc.name, k.route, tc.wantStatus
				want.Action, want.Resource = authz.ActionInvoke, "function:"+testFunction
				if s.called { // the handler is the target: named only when it ran
					want.Target, want.TargetRequestID = testFunction, want.RequestID
				}
				ev := trail.last(t)
				if diff := testkit.DiffEvent(want, ev); diff != "" {
					t.Errorf("audit event (-want +got):\n%s", diff)
				}
				if s.called && ev.Principal != s.caller.Pseudonym {
					t.Errorf("audit principal %q, the handler's caller %q: want the same pseudonym", ev.Principal, s.caller.Pseudonym)
				}
			})
		}
	}
}

func clone(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneMulti(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := map[string][]string{}
	for k, v := range m {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// The ALB passes query parameter names as received: an encoded
// access_token is still a token in the query string.
func TestALBEncodedQueryToken(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	g := newGuard(t, baseConfig(iss, &auditBuffer{}))
	resp, err := g.WrapALB(func(context.Context, events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		t.Fatal("handler called")
		return events.ALBTargetGroupResponse{}, nil
	})(lambdaCtx("r"), events.ALBTargetGroupRequest{
		HTTPMethod: "GET", Path: "/", QueryStringParameters: map[string]string{"access%5Ftoken": readerToken(iss)},
		Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)},
	})
	if err != nil || resp.StatusCode != 400 || resp.StatusDescription != "400 Bad Request" {
		t.Fatalf("WrapALB = %+v, %v; want 400", resp, err)
	}
}

// A handler's failure is the function's error (API Gateway's 502) in the
// trail; a panic is recorded before it goes on to aws-lambda-go.
func TestHandlerFailureIsAudited(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	g := newGuard(t, baseConfig(iss, trail))
	ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)}}
	_, err := g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
	})(lambdaCtx("r1"), ev)
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err = %v, want the handler's", err)
	}
	want := userEvent(t, audit.Event{RequestID: "r1", Action: authz.ActionInvoke, Resource: "function:" + testFunction,
		Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: testFunction, TargetRequestID: "r1",
		Status: 502, ErrorClass: "target:function_error"})
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not go on")
			}
		}()
		g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			panic("handler bug")
		})(lambdaCtx("r2"), ev)
	}()
	want.RequestID, want.TargetRequestID = "r2", "r2"
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
		t.Errorf("audit event of the panicking invocation (-want +got):\n%s", diff)
	}
}

// failingSink refuses every write: the audit trail is unavailable.
type failingSink struct{ audit.Sink }

func (failingSink) Append(context.Context, []audit.Event) error { return errors.New("disk full") }
func (failingSink) AddCheckpoint(context.Context, audit.Checkpoint) error {
	return errors.New("disk full")
}
func (failingSink) Close() error { return nil }

// Fail closed: an invocation whose event cannot be written is answered
// 503, even after the handler ran.
func TestAuditUnavailableFailsClosed(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	cfg := baseConfig(iss, nil)
	cfg.Audit.Sink = failingSink{}
	g := newGuard(t, cfg)
	for _, tok := range []string{readerToken(iss), signToken(iss, nil), ""} {
		h := map[string]string{}
		if tok != "" {
			h["authorization"] = "Bearer " + tok
		}
		resp, err := g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "secret result"}, nil
		})(lambdaCtx("r"), events.APIGatewayV2HTTPRequest{Headers: h})
		if err != nil || resp.StatusCode != 503 || strings.Contains(resp.Body, "secret result") || resp.Headers["retry-after"] == "" {
			t.Errorf("with the trail down: %+v, %v; want 503", resp, err)
		}
	}
}
