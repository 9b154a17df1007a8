package runtime

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// bin holds the function executables TestMain builds.
var bin struct {
	testfn, rawfn, empty, whoami, echo string
}

// canary is set in the test process's environment; no function may see it.
const canary = "GATEHOUSE_RUNTIME_TEST_CANARY"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator),
		"./testdata/testfn", "./testdata/rawfn", "./testdata/empty",
		"../../examples/functions/whoami", "../../examples/functions/echo")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test functions: %v\n%s", err, out)
		os.Exit(1)
	}
	bin.testfn = filepath.Join(dir, "testfn")
	bin.rawfn = filepath.Join(dir, "rawfn")
	bin.empty = filepath.Join(dir, "empty")
	bin.whoami = filepath.Join(dir, "whoami")
	bin.echo = filepath.Join(dir, "echo")
	os.Setenv(canary, "leaked")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The account and region of the test STS and host.
const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
)

// logRecorder is a slog.Handler that keeps records for assertions and
// lets a test wait for one. The records are printed if the test fails.
type logRecorder struct {
	mu     sync.Mutex
	recs   []logRecord
	notify chan struct{} // closed and replaced at each record
}

type logRecord struct {
	Level slog.Level
	Msg   string
	Attrs map[string]any
}

func (r logRecord) String() string {
	b, _ := json.Marshal(r.Attrs)
	return r.Level.String() + " " + r.Msg + " " + string(b)
}

func newLogRecorder(t testing.TB) *logRecorder {
	l := &logRecorder{notify: make(chan struct{})}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range l.all() {
				t.Log(r)
			}
		}
	})
	return l
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{Level: r.Level, Msg: r.Message, Attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Any()
		return true
	})
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	return nil
}

func (l *logRecorder) all() []logRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]logRecord(nil), l.recs...)
}

// find returns the records for which match is true.
func (l *logRecorder) find(match func(logRecord) bool) []logRecord {
	var out []logRecord
	for _, r := range l.all() {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

// wait waits (up to 10 s) for a record for which match is true.
func (l *logRecorder) wait(t testing.TB, what string, match func(logRecord) bool) logRecord {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		ch := l.notify
		for _, r := range l.recs {
			if match(r) {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no log record %s within 10s", what)
		}
	}
}

// output matches a function output record of the request containing text.
func output(requestID, text string) func(logRecord) bool {
	return func(r logRecord) bool {
		out, _ := r.Attrs["output"].(string)
		return r.Msg == "runtime: function output" && (requestID == "" || r.Attrs["request_id"] == requestID) && strings.Contains(out, text)
	}
}

// newHost is a Host for cfg, closed when the test ends.
func newHost(t testing.TB, cfg Config) (*Host, *logRecorder) {
	t.Helper()
	logs := newLogRecorder(t)
	cfg.Logger = slog.New(logs)
	if cfg.AccountID == "" {
		cfg.AccountID = testAccount
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, logs
}

// invoke calls Host.Invoke with a 30 s bound and fails the test on an error.
func invoke(t testing.TB, h *Host, name string, payload any, opts InvokeOptions) *Result {
	t.Helper()
	res, err := invokeErr(t, h, name, payload, opts)
	if err != nil {
		t.Fatalf("Invoke(%s): %v", name, err)
	}
	return res
}

func invokeErr(t testing.TB, h *Host, name string, payload any, opts InvokeOptions) (*Result, error) {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h.Invoke(ctx, name, b, opts)
}

// fnErrorBody is a function error payload.
type fnErrorBody struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

func functionErr(t testing.TB, res *Result) fnErrorBody {
	t.Helper()
	if res.FunctionError != "Unhandled" {
		t.Fatalf("FunctionError = %q, want Unhandled (payload %s)", res.FunctionError, res.Payload)
	}
	var e fnErrorBody
	if err := json.Unmarshal(res.Payload, &e); err != nil {
		t.Fatalf("function error payload %q: %v", res.Payload, err)
	}
	return e
}

// awsFixture is a local OpenID issuer (testkit.Issuer: RS256, discovery
// and JWKS on httptest TLS) trusted by a devkit/sts server on httptest TLS,
// with three roles: invoker (may invoke any function), reports-reader
// (reports-*), and fn-whoami (an execution role).
type awsFixture struct {
	issuer *testkit.Issuer
	srv    *sts.Server
	ts     *httptest.Server
	caFile string // PEM of the STS server's certificate
}

const stsAudience = "sts.amazonaws.com"

func newAWSFixture(t testing.TB) *awsFixture {
	t.Helper()
	a := &awsFixture{issuer: testkit.NewIssuer(t, testkit.IssuerConfig{})}
	name := strings.TrimPrefix(a.issuer.URL(), "https://")
	trust := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"Federated":"arn:aws:iam::` + testAccount + `:oidc-provider/` + name + `"},
		"Action":"sts:AssumeRoleWithWebIdentity",
		"Condition":{"StringEquals":{"` + name + `:aud":"` + stsAudience + `"}}}]}`)
	srv, err := sts.New(sts.Config{
		AccountID:  testAccount,
		Region:     testRegion,
		Providers:  []sts.Provider{{URL: a.issuer.URL(), ClientIDs: []string{stsAudience}}},
		HTTPClient: a.issuer.Client(),
		Logger:     slog.New(slog.DiscardHandler),
		Roles: []sts.Role{
			{Name: "invoker", TrustPolicy: trust, Invoke: []string{"*"}},
			{Name: "reports-reader", TrustPolicy: trust, Invoke: []string{"reports-*"}},
			{Name: "fn-whoami", TrustPolicy: trust},
		},
	})
	if err != nil {
		t.Fatalf("sts.New: %v", err)
	}
	a.srv = srv
	a.ts = httptest.NewTLSServer(srv.Handler())
	t.Cleanup(a.ts.Close)
	a.caFile = filepath.Join(t.TempDir(), "sts-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.ts.Certificate().Raw})
	if err := os.WriteFile(a.caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// token mints a web identity token for sub.
func (a *awsFixture) token(sub string) string {
	now := time.Now()
	return a.issuer.Sign(map[string]any{
		"iss": a.issuer.URL(), "sub": sub, "aud": stsAudience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
}

// assume gets credentials for a role through the SDK's STS client, with a
// session policy if policy is not "".
func (a *awsFixture) assume(ctx context.Context, role, session, policy string) (aws.Credentials, error) {
	tok := a.token("test:" + session)
	client := awssts.New(awssts.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(a.ts.URL),
		HTTPClient:       a.ts.Client(),
		Credentials:      aws.AnonymousCredentials{},
		RetryMaxAttempts: 1,
	})
	in := &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn:          aws.String("arn:aws:iam::" + testAccount + ":role/" + role),
		RoleSessionName:  aws.String(session),
		WebIdentityToken: aws.String(tok),
	}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := client.AssumeRoleWithWebIdentity(ctx, in)
	if err != nil {
		return aws.Credentials{}, err
	}
	c := out.Credentials
	return aws.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		CanExpire:       true,
		Expires:         aws.ToTime(c.Expiration),
	}, nil
}

func (a *awsFixture) mustAssume(t testing.TB, role, session, policy string) aws.Credentials {
	t.Helper()
	c, err := a.assume(testContext(t), role, session, policy)
	if err != nil {
		t.Fatalf("AssumeRoleWithWebIdentity %s: %v", role, err)
	}
	return c
}

// credentials is Config.Credentials as the CLI provides it: a session of
// the execution role from the local STS.
func (a *awsFixture) credentials(ctx context.Context, roleARN, sessionName string) (aws.Credentials, error) {
	role := roleARN[strings.LastIndex(roleARN, "/")+1:]
	return a.assume(ctx, role, sessionName, "")
}

// lambdaFixture is a Host whose Invoke API is served on httptest and
// authenticated by an awsFixture's STS.
type lambdaFixture struct {
	host *Host
	logs *logRecorder
	aws  *awsFixture
	ts   *httptest.Server
}

func newLambdaFixture(t testing.TB, a *awsFixture, cfg Config) *lambdaFixture {
	t.Helper()
	if a != nil {
		cfg.STS = a.srv
	}
	h, logs := newHost(t, cfg)
	ts := httptest.NewServer(h.Handler())
	t.Cleanup(ts.Close)
	return &lambdaFixture{host: h, logs: logs, aws: a, ts: ts}
}

// client is the AWS SDK's Lambda client pointed at the host, signing with
// creds, one attempt (refusals are seen as they are).
func (lf *lambdaFixture) client(creds aws.CredentialsProvider) *lambda.Client {
	return lambda.New(lambda.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(lf.ts.URL),
		HTTPClient:       lf.ts.Client(),
		Credentials:      creds,
		RetryMaxAttempts: 1,
	})
}

func static(c aws.Credentials) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
