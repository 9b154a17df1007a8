package invoke_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

// The Lambda target end to end against devkit/runtime, the local Lambda
// host: the request becomes an event, the AWS SDK signs the Invoke call with
// credentials of a role from devkit/sts, the host checks the signature and
// the role's permission, runs examples/functions/echo (an unmodified
// aws-lambda-go function) and its answer becomes the response.

const (
	e2eAccount  = "123456789012"
	e2eRegion   = "eu-west-1"
	e2eAudience = "sts.amazonaws.com"
)

// localAWS is an OpenID issuer (testkit.Issuer: RS256, discovery and JWKS
// over TLS) trusted by a devkit/sts with two roles: echo-caller may invoke
// echo, reports-reader only reports-*.
type localAWS struct {
	issuer *testkit.Issuer
	sts    *sts.Server
	stsURL *httptest.Server
}

func newLocalAWS(t *testing.T) *localAWS {
	t.Helper()
	a := &localAWS{issuer: testkit.NewIssuer(t, testkit.IssuerConfig{})}
	name := strings.TrimPrefix(a.issuer.URL(), "https://")
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + e2eAccount + `:oidc-provider/` + name + `"},
		"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"` + name + `:aud":"` + e2eAudience + `"}}}]}`)
	var err error
	a.sts, err = sts.New(sts.Config{
		AccountID:  e2eAccount,
		Region:     e2eRegion,
		Providers:  []sts.Provider{{URL: a.issuer.URL(), ClientIDs: []string{e2eAudience}}},
		HTTPClient: a.issuer.Client(),
		Logger:     slog.New(slog.DiscardHandler),
		Roles: []sts.Role{
			{Name: "echo-caller", TrustPolicy: trust, Invoke: []string{"echo"}},
			{Name: "reports-reader", TrustPolicy: trust, Invoke: []string{"reports-*"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a.stsURL = httptest.NewTLSServer(a.sts.Handler())
	t.Cleanup(a.stsURL.Close)
	return a
}

// assume gets a role session through the SDK's STS client, as creds/ does.
func (a *localAWS) assume(t *testing.T, role string) (aws.Credentials, string) {
	t.Helper()
	now := time.Now()
	raw := a.issuer.Sign(map[string]any{
		"iss": a.issuer.URL(), "sub": "gatehouse:oid-1", "aud": e2eAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	client := awssts.New(awssts.Options{
		Region:           e2eRegion,
		BaseEndpoint:     aws.String(a.stsURL.URL),
		HTTPClient:       a.stsURL.Client(),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
	out, err := client.AssumeRoleWithWebIdentity(t.Context(), &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::" + e2eAccount + ":role/" + role),
		RoleSessionName:  aws.String("gh-oid-1"),
		WebIdentityToken: aws.String(raw),
	})
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	c := out.Credentials
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
	}, aws.ToString(out.AssumedRoleUser.Arn)
}

func TestLambdaAgainstDevkitRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs examples/functions/echo")
	}
	local := newLocalAWS(t)
	host, err := runtime.New(runtime.Config{
		Functions: []runtime.Function{{Name: "echo", Package: "../examples/functions/echo", Timeout: 10 * time.Second}},
		Region:    e2eRegion,
		AccountID: e2eAccount,
		StateDir:  t.TempDir(),
		STS:       local.sts,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := host.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lambdaAPI := httptest.NewServer(host.Handler())
	t.Cleanup(lambdaAPI.Close)

	target, err := invoke.NewLambda(invoke.LambdaConfig{
		Function: "echo",
		Region:   e2eRegion,
		Endpoint: lambdaAPI.URL,
		Timeout:  20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	echoCreds, echoSession := local.assume(t, "echo-caller")
	readerCreds, readerSession := local.assume(t, "reports-reader")

	call := func(creds aws.Credentials, session, contentType, body string) (*httptest.ResponseRecorder, *invoke.Outcome, error) {
		r := httptest.NewRequest("POST", "https://api.example.test/echo", strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("Authorization", "Bearer not-for-the-function")
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Request-Id", "gh-req-1")
		oc, err := target.Invoke(ctx, rec, r, invoke.Call{
			Principal:   &authn.Principal{Subject: "oid-1", Kind: authn.KindUser, Claims: map[string]any{"sub": "oid-1"}},
			Credentials: creds,
			Role:        "echo-caller",
			RoleSession: session,
			RequestID:   "gh-req-1",
			RouteKey:    "POST /echo",
			RawPath:     "/echo",
		})
		return rec, oc, err
	}

	for _, tt := range []struct {
		name, contentType, body string
		wantStatus              int
		wantBody                string
	}{
		{"text body", "application/json", `{"message":"héllo"}`, 200, `{"message":"HÉLLO","length":5}`},
		{"binary request body, base64 in the event", "application/octet-stream", `{"message":"bin"}`, 200, `{"message":"BIN","length":3}`},
		{"the function's own 400", "application/json", `nope`, 400, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, oc, err := call(echoCreds, echoSession, tt.contentType, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantStatus || oc.Status != tt.wantStatus || oc.TargetRequestID == "" || oc.FunctionError != "" {
				t.Errorf("status %d, Outcome %+v; want %d with Lambda's request id", rec.Code, oc, tt.wantStatus)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %s, want %s", rec.Body, tt.wantBody)
			}
			if rec.Header().Get("X-Request-Id") != "gh-req-1" {
				t.Errorf("X-Request-Id = %q", rec.Header().Get("X-Request-Id"))
			}
		})
	}

	t.Run("a role that may not invoke echo", func(t *testing.T) {
		rec, oc, err := call(readerCreds, readerSession, "application/json", `{"message":"x"}`)
		var ie *invoke.Error
		if !errors.As(err, &ie) || ie.Status != http.StatusForbidden || ie.Code != invoke.CodeTargetAccessDenied {
			t.Fatalf("Invoke = %+v, %v; want 403 %s", oc, err, invoke.CodeTargetAccessDenied)
		}
		if rec.Body.Len() != 0 || !strings.Contains(ie.Err.Error(), "echo") {
			t.Errorf("wrote %q; Err %v should name the function", rec.Body, ie.Err)
		}
	})

	t.Run("credentials STS never issued", func(t *testing.T) {
		forged := echoCreds
		forged.SecretAccessKey = "forged"
		_, _, err := call(forged, echoSession, "application/json", `{"message":"x"}`)
		var ie *invoke.Error
		if !errors.As(err, &ie) || ie.Status != http.StatusBadGateway || ie.Code != invoke.CodeCredentialsRejected {
			t.Fatalf("Invoke error = %v; want 502 %s", err, invoke.CodeCredentialsRejected)
		}
	})
}
