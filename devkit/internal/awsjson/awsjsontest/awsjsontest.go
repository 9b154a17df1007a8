// Package awsjsontest is what the tests of the AWS JSON doubles (the local
// Secrets Manager and KMS) share: a local STS trusting a test issuer,
// sessions of its roles through the AWS SDK's STS client, and the check of
// a service's refusal as the SDK reports it. Test code only.
package awsjsontest

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
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// The test STS's account and region (the doubles' must match them).
const (
	Account     = "123456789012"
	Region      = "us-east-1"
	stsAudience = "sts.amazonaws.com"
)

// STS is a local STS on httptest TLS (127.0.0.1) whose roles trust a test
// issuer, each with the identity policy it was given.
type STS struct {
	Issuer *testkit.Issuer
	Server *sts.Server
	TS     *httptest.Server
	// Clock is the STS's (session expiry), apart from the double's.
	Clock *testkit.Clock
}

// NewSTS starts the STS with roles: name to identity policy JSON ("" for
// none).
func NewSTS(t testing.TB, roles map[string]string) *STS {
	t.Helper()
	s := &STS{Issuer: testkit.NewIssuer(t, testkit.IssuerConfig{}), Clock: testkit.NewClock(time.Now().Truncate(time.Second))}
	name := strings.TrimPrefix(s.Issuer.URL(), "https://")
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + Account + `:oidc-provider/` + name + `"},
		"Action":"sts:AssumeRoleWithWebIdentity"}]}`)
	var rs []sts.Role
	for r, p := range roles {
		role := sts.Role{Name: r, TrustPolicy: trust}
		if p != "" {
			role.Policy = []byte(p)
		}
		rs = append(rs, role)
	}
	var err error
	s.Server, err = sts.New(sts.Config{
		AccountID: Account, Region: Region, Roles: rs,
		Providers:  []sts.Provider{{URL: s.Issuer.URL(), ClientIDs: []string{stsAudience}}},
		HTTPClient: s.Issuer.Client(), Now: s.Clock.Now, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("sts.New: %v", err)
	}
	s.TS = httptest.NewTLSServer(s.Server.Handler())
	t.Cleanup(s.TS.Close)
	return s
}

// Creds assumes role with a web identity token through the SDK's STS
// client, with a session policy unless policy is "".
func (s *STS) Creds(t testing.TB, role, policy string) aws.Credentials {
	t.Helper()
	now := time.Now()
	tok := s.Issuer.Sign(map[string]any{"iss": s.Issuer.URL(), "sub": "test:" + role, "aud": stsAudience,
		"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	client := awssts.New(awssts.Options{Region: Region, BaseEndpoint: aws.String(s.TS.URL), HTTPClient: s.TS.Client(),
		Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	in := &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::" + Account + ":role/" + role),
		RoleSessionName:  aws.String("ada"),
		WebIdentityToken: aws.String(tok),
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := client.AssumeRoleWithWebIdentity(Context(t), in)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey), SessionToken: aws.ToString(c.SessionToken)}
}

// WantAPIError checks that err is the service's error code with HTTP 400
// (or status), as the SDK reports it, and returns its message.
func WantAPIError(t testing.TB, err error, code string, status ...int) string {
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

// Context is a context for one test's calls, bounded to 30 seconds.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// SyncBuffer is an io.Writer for a logger shared by parallel requests.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
