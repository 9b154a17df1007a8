package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	localsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// The front doors are adapters of one pipeline: the same request through
// the gateway, each Lambda event shape of lambdaauth's wrappers and its
// authorizer gets the same decision, the same refusal code and an equal
// audit event. Everything but the targets is real: a token issuer, the
// verifier, Cedar policy, the broker against the local STS (web identity,
// the caller's own token), the audit recorder; one configuration file
// built by gatehouse/build for every door, as serve and lambdaconfig do.

const (
	readers  = "0b1c2d3e-0000-4000-8000-000000000001"
	ghosts   = "0b1c2d3e-0000-4000-8000-000000000002" // their role has no IAM role in STS
	agentApp = "8f5c3767-7276-4be0-b5db-808ab516452c"
	audience = "api://gatehouse"
	account  = "123456789012"
)

const configYAML = `
authn:
  issuers:
    - name: corp
      type: oidc
      issuer: ISSUER
      audiences: [api://gatehouse]
      claims: {tenant: tid}
authz:
  roles:
    - {name: reader, aws_role: "arn:aws:iam::123456789012:role/reader", actions: [invoke], functions: [hello]}
    - {name: ghost, aws_role: "arn:aws:iam::123456789012:role/ghost", actions: [invoke], functions: [hello]}
  rules:
    - {id: readers, effect: allow, roles: [reader], groups: [{id: 0b1c2d3e-0000-4000-8000-000000000001}]}
    - {id: ghosts, effect: allow, roles: [ghost], groups: [{id: 0b1c2d3e-0000-4000-8000-000000000002}]}
  agents:
    - {app: 8f5c3767-7276-4be0-b5db-808ab516452c, actions: [invoke], functions: [hello]}
creds:
  mode: web_identity
  sts: {region: us-east-1}
gateway:
  routes:
    - {id: hello, method: POST, path: /hello, function: "hello:prod"}
audit:
  sink: jsonl
  key_file: pseudonym.key
  claims: [azpacr]
`

// outcome is what one front door made of one request.
type outcome struct {
	status int
	code   string // the refusal's error code; "" when the target answered
	event  audit.Event
}

// door sends one request, with bearer ("" for none) and fail (the target
// or handler fails), through a front door.
type door struct {
	name string
	// noCreds: the door obtains no credentials (an authorizer), so a
	// refusal by STS cannot happen there.
	noCreds bool
	// noTarget: the door runs no target (an authorizer).
	noTarget bool
	send     func(t *testing.T, bearer string, fail bool) outcome
}

func TestFrontDoorsAgree(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	f, err := config.Parse("gatehouse.yaml", []byte(strings.Replace(configYAML, "ISSUER", iss.URL(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	opts := build.Options{Logger: slog.New(slog.DiscardHandler)}
	an, err := build.AuthN(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	an.HTTPClient = iss.Client()
	az, err := build.AuthZ(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	cc := build.Creds(f, nil, localSTS(t, iss), opts)
	routes := build.Routes(f)
	if len(routes) != 1 || routes[0].Resource != (authz.Resource{Kind: authz.ResourceFunction, Name: "hello"}) {
		t.Fatalf("routes %+v: the qualified function hello:prod is decided as function hello", routes)
	}
	pseudoKey := bytes.Repeat([]byte("p"), 32)

	doors := []door{gatewayDoor(t, an, az, cc, routes[0], pseudoKey)}
	guard := newGuard(t, an, az, cc, routes, pseudoKey)
	doors = append(doors, lambdaDoors(guard)...)

	now := time.Now()
	token := func(edit func(map[string]any)) string {
		c := map[string]any{"iss": iss.URL(), "aud": audience, "sub": "user-1", "tid": "t1", "azp": "client-1", "azpacr": "0",
			"groups": []any{readers}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return iss.Sign(c)
	}
	reader := token(nil)
	cases := []struct {
		name     string
		bearer   string
		fail     bool
		decision string
		status   int
		code     string // "" for the target's answer
		class    string
		check    string
		creds    bool // the request needs credentials (STS refusal)
		target   bool // the request reaches the target
	}{
		{name: "allowed, qualified function hello:prod decided as hello", bearer: reader, decision: "allow", status: 200},
		{name: "denied", bearer: token(func(c map[string]any) { c["groups"] = []any{} }), decision: "deny", status: 403,
			code: "insufficient_scope", class: "access_denied"},
		{name: "no token", decision: "error", status: 401, code: "unauthorized", class: "invalid_request", check: "request"},
		{name: "bad token", bearer: reader[:len(reader)-6] + "AAAAAA", decision: "error", status: 401, code: "invalid_token", class: "invalid_token", check: "signature"},
		{name: "expired", bearer: token(func(c map[string]any) {
			c["exp"], c["iat"], c["nbf"] = now.Add(-time.Hour).Unix(), now.Add(-2*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		}), decision: "error", status: 401, code: "invalid_token", class: "invalid_token", check: "exp"},
		{name: "wrong audience", bearer: token(func(c map[string]any) { c["aud"] = "api://other" }), decision: "error", status: 401,
			code: "invalid_token", class: "invalid_token", check: "aud"},
		{name: "agent acting for a user", bearer: token(func(c map[string]any) {
			c["act"] = map[string]any{"sub": "agent-sp", "client_id": agentApp}
		}), decision: "allow", status: 200},
		{name: "agent not declared acting for a user", bearer: token(func(c map[string]any) {
			c["act"] = map[string]any{"sub": "other-sp", "client_id": "9f5c3767-7276-4be0-b5db-808ab516452c"}
		}), decision: "deny", status: 403, code: "insufficient_scope", class: "access_denied"},
		{name: "STS refuses the role", bearer: token(func(c map[string]any) { c["groups"] = []any{ghosts} }), decision: "allow", status: 403,
			code: "credentials_refused", class: "credentials:AccessDenied", creds: true},
		{name: "target fails", bearer: reader, fail: true, decision: "allow", status: 502, code: invoke.CodeFunctionError,
			class: "target:" + invoke.CodeFunctionError, target: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ref *outcome
			for _, d := range doors {
				if tc.creds && d.noCreds || tc.target && d.noTarget {
					continue // an authorizer obtains no credentials and runs no target
				}
				got := d.send(t, tc.bearer, tc.fail)
				ev := got.event
				if ev.Decision != tc.decision || ev.Status != tc.status || ev.ErrorClass != tc.class || ev.Check != tc.check {
					t.Errorf("%s: event decision %s status %d class %q check %q; want %s %d %q %q",
						d.name, ev.Decision, ev.Status, ev.ErrorClass, ev.Check, tc.decision, tc.status, tc.class, tc.check)
				}
				if got.status != tc.status {
					t.Errorf("%s: status %d, want %d", d.name, got.status, tc.status)
				}
				if !d.noCreds && tc.status == 200 && ev.STSSession == "" {
					t.Errorf("%s: an allowed request's event names no STS session", d.name)
				}
				if got.code != tc.code && got.code != "-" {
					t.Errorf("%s: refusal code %q, want %q", d.name, got.code, tc.code)
				}
				if ref == nil {
					ref = &got
					continue
				}
				if diff := cmp.Diff(normal(ref.event, d.noCreds), normal(ev, d.noCreds), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: audit event differs from %s's (-%s +%s):\n%s", d.name, doors[0].name, doors[0].name, d.name, diff)
				}
			}
		})
	}
}

// normal is an event without what differs by front door by design: the
// ids of the request and of the target, the route as each door names it,
// and the chain fields. A door without credentials has no STS session.
func normal(ev audit.Event, noCreds bool) audit.Event {
	ev.ID, ev.Time, ev.LatencyMicros, ev.RequestID, ev.Route, ev.Target, ev.TargetRequestID = "", time.Time{}, 0, "", "", "", ""
	ev.Chain, ev.Seq, ev.PrevHash, ev.Hash, ev.Replica = "", 0, "", "", ""
	if noCreds || ev.STSSession != "" {
		ev.STSSession = "" // named by the door that obtained one; compared by presence below
	}
	return ev
}

// localSTS runs the local STS trusting iss for role reader (web identity)
// and knowing no role "ghost", and returns a client for it.
func localSTS(t *testing.T, iss *testkit.Issuer) creds.STSClient {
	t.Helper()
	trust, err := creds.TrustPolicy(creds.Role{Name: "reader", ARN: "arn:aws:iam::" + account + ":role/reader", Mode: creds.ModeWebIdentity},
		creds.TrustParams{AccountID: account, ProviderURL: iss.URL(), Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	s, err := localsts.New(localsts.Config{
		AccountID: account, Providers: []localsts.Provider{{URL: iss.URL(), ClientIDs: []string{audience}}},
		Roles: []localsts.Role{{Name: "reader", TrustPolicy: trust}}, HTTPClient: iss.Client(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(s.Handler())
	t.Cleanup(srv.Close)
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), HTTPClient: srv.Client()})
}

// trail is a recorder's JSON lines in memory.
type trail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *trail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *trail) last(t *testing.T) audit.Event {
	t.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	s, err := jsonl.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Query(context.Background(), audit.Filter{})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no event: %v", err)
	}
	return evs[len(evs)-1]
}

// failingTarget stands for a Lambda function (invoke's own tests run the
// real target against the local Lambda host): it answers 200, or fails as
// a crashed function does when the request says so.
type failingTarget struct{}

func (failingTarget) Invoke(_ context.Context, w http.ResponseWriter, r *http.Request, c invoke.Call) (*invoke.Outcome, error) {
	if r.Header.Get("X-Test-Fail") != "" {
		return &invoke.Outcome{TargetRequestID: "lambda-1"}, &invoke.Error{Status: 502, Code: invoke.CodeFunctionError, Reason: "the function failed"}
	}
	if c.Credentials.AccessKeyID == "" {
		return nil, errors.New("no credentials")
	}
	w.Write([]byte("hello"))
	return &invoke.Outcome{Status: 200, TargetRequestID: "lambda-1"}, nil
}

func gatewayDoor(t *testing.T, an authn.Config, az authz.Config, cc creds.Config, br build.Route, pseudoKey []byte) door {
	v, err := authn.NewVerifier(an)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := authz.New(az)
	if err != nil {
		t.Fatal(err)
	}
	b, err := creds.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trail{}
	pseudo, _ := audit.NewPseudonymizer(pseudoKey)
	keys := audit.NewPseudonymKeys(pseudo)
	rec, err := audit.NewRecorder(audit.Config{Sink: jsonl.New(tr), Replica: "gw", Pseudonyms: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.Close() })
	pl, err := pipeline.New(pipeline.Config{Verifier: v, Policy: pol, Broker: b, Recorder: rec, Pseudonym: keys.Principal,
		Claims: []string{"azpacr"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{Snapshot: gateway.Snapshot{Pipeline: pl, Routes: []gateway.Route{{
		ID: br.ID, Method: br.Method, Path: br.Path, Action: br.Action, Resource: br.Resource, SessionPolicy: br.SessionPolicy,
		Target: failingTarget{}, TargetName: br.Resource.Name,
	}}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := gw.Handler()
	return door{name: "gateway", send: func(t *testing.T, bearer string, fail bool) outcome {
		req := httptest.NewRequest("POST", "/hello", strings.NewReader("{}"))
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		if fail {
			req.Header.Set("X-Test-Fail", "1")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return outcome{status: w.Code, code: errorCode(w.Body.Bytes(), w.Code), event: tr.last(t)}
	}}
}

func errorCode(body []byte, status int) string {
	if status < 400 {
		return ""
	}
	var b struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &b)
	return b.Error
}

type guard struct {
	*lambdaauth.Guard
	trail *trail
}

func newGuard(t *testing.T, an authn.Config, az authz.Config, cc creds.Config, routes []build.Route, pseudoKey []byte) guard {
	tr := &trail{}
	cfg := lambdaauth.Config{
		AuthN: an, AuthZ: az, Creds: cc,
		// The function's own name, as AWS_LAMBDA_FUNCTION_NAME gives it:
		// unqualified, whatever alias invoked it.
		Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "hello"},
		Audit:    lambdaauth.Audit{Sink: jsonl.New(tr), PseudonymKey: lambdaauth.SecretBytes(pseudoKey), Claims: []string{"azpacr"}},
		AWS:      &aws.Config{Region: "us-east-1"},
		Logger:   slog.New(slog.DiscardHandler),
	}
	for _, r := range routes {
		cfg.Routes = append(cfg.Routes, lambdaauth.Route{Method: r.Method, Path: r.Path, Action: r.ActionFor(r.Method), Resource: r.Resource, Role: r.Role})
	}
	g, err := lambdaauth.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return guard{g, tr}
}

// handle is every wrapped handler: it obtains the role's credentials as a
// function calling AWS would (a refusal answers 403, as the gateway does),
// then answers, or fails when the request says so.
func handle(ctx context.Context, fail bool) (int, error) {
	c, ok := lambdaauth.FromContext(ctx)
	if !ok {
		return 500, errors.New("no caller")
	}
	if _, err := c.AWS.Credentials.Retrieve(ctx); err != nil {
		return 403, nil
	}
	if fail {
		return 0, errors.New("function crashed")
	}
	return 200, nil
}

var lambdaRequests int

func lambdaCtx() context.Context {
	lambdaRequests++
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "lambda-" + strings.Repeat("x", lambdaRequests%7)})
}

// lambdaOutcome is a wrapper's answer: the handler's error means Lambda
// reports a function error (API Gateway answers 502); otherwise the
// status, and the refusal's code when the wrapper refused ("-" when the
// handler wrote the body).
func lambdaOutcome(t *testing.T, g guard, status int, body string, err error) outcome {
	o := outcome{status: status, code: errorCode([]byte(body), status), event: g.trail.last(t)}
	if err != nil {
		o.status, o.code = 502, invoke.CodeFunctionError
	} else if body == "" && status >= 400 {
		o.code = "-" // the handler's own answer (it could not get credentials)
	}
	return o
}

func lambdaDoors(g guard) []door {
	headers := func(bearer string, fail bool) map[string]string {
		h := map[string]string{"content-type": "application/json"}
		if bearer != "" {
			h["authorization"] = "Bearer " + bearer
		}
		if fail {
			h["x-test-fail"] = "1"
		}
		return h
	}
	httpAPI := g.WrapHTTPAPI(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		s, err := handle(ctx, ev.Headers["x-test-fail"] != "")
		return events.APIGatewayV2HTTPResponse{StatusCode: s}, err
	})
	rest := g.WrapREST(func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		s, err := handle(ctx, ev.Headers["x-test-fail"] != "")
		return events.APIGatewayProxyResponse{StatusCode: s}, err
	})
	furl := g.WrapFunctionURL(func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		s, err := handle(ctx, ev.Headers["x-test-fail"] != "")
		return events.LambdaFunctionURLResponse{StatusCode: s}, err
	})
	alb := g.WrapALB(func(ctx context.Context, ev events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		s, err := handle(ctx, ev.Headers["x-test-fail"] != "")
		return events.ALBTargetGroupResponse{StatusCode: s}, err
	})
	authorizer := g.Authorizer()
	return []door{
		{name: "HTTP API 2.0", send: func(t *testing.T, bearer string, fail bool) outcome {
			ev := events.APIGatewayV2HTTPRequest{RouteKey: "POST /hello", RawPath: "/hello", Headers: headers(bearer, fail)}
			ev.RequestContext.HTTP.Method = "POST"
			r, err := httpAPI(lambdaCtx(), ev)
			return lambdaOutcome(t, g, r.StatusCode, r.Body, err)
		}},
		{name: "REST API", send: func(t *testing.T, bearer string, fail bool) outcome {
			r, err := rest(lambdaCtx(), events.APIGatewayProxyRequest{HTTPMethod: "POST", Resource: "/hello", Path: "/hello", Headers: headers(bearer, fail)})
			return lambdaOutcome(t, g, r.StatusCode, r.Body, err)
		}},
		{name: "function URL", send: func(t *testing.T, bearer string, fail bool) outcome {
			ev := events.LambdaFunctionURLRequest{RawPath: "/hello", Headers: headers(bearer, fail)}
			ev.RequestContext.HTTP.Method = "POST"
			r, err := furl(lambdaCtx(), ev)
			return lambdaOutcome(t, g, r.StatusCode, r.Body, err)
		}},
		{name: "ALB", send: func(t *testing.T, bearer string, fail bool) outcome {
			r, err := alb(lambdaCtx(), events.ALBTargetGroupRequest{HTTPMethod: "POST", Path: "/hello", Headers: headers(bearer, fail)})
			return lambdaOutcome(t, g, r.StatusCode, r.Body, err)
		}},
		{name: "REST authorizer (REQUEST)", noCreds: true, noTarget: true, send: func(t *testing.T, bearer string, _ bool) outcome {
			raw, _ := json.Marshal(map[string]any{"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:" + account + ":api1/prod/POST/hello",
				"resource": "/hello", "path": "/hello", "httpMethod": "POST", "headers": headers(bearer, false)})
			out, err := authorizer(lambdaCtx(), raw)
			o := outcome{event: g.trail.last(t), code: "-"}
			switch {
			case errors.Is(err, lambdaauth.ErrUnauthorized):
				o.status = 401
			case err != nil:
				t.Fatalf("authorizer: %v", err)
			default:
				o.status = 403
				for _, st := range out.(events.APIGatewayCustomAuthorizerResponse).PolicyDocument.Statement {
					if st.Effect == "Allow" {
						o.status = 200
					}
				}
			}
			return o
		}},
		{name: "HTTP API authorizer (2.0)", noCreds: true, noTarget: true, send: func(t *testing.T, bearer string, _ bool) outcome {
			raw, _ := json.Marshal(map[string]any{"type": "REQUEST", "version": "2.0", "routeArn": "arn:aws:execute-api:us-east-1:" + account + ":api1/$default/POST/hello",
				"routeKey": "POST /hello", "rawPath": "/hello", "headers": headers(bearer, false),
				"requestContext": map[string]any{"http": map[string]any{"method": "POST"}}})
			out, err := authorizer(lambdaCtx(), raw)
			if err != nil {
				t.Fatalf("authorizer: %v", err)
			}
			o := outcome{event: g.trail.last(t), code: "-", status: 403}
			if out.(events.APIGatewayV2CustomAuthorizerSimpleResponse).IsAuthorized {
				o.status = 200
			}
			if o.event.Status == 401 {
				o.status = 401 // an HTTP API authorizer denies a bad token (403); the trail says 401
			}
			return o
		}},
	}
}
