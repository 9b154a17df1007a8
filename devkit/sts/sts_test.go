package sts

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
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
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// The test account and the audience gatehouse's broker uses.
const (
	testAccount  = "123456789012"
	stsAudience  = "sts.amazonaws.com"
	issuerPath   = "/gatehouse"
	strangerPath = "/stranger" // served, signed with the same key, never trusted
)

// fakeClock is Config.Now for tests: time moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testIssuer is a small OpenID issuer: discovery and JWKS for any path
// prefix (so one server is several issuers), one ES256 key, and mint, which
// signs whatever claims a test needs (tags, source identity, odd values).
type testIssuer struct {
	ts  *httptest.Server
	key *ecdsa.PrivateKey
	kid string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key, kid: "test-key-1"}
	iss.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "https://" + r.Host
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			prefix := strings.TrimSuffix(r.URL.Path, "/.well-known/openid-configuration")
			writeJSON(w, map[string]any{"issuer": base + prefix, "jwks_uri": base + prefix + "/jwks"})
		case strings.HasSuffix(r.URL.Path, "/jwks"):
			writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "ES256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(iss.ts.Close)
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// url is the issuer URL for a path prefix.
func (iss *testIssuer) url(path string) string { return iss.ts.URL + path }

// claims returns a valid claim set of the trusted issuer, with edits
// applied (a nil value deletes the claim).
func (iss *testIssuer) claims(edits map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": iss.url(issuerPath),
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

// mint signs claims with the issuer's key.
func (iss *testIssuer) mint(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = iss.kid
	s, err := tok.SignedString(iss.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token mints a valid token with edits.
func (iss *testIssuer) token(t *testing.T, edits map[string]any) string {
	return iss.mint(t, iss.claims(edits))
}

// policy builds a trust policy from statements, replacing {arn} and {name}
// with the test issuer's provider ARN and name, {acct} with the account.
func (iss *testIssuer) policy(statements ...string) []byte {
	name := strings.TrimPrefix(iss.url(issuerPath), "https://")
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
	clock *fakeClock
	rec   *recorder
}

func newFixture(t *testing.T, iss *testIssuer, roles []Role, edit ...func(*Config)) *fixture {
	t.Helper()
	clock := &fakeClock{now: time.Now().Truncate(time.Second)}
	cfg := Config{
		AccountID:  testAccount,
		Providers:  []Provider{{URL: iss.url(issuerPath), ClientIDs: []string{stsAudience}}},
		Roles:      roles,
		HTTPClient: iss.ts.Client(),
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
