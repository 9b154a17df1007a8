package kms

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
	stsAudience = "sts.amazonaws.com"
	keyPrefix   = "arn:aws:kms:us-east-1:123456789012:key/"
)

// The roles of the test STS and their identity policies.
var testRoles = map[string]string{
	// admin may do anything with keys.
	"admin": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`,
	// signer may use keys and read aliases, not manage keys.
	"signer": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["kms:Sign","kms:Verify","kms:GetPublicKey","kms:DescribeKey"],"Resource":"` + keyPrefix + `*"},
		{"Effect":"Allow","Action":"kms:ListAliases","Resource":"*"}]}`,
	// nothing has no identity policy.
	"nothing": "",
}

// fixture is a local STS trusting a test issuer, and the local KMS on
// httptest TLS (127.0.0.1) authenticating with it. The STS's clock
// (session expiry) and the KMS's (deletion windows) are apart, so a test
// can move one without the other.
type fixture struct {
	issuer   *testkit.Issuer
	sts      *sts.Server
	stsTS    *httptest.Server
	stsClock *testkit.Clock
	clock    *testkit.Clock
	srv      *Server
	ts       *httptest.Server
	logs     *syncBuffer
}

func newFixture(t testing.TB, edit ...func(*Config)) *fixture {
	t.Helper()
	f := &fixture{
		issuer:   testkit.NewIssuer(t, testkit.IssuerConfig{}),
		stsClock: testkit.NewClock(time.Now().Truncate(time.Second)),
		clock:    testkit.NewClock(time.Now().Truncate(time.Second)),
		logs:     &syncBuffer{},
	}
	name := strings.TrimPrefix(f.issuer.URL(), "https://")
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + testAccount + `:oidc-provider/` + name + `"},
		"Action":"sts:AssumeRoleWithWebIdentity"}]}`)
	var roles []sts.Role
	for r, p := range testRoles {
		role := sts.Role{Name: r, TrustPolicy: trust}
		if p != "" {
			role.Policy = []byte(p)
		}
		roles = append(roles, role)
	}
	var err error
	f.sts, err = sts.New(sts.Config{
		AccountID:  testAccount,
		Region:     testRegion,
		Providers:  []sts.Provider{{URL: f.issuer.URL(), ClientIDs: []string{stsAudience}}},
		Roles:      roles,
		HTTPClient: f.issuer.Client(),
		Now:        f.stsClock.Now,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("sts.New: %v", err)
	}
	f.stsTS = httptest.NewTLSServer(f.sts.Handler())
	t.Cleanup(f.stsTS.Close)
	cfg := Config{
		Account: testAccount,
		Region:  testRegion,
		STS:     f.sts,
		Now:     f.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, e := range edit {
		e(&cfg)
	}
	f.srv, err = New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.ts = httptest.NewTLSServer(f.srv.Handler())
	t.Cleanup(f.ts.Close)
	return f
}

// creds assumes role with a web identity token through the SDK's STS
// client, with a session policy unless policy is "".
func (f *fixture) creds(t testing.TB, role, policy string) aws.Credentials {
	t.Helper()
	now := time.Now()
	tok := f.issuer.Sign(map[string]any{"iss": f.issuer.URL(), "sub": "test:" + role, "aud": stsAudience,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	client := awssts.New(awssts.Options{Region: testRegion, BaseEndpoint: aws.String(f.stsTS.URL), HTTPClient: f.stsTS.Client(),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	in := &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::" + testAccount + ":role/" + role),
		RoleSessionName:  aws.String("ada"),
		WebIdentityToken: aws.String(tok),
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := client.AssumeRoleWithWebIdentity(testContext(t), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
}

// client is the AWS SDK's KMS client pointed at the fixture, signing with
// c, one attempt (refusals are seen as they are).
func (f *fixture) client(c aws.Credentials) *kms.Client {
	return kms.New(kms.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(f.ts.URL),
		HTTPClient:       f.ts.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		RetryMaxAttempts: 1,
	})
}

// wantAPIError checks that err is the service's error code with HTTP 400
// (or status), as the SDK reports it, and returns its message.
func wantAPIError(t testing.TB, err error, code string, status ...int) string {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	want := 400
	if len(status) > 0 {
		want = status[0]
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != want || re.ServiceRequestID() == "" {
		t.Errorf("err = %v: want HTTP %d with a request id", err, want)
	}
	return ae.ErrorMessage()
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is an io.Writer for a logger shared by parallel requests.
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
