package kms

import (
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/gatehouse-dev/gatehouse/devkit/internal/awsjson/awsjsontest"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

const (
	testAccount = awsjsontest.Account
	testRegion  = awsjsontest.Region
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

var (
	wantAPIError = awsjsontest.WantAPIError
	testContext  = awsjsontest.Context
)
