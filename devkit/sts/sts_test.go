package sts

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// The test account and the audience gatehouse's broker uses.
const (
	testAccount = "123456789012"
	stsAudience = "sts.amazonaws.com"
	issuerPath  = "/gatehouse"
)

// testIssuer is the OpenID issuer the tests' STS trusts: a testkit.Issuer
// (ES256, discovery and JWKS on httptest TLS) at issuerPath, with the
// claims of a valid web identity token, which tests edit (tags, source
// identity, odd values).
type testIssuer struct{ *testkit.Issuer }

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	return &testIssuer{testkit.NewIssuer(t, testkit.IssuerConfig{Path: issuerPath, Alg: "ES256"})}
}

// claims returns a valid claim set of the issuer, with edits applied (a
// nil value deletes the claim).
func (iss *testIssuer) claims(edits map[string]any) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": iss.URL(),
		"sub": "principal:ada:role:reader",
		"aud": stsAudience,
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix(),
		"jti": "jti-1",
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// token signs a valid claim set with edits.
func (iss *testIssuer) token(edits map[string]any) string {
	return iss.Sign(iss.claims(edits))
}

// policy builds a trust policy from statements, replacing {arn} and {name}
// with the test issuer's provider ARN and name, {acct} with the account.
func (iss *testIssuer) policy(statements ...string) []byte {
	name := strings.TrimPrefix(iss.URL(), "https://")
	r := strings.NewReplacer("{arn}", "arn:aws:iam::"+testAccount+":oidc-provider/"+name, "{name}", name, "{acct}", testAccount)
	return []byte(r.Replace(`{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`))
}

// allowWebIdentity is the statement most tests use: the provider, the
// audience, and the three actions a tagged session with a source identity
// needs.
const allowWebIdentity = `{"Sid":"Broker","Effect":"Allow","Principal":{"Federated":"{arn}"},
	"Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession","sts:SetSourceIdentity"],
	"Condition":{"StringEquals":{"{name}:aud":"sts.amazonaws.com"}}}`

// httptestUnstarted returns a server listening on 127.0.0.1, not serving yet.
func httptestUnstarted() *httptest.Server { return httptest.NewUnstartedServer(nil) }

// fixture is a running STS on an httptest TLS server.
type fixture struct {
	srv   *Server
	ts    *httptest.Server
	clock *testkit.Clock
	rec   *recorder
}

func newFixture(t *testing.T, iss *testIssuer, roles []Role, edit ...func(*Config)) *fixture {
	t.Helper()
	clock := testkit.NewClock(time.Now().Truncate(time.Second))
	cfg := Config{
		AccountID:  testAccount,
		Providers:  []Provider{{URL: iss.URL(), ClientIDs: []string{stsAudience}}},
		Roles:      roles,
		HTTPClient: iss.Client(),
		Now:        clock.Now,
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
	}
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, ts: ts, clock: clock, rec: &recorder{rt: ts.Client().Transport}}
}

func roleARN(name string) string { return "arn:aws:iam::" + testAccount + ":role/" + name }

// client is the AWS SDK's STS client pointed at the fixture: one attempt
// (no retries, so refusals are seen as they are), responses recorded.
func (f *fixture) client(creds aws.CredentialsProvider, edit ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.ts.URL),
		HTTPClient:       &http.Client{Transport: f.rec},
		Credentials:      creds,
		RetryMaxAttempts: 1,
	}, edit...)
}

// sessionClient is a client signing with the given STS credentials.
func (f *fixture) sessionClient(c aws.Credentials, edit ...func(*sts.Options)) *sts.Client {
	return f.client(credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken), edit...)
}

// webIdentity calls AssumeRoleWithWebIdentity with the SDK.
func (f *fixture) webIdentity(t *testing.T, in *sts.AssumeRoleWithWebIdentityInput) (*sts.AssumeRoleWithWebIdentityOutput, error) {
	t.Helper()
	return f.client(aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(callContext(t), in)
}

// credsFrom turns the credentials of an STS result into SDK credentials.
func credsFrom(c *types.Credentials) aws.Credentials {
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
	}
}

// recorder is an http.RoundTripper that keeps the last response body, so
// tests can read what the SDK parsed (and what it skipped).
type recorder struct {
	rt     http.RoundTripper
	mu     sync.Mutex
	last   []byte
	tamper func(*http.Request) // changes a request after the SDK signed it
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	tamper := r.tamper
	r.mu.Unlock()
	if tamper != nil {
		req = req.Clone(req.Context())
		tamper(req)
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.last = body
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) lastBody() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.last)
}

func (r *recorder) setTamper(f func(*http.Request)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tamper = f
}

// wantAPIError checks that err is the STS error code with the HTTP status,
// as the SDK reports it.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Errorf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		if re.HTTPStatusCode() != status {
			t.Errorf("HTTP status = %d, want %d", re.HTTPStatusCode(), status)
		}
		if re.ServiceRequestID() == "" {
			t.Errorf("no request id in the error")
		}
	} else {
		t.Errorf("err = %v carries no HTTP response", err)
	}
}

// callContext is a context for SDK calls that cannot hang a test.
func callContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is an io.Writer for loggers shared by parallel requests.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
