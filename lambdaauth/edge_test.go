package lambdaauth_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
)

// Events that API Gateway would never send, and some it would: nothing may
// panic, and nothing without one valid token may reach the handler.
func TestMalformedEventsNeverPanic(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	g := newGuard(t, baseConfig(iss, &auditBuffer{}))
	huge := "Bearer " + strings.Repeat("A", 1<<20)
	never := func(t *testing.T) { t.Helper(); t.Error("handler called") }
	httpAPI := g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		never(t)
		return events.APIGatewayV2HTTPResponse{}, nil
	})
	rest := g.WrapREST(func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		never(t)
		return events.APIGatewayProxyResponse{}, nil
	})
	furl := g.WrapFunctionURL(func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		never(t)
		return events.LambdaFunctionURLResponse{}, nil
	})
	alb := g.WrapALB(func(context.Context, events.ALBTargetGroupRequest) (events.ALBTargetGroupResponse, error) {
		never(t)
		return events.ALBTargetGroupResponse{}, nil
	})
	for _, tc := range []struct {
		name string
		run  func() int
		want int
	}{
		{"zero HTTP API event", func() int {
			r, _ := httpAPI(context.Background(), events.APIGatewayV2HTTPRequest{})
			return r.StatusCode
		}, 401},
		{"zero REST event", func() int { r, _ := rest(context.Background(), events.APIGatewayProxyRequest{}); return r.StatusCode }, 401},
		{"zero function URL event", func() int { r, _ := furl(context.Background(), events.LambdaFunctionURLRequest{}); return r.StatusCode }, 401},
		{"zero ALB event", func() int { r, _ := alb(context.Background(), events.ALBTargetGroupRequest{}); return r.StatusCode }, 401},
		{"1 MiB Authorization header", func() int {
			r, _ := httpAPI(lambdaCtx("r"), events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": huge}})
			return r.StatusCode
		}, 401},
		{"1 MiB header in a REST multi-value list", func() int {
			r, _ := rest(lambdaCtx("r"), events.APIGatewayProxyRequest{MultiValueHeaders: map[string][]string{"Authorization": {huge}}})
			return r.StatusCode
		}, 401},
		{"empty multi-value list, token in headers", func() int {
			r, _ := rest(lambdaCtx("r"), events.APIGatewayProxyRequest{Headers: map[string]string{"Authorization": "Bearer x.y.z"}, MultiValueHeaders: map[string][]string{"Authorization": {}}})
			return r.StatusCode
		}, 401},
		{"Bearer without a token", func() int {
			r, _ := furl(lambdaCtx("r"), events.LambdaFunctionURLRequest{Headers: map[string]string{"authorization": "Bearer "}})
			return r.StatusCode
		}, 400},
		{"control characters", func() int {
			r, _ := alb(lambdaCtx("r"), events.ALBTargetGroupRequest{Headers: map[string]string{"authorization": "Bearer a\x00b.c\nd.e"}})
			return r.StatusCode
		}, 400},
		{"unparsable raw query mentioning the token", func() int {
			r, _ := httpAPI(lambdaCtx("r"), events.APIGatewayV2HTTPRequest{RawQueryString: "%zz&access_token", Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)}})
			return r.StatusCode
		}, 400},
		{"five JWS segments (JWE)", func() int {
			r, _ := httpAPI(lambdaCtx("r"), events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer a.b.c.d.e"}})
			return r.StatusCode
		}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(); got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzHTTPAPIEvent decodes arbitrary JSON into an HTTP API event, as
// aws-lambda-go would, and runs the wrapper: no panic, no handler without
// the one valid token, and always a status the package documents.
func FuzzHTTPAPIEvent(f *testing.F) {
	iss := testkit.NewIssuer(f, testkit.IssuerConfig{})
	g := newGuard(f, baseConfig(iss, &auditBuffer{}))
	tok := readerToken(iss)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"headers":{"authorization":"Bearer ` + tok + `"}}`))
	f.Add([]byte(`{"headers":{"Authorization":"Bearer a.b.c","authorization":"Bearer d.e.f"},"requestContext":null}`))
	f.Add([]byte(`{"rawQueryString":"access_token=x","headers":{"authorization":"bearer ` + tok + `"}}`))
	f.Add([]byte(`{"headers":{"authorization":"Bearer ` + tok + `,Bearer ` + tok + `"}}`))
	f.Add([]byte(`{"headers":{"authorization":"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}}`))
	h := g.WrapHTTPAPI(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if c, ok := lambdaauth.FromContext(ctx); !ok || !c.Decision.Allow {
			panic("handler reached without an allowed caller")
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(data, &ev) != nil {
			return
		}
		resp, err := h(lambdaCtx("fuzz"), ev)
		if err != nil {
			t.Fatal(err)
		}
		switch resp.StatusCode {
		case 200, 400, 401, 403:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// countingSTS is an STS that only counts and answers AssumeRole: it stands
// in for STS in a unit test of when credentials are asked for (the runtime
// tests use devkit/sts through the real SDK).
type countingSTS struct{ calls atomic.Int64 }

func (s *countingSTS) AssumeRoleWithWebIdentity(context.Context, *sts.AssumeRoleWithWebIdentityInput, ...func(*sts.Options)) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	panic("not used")
}

func (s *countingSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	s.calls.Add(1)
	exp := time.Now().Add(time.Hour)
	return &sts.AssumeRoleOutput{
		Credentials:     &types.Credentials{AccessKeyId: aws.String("ASIATEST"), SecretAccessKey: aws.String("secret"), SessionToken: aws.String("token"), Expiration: &exp},
		AssumedRoleUser: &types.AssumedRoleUser{Arn: aws.String("arn:aws:sts::123456789012:assumed-role/reader-role/" + aws.ToString(in.RoleSessionName))},
		SourceIdentity:  in.SourceIdentity,
	}, nil
}

func TestCredentialsAreLazyAndEndWithTheInvocation(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	cfg := baseConfig(iss, trail)
	fake := &countingSTS{}
	cfg.Creds = creds.Config{STS: fake, Roles: []creds.Role{{Name: "reader", ARN: "arn:aws:iam::123456789012:role/reader-role", Mode: creds.ModeAssumeRole}}}
	g := newGuard(t, cfg)
	ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)}}

	// A handler that makes no AWS call costs no STS call.
	g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})(lambdaCtx("r1"), ev)
	if n := fake.calls.Load(); n != 0 {
		t.Fatalf("%d STS calls for a handler that made no AWS call", n)
	}
	want := userEvent(t, audit.Event{RequestID: "r1", Action: authz.ActionInvoke, Resource: "function:" + testFunction,
		Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: testFunction, TargetRequestID: "r1", Status: 200})
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" { // no STS session named: none was made
		t.Errorf("audit event (-want +got):\n%s", diff)
	}

	var kept aws.Config
	var session *creds.Session
	g.WrapHTTPAPI(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, _ := lambdaauth.FromContext(ctx)
		if c.Session() != nil {
			t.Error("Session() before any AWS call")
		}
		for range 3 { // one STS call however often the SDK asks
			got, err := c.AWS.Credentials.Retrieve(ctx)
			if err != nil || got.AccessKeyID != "ASIATEST" {
				t.Fatalf("Retrieve = %+v, %v", got, err)
			}
		}
		session, kept = c.Session(), c.AWS
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})(lambdaCtx("r2"), ev)
	if n := fake.calls.Load(); n != 1 {
		t.Fatalf("%d STS calls, want 1", n)
	}
	if session == nil || session.SourceIdentity == "" || strings.Contains(session.SourceIdentity, "user-1") {
		t.Fatalf("session %+v: want a pseudonymous source identity", session)
	}
	want.RequestID, want.TargetRequestID, want.STSSession = "r2", "r2", session.SessionName
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
	// A configuration kept past its invocation obtains nothing new.
	kept.Credentials.(*aws.CredentialsCache).Invalidate()
	if _, err := kept.Credentials.Retrieve(context.Background()); err == nil {
		t.Error("credentials were obtained after the invocation ended")
	}
}

func TestNoRoleMeansNoCredentials(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	trail := &auditBuffer{}
	g := newGuard(t, baseConfig(iss, trail))
	g.WrapHTTPAPI(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		c, _ := lambdaauth.FromContext(ctx)
		if _, err := c.AWS.Credentials.Retrieve(ctx); err == nil || !strings.Contains(err.Error(), "no AWS credentials") {
			t.Errorf("Retrieve without a creds role: %v", err)
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})(lambdaCtx("r"), events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + readerToken(iss)}})
	want := userEvent(t, audit.Event{RequestID: "r", Action: authz.ActionInvoke, Resource: "function:" + testFunction,
		Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: testFunction, TargetRequestID: "r",
		Status: 200, ErrorClass: "credentials"})
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}
}

func TestNewRefuses(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	snap, err := authn.FetchSnapshot(context.Background(), authn.IssuerConfig{Issuer: iss.URL()}, iss.Client(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer := testkit.NewIssuer(t, testkit.IssuerConfig{})
	otherSnap, err := authn.FetchSnapshot(context.Background(), authn.IssuerConfig{Issuer: otherIssuer.URL()}, otherIssuer.Client(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*lambdaauth.Config)
		want string
	}{
		{"no pseudonym key", func(c *lambdaauth.Config) { c.Audit.PseudonymKey = nil }, "PseudonymKey"},
		{"short pseudonym key", func(c *lambdaauth.Config) { c.Audit.PseudonymKey = lambdaauth.SecretBytes([]byte("short")) }, "32 bytes"},
		{"no resource outside Lambda", func(c *lambdaauth.Config) { c.Resource.Name, c.Resource.Kind = "", "" }, "no resource"},
		{"a snapshot of an issuer not configured", func(c *lambdaauth.Config) { c.Snapshots = [][]byte{otherSnap} }, "no configured issuer"},
		{"two snapshots of one issuer", func(c *lambdaauth.Config) { c.Snapshots = [][]byte{snap, snap} }, "has a snapshot already"},
		{"a route without resource", func(c *lambdaauth.Config) { c.Routes = []lambdaauth.Route{{Method: "GET", Path: "/x"}} }, "no resource"},
		{"a bad signing key", func(c *lambdaauth.Config) { c.Audit.SigningKey = lambdaauth.SecretBytes([]byte("not PEM")) }, "signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(iss, &auditBuffer{})
			tc.edit(&cfg)
			_, err := lambdaauth.New(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// With the issuer unreachable and no keys, callers get 503, never a
// guess; with a snapshot taken earlier, the same Guard verifies without
// the issuer.
func TestIssuerUnreachable(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	snap, err := authn.FetchSnapshot(context.Background(), authn.IssuerConfig{Issuer: iss.URL()}, iss.Client(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	reader := readerToken(iss)
	iss.Close() // the issuer is gone from now on
	ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + reader}}
	ok := func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}

	trail := &auditBuffer{}
	g := newGuard(t, baseConfig(iss, trail))
	resp, _ := g.WrapHTTPAPI(ok)(lambdaCtx("r1"), ev)
	if resp.StatusCode != 503 || resp.Headers["retry-after"] == "" || resp.Headers["www-authenticate"] != "" {
		t.Errorf("without keys: %+v, want 503 with Retry-After", resp)
	}
	want := audit.Event{RequestID: "r1", Action: authz.ActionInvoke, Resource: "function:" + testFunction,
		Decision: audit.DecisionError, Status: 503, Check: authn.CheckKeys, ErrorClass: string(authn.Unavailable)}
	if diff := testkit.DiffEvent(want, trail.last(t)); diff != "" {
		t.Errorf("audit event (-want +got):\n%s", diff)
	}

	cfg := baseConfig(iss, &auditBuffer{})
	cfg.Snapshots = [][]byte{snap}
	g = newGuard(t, cfg)
	if !g.Ready() {
		t.Error("Ready() = false with a fresh snapshot")
	}
	if resp, _ := g.WrapHTTPAPI(ok)(lambdaCtx("r2"), ev); resp.StatusCode != 200 {
		t.Errorf("from the snapshot, issuer down: %+v", resp)
	}
}
