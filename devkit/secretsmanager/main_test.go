package secretsmanager

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson/awsjsontest"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

const (
	testAccount = awsjsontest.Account
	testRegion  = awsjsontest.Region
	arnPrefix   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
)

// The roles of the test STS and their identity policies.
var testRoles = map[string]string{
	// admin may do anything with secrets.
	"admin": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`,
	// reader may read secrets under app/ and describe any, but never
	// app/admin-*.
	"reader": `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"` + arnPrefix + `app/*"},
		{"Effect":"Deny","Action":"secretsmanager:*","Resource":"` + arnPrefix + `app/admin-*"}]}`,
	// nothing has no identity policy.
	"nothing": "",
}

// fixture is a local STS trusting a test issuer, and the local Secrets
// Manager on httptest TLS (127.0.0.1) authenticating with it. The STS's
// clock (session expiry) and the Secrets Manager's (recovery windows) are
// apart, so a test can move one without the other.
type fixture struct {
	issuer   *testkit.Issuer
	sts      *sts.Server
	stsTS    *httptest.Server
	stsClock *testkit.Clock
	clock    *testkit.Clock
	srv      *Server
	ts       *httptest.Server
	logs     *awsjsontest.SyncBuffer
	shared   *awsjsontest.STS
}

func newFixture(t testing.TB, edit ...func(*Config)) *fixture {
	t.Helper()
	shared := awsjsontest.NewSTS(t, testRoles)
	f := &fixture{
		issuer: shared.Issuer, sts: shared.Server, stsTS: shared.TS, stsClock: shared.Clock, shared: shared,
		clock: testkit.NewClock(time.Now().Truncate(time.Second)),
		logs:  &awsjsontest.SyncBuffer{},
	}
	var err error
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

// creds assumes role with a web identity token, with a session policy
// unless policy is "".
func (f *fixture) creds(t testing.TB, role, policy string) aws.Credentials {
	t.Helper()
	return f.shared.Creds(t, role, policy)
}

// client is the AWS SDK's Secrets Manager client pointed at the fixture,
// signing with c, one attempt (refusals are seen as they are).
func (f *fixture) client(c aws.Credentials) *sm.Client {
	return sm.New(sm.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(f.ts.URL),
		HTTPClient:       f.ts.Client(),
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		RetryMaxAttempts: 1,
	})
}

var (
	wantAPIError = awsjsontest.WantAPIError
	testContext  = awsjsontest.Context
)
