package lambdaauth_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// The runtime tests run the real executables, examples/functions/protected
// and cmd/gatehouse-authorizer, under devkit/runtime (the local Lambda
// host, through the Lambda Runtime API), invoke them with the AWS SDK's
// Lambda client through the host's Invoke API, with tokens from
// devkit/idp's token endpoint, and let them assume roles at devkit/sts.

var bins struct {
	once              sync.Once
	dir               string
	protected, authzr string
	err               error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bins.dir != "" {
		os.RemoveAll(bins.dir)
	}
	os.Exit(code)
}

// buildBinaries builds the two executables once per test process.
func buildBinaries(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs Lambda executables")
	}
	bins.once.Do(func() {
		if bins.dir, bins.err = os.MkdirTemp("", "lambdaauth-test-"); bins.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", bins.dir+string(os.PathSeparator), "../examples/functions/protected", "../cmd/gatehouse-authorizer")
		if out, err := cmd.CombinedOutput(); err != nil {
			bins.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		bins.protected = filepath.Join(bins.dir, "protected")
		bins.authzr = filepath.Join(bins.dir, "gatehouse-authorizer")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
}

// The development directory: contoso.example with its API, its command
// line client, and four users.
const (
	account    = "123456789012"
	region     = "us-east-1"
	tenantID   = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	apiID      = "68e96204-b89d-4992-9e0e-90cc31a67403"
	cliID      = "992ebcd3-3449-4a98-88ed-901221c068d6"
	engGroup   = "15dd7745-cbbe-45b1-9b2a-ee1ef7644785"
	finGroup   = "cc501977-ed03-40c6-bff3-944575d3a8ca"
	adminGroup = "cd9781f8-c477-4323-87ce-ed0dfe9ce310"
	supGroup   = "13bd09a8-c778-4869-be65-fd2e84cd4302"
	aliceOID   = "2d4acc68-9d83-4609-a6f0-96e989303d16"
	bobOID     = "1ee840e4-61de-4634-b1e6-1e29799b084f"
	daveOID    = "4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07"
	erinOID    = "5c2e8b4f-8d63-4a1f-8e3b-7b9f6a4d2c18"
)

var directory = []idp.Tenant{{
	ID: tenantID, Domain: "contoso.example",
	Groups: []idp.Group{{ObjectID: engGroup, DisplayName: "engineering"}, {ObjectID: finGroup, DisplayName: "finance"},
		{ObjectID: adminGroup, DisplayName: "admins"}, {ObjectID: supGroup, DisplayName: "support"}},
	Users: []idp.User{
		{ObjectID: aliceOID, UserPrincipalName: "alice@contoso.example", DisplayName: "Alice Example", Password: "dev-alice", Groups: []string{"engineering"}},
		{ObjectID: bobOID, UserPrincipalName: "bob@contoso.example", DisplayName: "Bob Example", Password: "dev-bob", Groups: []string{"finance"}},
		{ObjectID: daveOID, UserPrincipalName: "dave@contoso.example", DisplayName: "Dave Example", Password: "dev-dave", Groups: []string{"support"}},
		{ObjectID: erinOID, UserPrincipalName: "erin@contoso.example", DisplayName: "Erin Example", Password: "dev-erin", Groups: []string{"admins"},
			AppRoles: map[string][]string{"gatehouse-api": {"Functions.Admin"}}},
	},
	Apps: []idp.App{
		{Name: "gatehouse-api", ClientID: apiID, ObjectID: "d3f7953b-28af-477f-9ed8-09ea39dc5086", AppIDURI: "api://gatehouse-api",
			Scopes: []string{"access_as_user"}, GroupClaims: true, AccessTokenVersion: 2,
			AppRoles: []idp.AppRole{{Value: "Functions.Admin", MemberTypes: []string{"User"}}}},
		{Name: "gatehouse-cli", ClientID: cliID, ObjectID: "6f53e86c-252e-4dac-a913-b6bd97e4b3e4", PublicClient: true,
			RedirectURIs: []string{"http://localhost"}, Permissions: []idp.Permission{{Resource: "gatehouse-api", Scopes: []string{"access_as_user"}}}},
	},
}}

// logRecorder keeps slog records for assertions, printed if the test fails.
type logRecorder struct {
	mu     sync.Mutex
	recs   []map[string]any
	notify chan struct{} // closed and replaced at each record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, m)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// wait waits, at most 10 s, for a record for which match is true: the
// host logs a function's output lines as it reads them, which may be after
// the invocation answered.
func (l *logRecorder) wait(t testing.TB, what string, match func(map[string]any) bool) map[string]any {
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

func (l *logRecorder) find(match func(map[string]any) bool) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func newLogRecorder(t testing.TB) *logRecorder {
	l := &logRecorder{notify: make(chan struct{})}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range l.find(func(map[string]any) bool { return true }) {
				t.Log(r)
			}
		}
	})
	return l
}

// localCloud is the development doubles of one test: the IdP, an issuer
// for execution-role tokens, STS and the Lambda host.
type localCloud struct {
	t        testing.TB
	idp      *idp.Server
	idpURL   string
	exec     *testkit.Issuer // mints the web identity tokens of execution roles and of the invoker
	sts      *sts.Server
	stsURL   string
	stsLogs  *logRecorder
	host     *runtime.Host
	hostLogs *logRecorder
	lambda   *lambda.Client
	caFile   string
	dir      string
	client   *http.Client
	// idpDelay, when set, delays the IdP's discovery and key answers: a
	// stand-in for the network distance to a real IdP, for the cold-start
	// figures only.
	idpDelay time.Duration
}

func newLocalCloud(t testing.TB) *localCloud {
	t.Helper()
	lc := &localCloud{t: t, dir: t.TempDir(), exec: testkit.NewIssuer(t, testkit.IssuerConfig{}), stsLogs: newLogRecorder(t), hostLogs: newLogRecorder(t)}
	lc.client = lc.exec.Client()

	// The IdP, on a TLS server whose URL must be known before New.
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	t.Cleanup(ts.Close)
	var err error
	if lc.idp, err = idp.New(idp.Config{BaseURL: ts.URL, Tenants: directory, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	h := lc.idp.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc.idpDelay > 0 && r.Method == http.MethodGet {
			time.Sleep(lc.idpDelay)
		}
		h.ServeHTTP(w, r)
	})
	lc.idpURL = ts.URL
	// httptest servers share one certificate: one CA file trusts them all.
	lc.caFile = filepath.Join(lc.dir, "ca.pem")
	if err := os.WriteFile(lc.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	// STS: execution roles and the invoker trust the exec issuer; the
	// decided roles trust the function's execution role (assume_role) or
	// the IdP (web_identity).
	execProvider := strings.TrimPrefix(lc.exec.URL(), "https://")
	idpIssuer := lc.idp.Issuer(tenantID)
	idpProvider := strings.TrimPrefix(idpIssuer, "https://")
	webIdentity := func(provider, aud string) []byte {
		return []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
			"Principal":{"Federated":"arn:aws:iam::` + account + `:oidc-provider/` + provider + `"},
			"Action":"sts:AssumeRoleWithWebIdentity",
			"Condition":{"StringEquals":{"` + provider + `:aud":"` + aud + `"}}}]}`)
	}
	fromFunction := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + account + `:role/fn-protected"},
		"Action":["sts:AssumeRole","sts:SetSourceIdentity","sts:TagSession"],
		"Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["tenant","kind","agent"]}}}]}`)
	lc.sts, err = sts.New(sts.Config{
		AccountID: account, Region: region, HTTPClient: lc.client, Logger: slog.New(lc.stsLogs),
		Providers: []sts.Provider{{URL: lc.exec.URL(), ClientIDs: []string{"sts.amazonaws.com"}}, {URL: idpIssuer, ClientIDs: []string{apiID}}},
		Roles: []sts.Role{
			{Name: "fn-protected", TrustPolicy: webIdentity(execProvider, "sts.amazonaws.com")},
			{Name: "invoker", TrustPolicy: webIdentity(execProvider, "sts.amazonaws.com"), Invoke: []string{"*"}},
			{Name: "protected-reader", TrustPolicy: fromFunction},
			{Name: "protected-finance", TrustPolicy: webIdentity(idpProvider, apiID)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stsTS := httptest.NewTLSServer(lc.sts.Handler())
	t.Cleanup(stsTS.Close)
	lc.stsURL = stsTS.URL
	return lc
}

// assume returns a session of role for the web identity sub, through the
// SDK's STS client.
func (lc *localCloud) assume(ctx context.Context, role, sub string) (aws.Credentials, error) {
	tok := signToken(lc.exec, func(c map[string]any) { c["aud"], c["sub"] = "sts.amazonaws.com", sub; delete(c, "tid") })
	client := awssts.New(awssts.Options{Region: region, BaseEndpoint: aws.String(lc.stsURL), HTTPClient: lc.client, Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1})
	out, err := client.AssumeRoleWithWebIdentity(ctx, &awssts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::" + account + ":role/" + role), RoleSessionName: aws.String(sub), WebIdentityToken: aws.String(tok),
	})
	if err != nil {
		return aws.Credentials{}, err
	}
	c := out.Credentials
	return aws.Credentials{AccessKeyID: aws.ToString(c.AccessKeyId), SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken: aws.ToString(c.SessionToken), CanExpire: true, Expires: aws.ToTime(c.Expiration)}, nil
}

// writeFile writes a file into the test's directory and returns its path.
func (lc *localCloud) writeFile(name, content string) string {
	lc.t.Helper()
	p := filepath.Join(lc.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		lc.t.Fatal(err)
	}
	return p
}

// start runs the Lambda host with fns and points an SDK Lambda client, with
// the invoker's credentials, at its Invoke API.
func (lc *localCloud) start(fns ...runtime.Function) {
	t := lc.t
	t.Helper()
	host, err := runtime.New(runtime.Config{
		Functions: fns, Region: region, AccountID: account, StateDir: filepath.Join(lc.dir, "lambda"), STS: lc.sts,
		Credentials: func(ctx context.Context, roleARN, session string) (aws.Credentials, error) {
			return lc.assume(ctx, roleARN[strings.LastIndex(roleARN, "/")+1:], session)
		},
		Logger: slog.New(lc.hostLogs),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	if err := host.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	lc.host = host
	api := httptest.NewServer(host.Handler())
	t.Cleanup(api.Close)
	invoker, err := lc.assume(t.Context(), "invoker", "api-gateway")
	if err != nil {
		t.Fatal(err)
	}
	lc.lambda = lambda.New(lambda.Options{
		Region: region, BaseEndpoint: aws.String(api.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(invoker.AccessKeyID, invoker.SecretAccessKey, invoker.SessionToken),
	})
}

// token gets an access token for gatehouse-api from the IdP's token
// endpoint (password grant of the command line client).
func (lc *localCloud) token(user string) string {
	lc.t.Helper()
	cfg := oauth2.Config{ClientID: cliID, Endpoint: oauth2.Endpoint{TokenURL: lc.idpURL + "/" + tenantID + "/oauth2/v2.0/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"api://gatehouse-api/access_as_user"}}
	ctx := context.WithValue(lc.t.Context(), oauth2.HTTPClient, lc.client)
	tok, err := cfg.PasswordCredentialsToken(ctx, user+"@contoso.example", "dev-"+user)
	if err != nil {
		lc.t.Fatalf("token for %s: %v", user, err)
	}
	return tok.AccessToken
}

// invoke calls fn through the Invoke API with payload and returns the
// function's answer and Lambda's request id.
func (lc *localCloud) invoke(t *testing.T, fn string, payload any) ([]byte, string) {
	t.Helper()
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := lc.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: b})
	if err != nil {
		t.Fatalf("Invoke %s: %v", fn, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("Invoke %s: function error %s: %s", fn, aws.ToString(out.FunctionError), out.Payload)
	}
	reqID, _ := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	return out.Payload, reqID
}

// auditEvent finds the audit event the function wrote to standard output
// for a Lambda request id (the host logs each output line).
func (lc *localCloud) auditEvent(t *testing.T, reqID string) audit.Event {
	t.Helper()
	var ev audit.Event
	lc.hostLogs.wait(t, "of an audit event with request id "+reqID, func(r map[string]any) bool {
		out, _ := r["output"].(string)
		if r["msg"] != "runtime: function output" || !strings.HasPrefix(out, `{"version":`) {
			return false
		}
		var e audit.Event
		if err := e.UnmarshalJSON([]byte(out)); err != nil {
			t.Errorf("an audit line does not decode: %v: %s", err, out)
			return false
		}
		ev = e
		return e.RequestID == reqID
	})
	return ev
}

// contosoUser is ev with the identity of the directory's user oid, as a
// trail whose pseudonym key is key records it: a pseudonym, never the
// object id, with the key's id, and the command line client acting for
// the user.
func contosoUser(t *testing.T, key, oid string, ev audit.Event) audit.Event {
	t.Helper()
	p, err := audit.NewPseudonymizer([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	ev.Tenant, ev.Principal, ev.PrincipalKind, ev.App = tenantID, p.Principal(tenantID, oid), "user", cliID
	ev.PseudonymKey = p.KeyID()
	ev.Agents = []audit.Agent{{App: cliID, Via: "client", Subject: cliID}}
	return ev
}

// The pseudonym keys of functionYAML and authorizerYAML.
var (
	functionKey   = strings.Repeat("p", 32)
	authorizerKey = strings.Repeat("q", 40)
)

// functionYAML is the protected function's configuration: alice's
// engineering group is "reader" (assume_role from the execution role),
// bob's finance group "finance" (web_identity with his own token).
func (lc *localCloud) functionYAML() string {
	key := lc.writeFile("pseudonym.key", functionKey)
	return lc.writeFile("protected.yaml", `
authn:
  issuers:
    - name: contoso
      type: entra
      entra:
        authority: `+lc.idpURL+`
        tenant: `+tenantID+`
      audiences: [`+apiID+`, "api://gatehouse-api"]
      ca_file: `+lc.caFile+`
authz:
  roles:
    - name: reader
      aws_role: arn:aws:iam::`+account+`:role/protected-reader
      actions: [invoke]
      functions: [protected]
    - name: finance
      aws_role: arn:aws:iam::`+account+`:role/protected-finance
      actions: [invoke]
      functions: [protected]
  rules:
    - {id: engineering-readers, effect: allow, roles: [reader], groups: [{id: `+engGroup+`}]}
    - {id: finance, effect: allow, roles: [finance], groups: [{id: `+finGroup+`}]}
creds:
  mode: assume_role
  sts:
    endpoint: `+lc.stsURL+`
    region: `+region+`
  roles:
    - {role: finance, mode: web_identity}
audit:
  sink: jsonl
  key_file: `+filepath.Base(key)+`
  claims: [azpacr]
`)
}

func (lc *localCloud) protectedFunction(env map[string]string) runtime.Function {
	e := map[string]string{"GATEHOUSE_CONFIG": lc.functionYAML(), "AWS_ENDPOINT_URL_STS": lc.stsURL, "AWS_CA_BUNDLE": lc.caFile}
	for k, v := range env {
		e[k] = v
	}
	return runtime.Function{Name: "protected", Executable: bins.protected, ExecutionRole: "arn:aws:iam::" + account + ":role/fn-protected",
		Timeout: 30 * time.Second, Env: e}
}

// protectedReply is the example's answer body.
type protectedReply struct {
	Caller struct {
		Principal, Tenant, Kind, Role string
		Policies                      []string
	} `json:"caller"`
	CallerIdentity *struct {
		Account, ARN string
	} `json:"callerIdentity"`
	CallerIdentityError string `json:"callerIdentityError"`
	SourceIdentity      string `json:"sourceIdentity"`
	Session             string `json:"session"`
	RequestID           string `json:"requestId"`
}

// httpShape is an answer of any of the four event types, read into one
// shape: status, headers (lower-case names) and body.
type httpShape struct {
	status  int
	headers map[string]string
	body    string
}

// eventShapes build each event type around an Authorization header and
// read its answer.
var eventShapes = []struct {
	name  string
	route string // what the trail records as the event's route
	event func(auth string) any
}{
	{"HTTP API 2.0", "GET /protected", func(auth string) any {
		h := map[string]string{"accept": "application/json"}
		if auth != "" {
			h["authorization"] = auth
		}
		return map[string]any{"version": "2.0", "routeKey": "GET /protected", "rawPath": "/protected", "rawQueryString": "", "headers": h,
			"requestContext": map[string]any{"apiId": "a1b2c3", "stage": "$default", "requestId": "apigw-1", "routeKey": "GET /protected",
				"http": map[string]any{"method": "GET", "path": "/protected", "sourceIp": "192.0.2.10", "protocol": "HTTP/1.1"}},
			"isBase64Encoded": false}
	}},
	{"REST API", "GET /protected", func(auth string) any {
		h := map[string]string{"Accept": "application/json"}
		mh := map[string][]string{"Accept": {"application/json"}}
		if auth != "" {
			h["Authorization"], mh["Authorization"] = auth, []string{auth}
		}
		return map[string]any{"resource": "/protected", "path": "/protected", "httpMethod": "GET", "headers": h, "multiValueHeaders": mh,
			"requestContext": map[string]any{"apiId": "a1b2c3", "stage": "prod", "requestId": "apigw-2", "resourcePath": "/protected", "httpMethod": "GET",
				"identity": map[string]any{"sourceIp": "192.0.2.10"}}}
	}},
	{"function URL", "$default", func(auth string) any {
		h := map[string]string{"accept": "application/json"}
		if auth != "" {
			h["authorization"] = auth
		}
		return map[string]any{"version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "", "headers": h,
			"requestContext": map[string]any{"apiId": "urlid", "domainName": "urlid.lambda-url.us-east-1.on.aws", "domainPrefix": "urlid", "requestId": "url-1",
				"http": map[string]any{"method": "GET", "path": "/", "sourceIp": "192.0.2.10"}},
			"isBase64Encoded": false}
	}},
	{"ALB", "", func(auth string) any {
		mh := map[string][]string{"accept": {"application/json"}, "x-forwarded-for": {"192.0.2.10"}}
		if auth != "" {
			mh["authorization"] = []string{auth}
		}
		return map[string]any{"httpMethod": "GET", "path": "/protected", "multiValueHeaders": mh, "multiValueQueryStringParameters": map[string][]string{},
			"requestContext":  map[string]any{"elb": map[string]any{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:" + account + ":targetgroup/protected/1"}},
			"isBase64Encoded": false, "body": ""}
	}},
}

func readShape(t *testing.T, name string, payload []byte) httpShape {
	t.Helper()
	var r struct {
		StatusCode        int                 `json:"statusCode"`
		StatusDescription string              `json:"statusDescription"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Body              string              `json:"body"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatalf("%s answer %s: %v", name, payload, err)
	}
	s := httpShape{status: r.StatusCode, headers: map[string]string{}, body: r.Body}
	for k, v := range r.Headers {
		s.headers[strings.ToLower(k)] = v
	}
	for k, vs := range r.MultiValueHeaders {
		s.headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if name == "ALB" {
		if r.Headers != nil || r.StatusDescription == "" {
			t.Errorf("ALB answer %s: want multiValueHeaders only (the request had them) and a status description", payload)
		}
	}
	return s
}

func TestProtectedFunctionUnderLambdaHost(t *testing.T) {
	buildBinaries(t)
	lc := newLocalCloud(t)
	lc.start(lc.protectedFunction(nil))
	alice, bob, dave := lc.token("alice"), lc.token("bob"), lc.token("dave")
	alicePseudonymInAWS := creds.Pseudonym(&authn.Principal{Tenant: tenantID, Subject: aliceOID})

	for _, shape := range eventShapes {
		t.Run(shape.name, func(t *testing.T) {
			t.Run("allowed: credentials of the decided role, assumed for the caller", func(t *testing.T) {
				payload, reqID := lc.invoke(t, "protected", shape.event("Bearer "+alice))
				got := readShape(t, shape.name, payload)
				if got.status != 200 {
					t.Fatalf("status %d: %s", got.status, got.body)
				}
				var r protectedReply
				if err := json.Unmarshal([]byte(got.body), &r); err != nil {
					t.Fatal(err)
				}
				if r.Caller.Role != "reader" || r.Caller.Tenant != tenantID || r.Caller.Kind != "user" || !strings.HasPrefix(r.Caller.Principal, audit.PseudonymPrefix) {
					t.Errorf("caller %+v", r.Caller)
				}
				wantARN := "arn:aws:sts::" + account + ":assumed-role/protected-reader/" + aliceOID
				if r.CallerIdentity == nil || r.CallerIdentity.ARN != wantARN || r.CallerIdentity.Account != account {
					t.Errorf("GetCallerIdentity = %+v (%s), want %s", r.CallerIdentity, r.CallerIdentityError, wantARN)
				}
				if r.SourceIdentity != alicePseudonymInAWS || r.Session != aliceOID || r.RequestID != reqID {
					t.Errorf("source identity %q session %q request %q; want %q, %q, %q", r.SourceIdentity, r.Session, r.RequestID, alicePseudonymInAWS, aliceOID, reqID)
				}
				ev := lc.auditEvent(t, reqID)
				want := contosoUser(t, functionKey, aliceOID, audit.Event{RequestID: reqID, Route: shape.route, Action: "invoke", Resource: "function:protected",
					Decision: audit.DecisionAllow, Policies: []string{"engineering-readers/reader"}, Role: "reader", STSSession: aliceOID,
					Target: "protected", TargetRequestID: reqID, Status: 200, Claims: map[string]string{"azpacr": "0"}})
				if diff := testkit.DiffEvent(want, ev); diff != "" {
					t.Errorf("audit event (-want +got):\n%s", diff)
				}
				if ev.Principal != r.Caller.Principal {
					t.Errorf("audit principal %q, the handler's caller %q: want the same pseudonym", ev.Principal, r.Caller.Principal)
				}
				// Also in the fields the diff leaves out (id, replica, chain).
				if strings.Contains(fmt.Sprint(ev), "alice") {
					t.Errorf("personal data in the audit event %+v", ev)
				}
			})
			t.Run("denied: 403 in the event's shape", func(t *testing.T) {
				payload, reqID := lc.invoke(t, "protected", shape.event("Bearer "+dave))
				got := readShape(t, shape.name, payload)
				if got.status != 403 || !strings.HasPrefix(got.headers["www-authenticate"], `Bearer realm="gatehouse", error="insufficient_scope"`) || strings.Contains(got.body, "callerIdentity") {
					t.Errorf("answer %+v", got)
				}
				want := contosoUser(t, functionKey, daveOID, audit.Event{RequestID: reqID, Route: shape.route, Action: "invoke", Resource: "function:protected",
					Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied", Claims: map[string]string{"azpacr": "0"}})
				if diff := testkit.DiffEvent(want, lc.auditEvent(t, reqID)); diff != "" {
					t.Errorf("audit event (-want +got):\n%s", diff)
				}
			})
			t.Run("no token: 401 with a bare challenge", func(t *testing.T) {
				payload, reqID := lc.invoke(t, "protected", shape.event(""))
				got := readShape(t, shape.name, payload)
				if got.status != 401 || got.headers["www-authenticate"] != `Bearer realm="gatehouse"` {
					t.Errorf("answer %+v", got)
				}
				want := audit.Event{RequestID: reqID, Route: shape.route, Action: "invoke", Resource: "function:protected",
					Decision: audit.DecisionError, Status: 401, Check: authn.CheckRequest, ErrorClass: string(authn.InvalidRequest)}
				if diff := testkit.DiffEvent(want, lc.auditEvent(t, reqID)); diff != "" {
					t.Errorf("audit event (-want +got):\n%s", diff)
				}
			})
			t.Run("bad token: 401 invalid_token", func(t *testing.T) {
				payload, _ := lc.invoke(t, "protected", shape.event("Bearer "+alice[:len(alice)-6]+"AAAAAA"))
				got := readShape(t, shape.name, payload)
				if got.status != 401 || !strings.HasPrefix(got.headers["www-authenticate"], `Bearer realm="gatehouse", error="invalid_token", error_description="signature:`) {
					t.Errorf("answer %+v", got)
				}
			})
		})
	}

	t.Run("web_identity role: the caller's own token at STS", func(t *testing.T) {
		payload, _ := lc.invoke(t, "protected", eventShapes[0].event("Bearer "+bob))
		var r protectedReply
		json.Unmarshal([]byte(readShape(t, "HTTP API 2.0", payload).body), &r)
		wantARN := "arn:aws:sts::" + account + ":assumed-role/protected-finance/" + bobOID
		if r.Caller.Role != "finance" || r.CallerIdentity == nil || r.CallerIdentity.ARN != wantARN || r.SourceIdentity != "" {
			t.Errorf("reply %+v, want %s without a source identity", r, wantARN)
		}
	})

	// STS itself recorded the assume_role sessions with alice's pseudonym as
	// source identity, and never her name.
	sessions := lc.stsLogs.find(func(r map[string]any) bool {
		return r["msg"] == "sts: session issued" && r["action"] == "AssumeRole"
	})
	if len(sessions) == 0 {
		t.Fatal("STS issued no AssumeRole session")
	}
	for _, s := range sessions {
		if s["source_identity"] != alicePseudonymInAWS || s["caller"] != "arn:aws:sts::"+account+":assumed-role/fn-protected/protected" {
			t.Errorf("STS session %v", s)
		}
	}
	// One session for alice, cached across the invocations of the
	// environment (the host may have started more than one instance).
	if n := len(sessions); n > 4 {
		t.Errorf("%d AssumeRole calls for one caller's invocations, want one per instance", n)
	}
}

// authorizerYAML is the authorizer's configuration: the API's routes
// (gateway.routes), readers may read jobs, operators do everything; the
// creds section is left in broker mode, as a gateway's file would have it,
// and the authorizer does not read it.
func (lc *localCloud) authorizerYAML() string {
	lc.writeFile("authorizer-pseudonym.key", authorizerKey)
	return lc.writeFile("authorizer.yaml", `
authn:
  issuers:
    - name: contoso
      type: entra
      entra:
        authority: `+lc.idpURL+`
        tenant: `+tenantID+`
      audiences: [`+apiID+`]
      ca_file: `+lc.caFile+`
authz:
  roles:
    - name: reader
      aws_role: arn:aws:iam::`+account+`:role/jobs-reader
      actions: [invoke]
      functions: [jobs-read]
    - name: operator
      aws_role: arn:aws:iam::`+account+`:role/jobs-operator
      actions: [invoke]
      functions: ["jobs-*"]
  rules:
    - {id: engineering-readers, effect: allow, roles: [reader], groups: [{id: `+engGroup+`}]}
    - {id: admins-operate, effect: allow, roles: [operator], groups: [{id: `+adminGroup+`}], app_roles: [Functions.Admin]}
gateway:
  routes:
    - {id: jobs-list, method: GET, path: /jobs, function: jobs-read}
    - {id: jobs-get, method: GET, path: "/jobs/{id}", function: jobs-read}
    - {id: jobs-run, method: POST, path: "/jobs/{id}/run", function: jobs-run}
    - {id: jobs-purge, method: DELETE, path: "/jobs/{rest...}", function: jobs-admin}
audit:
  sink: jsonl
  key_file: authorizer-pseudonym.key
`)
}

func TestAuthorizerUnderLambdaHost(t *testing.T) {
	buildBinaries(t)
	lc := newLocalCloud(t)
	lc.start(runtime.Function{Name: "authorizer", Executable: bins.authzr, Timeout: 30 * time.Second, Env: map[string]string{"GATEHOUSE_CONFIG": lc.authorizerYAML()}})
	alice, erin, dave := lc.token("alice"), lc.token("erin"), lc.token("dave")
	const stage = "arn:aws:execute-api:us-east-1:" + account + ":a1b2c3/prod/"

	type statement struct {
		Action   []string
		Effect   string
		Resource []string
	}
	type policyAnswer struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string
			Statement []statement
		} `json:"policyDocument"`
		Context map[string]any `json:"context"`
	}
	invoke := "execute-api:Invoke"
	// The API's stage is the target of an allowed request only.
	const target = "execute-api:a1b2c3/prod"
	for _, tc := range []struct {
		name      string
		event     map[string]any
		want      []statement
		user      string      // the caller's object id
		wantEvent audit.Event // beside the caller's identity and the request id
	}{
		{"TOKEN, reader: exactly the read routes", map[string]any{"type": "TOKEN", "authorizationToken": "Bearer " + alice, "methodArn": stage + "GET/jobs/42"},
			[]statement{{[]string{invoke}, "Allow", []string{stage + "GET/jobs", stage + "GET/jobs/*"}},
				{[]string{invoke}, "Deny", []string{stage + "POST/jobs/*/run", stage + "DELETE/jobs/*"}}},
			aliceOID, audit.Event{Route: "GET /jobs/{id}", Action: "invoke", Resource: "function:jobs-read",
				Decision: audit.DecisionAllow, Policies: []string{"engineering-readers/reader"}, Role: "reader", Target: target, Status: 200}},
		{"REQUEST, reader on a write route", map[string]any{"type": "REQUEST", "methodArn": stage + "POST/jobs/42/run", "resource": "/jobs/{id}/run", "path": "/jobs/42/run",
			"httpMethod": "POST", "headers": map[string]string{"Authorization": "Bearer " + alice}, "multiValueHeaders": map[string][]string{"Authorization": {"Bearer " + alice}},
			"requestContext": map[string]any{"requestId": "apigw-r1", "resourcePath": "/jobs/{id}/run", "httpMethod": "POST", "apiId": "a1b2c3", "stage": "prod"}},
			[]statement{{[]string{invoke}, "Allow", []string{stage + "GET/jobs", stage + "GET/jobs/*"}},
				{[]string{invoke}, "Deny", []string{stage + "POST/jobs/*/run", stage + "DELETE/jobs/*", stage + "POST/jobs/42/run"}}},
			aliceOID, audit.Event{Route: "POST /jobs/{id}/run", Action: "invoke", Resource: "function:jobs-run",
				Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"}},
		{"TOKEN, operator: every route, so the whole stage", map[string]any{"type": "TOKEN", "authorizationToken": "Bearer " + erin, "methodArn": stage + "DELETE/jobs/42/logs"},
			[]statement{{[]string{invoke}, "Allow", []string{stage + "*"}}},
			erinOID, audit.Event{Route: "DELETE /jobs/{rest...}", Action: "invoke", Resource: "function:jobs-admin",
				Decision: audit.DecisionAllow, Policies: []string{"admins-operate/operator"}, Role: "operator", Target: target, Status: 200}},
		{"TOKEN, no role: every route denied", map[string]any{"type": "TOKEN", "authorizationToken": "Bearer " + dave, "methodArn": stage + "GET/jobs"},
			[]statement{{[]string{invoke}, "Deny", []string{stage + "GET/jobs", stage + "GET/jobs/*", stage + "POST/jobs/*/run", stage + "DELETE/jobs/*"}}},
			daveOID, audit.Event{Route: "GET /jobs", Action: "invoke", Resource: "function:jobs-read",
				Decision: audit.DecisionDeny, Status: 403, ErrorClass: "access_denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, reqID := lc.invoke(t, "authorizer", tc.event)
			var got policyAnswer
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatalf("%s: %v", payload, err)
			}
			if got.PolicyDocument.Version != "2012-10-17" {
				t.Errorf("Version %q", got.PolicyDocument.Version)
			}
			if fmt.Sprint(got.PolicyDocument.Statement) != fmt.Sprint(tc.want) {
				t.Errorf("Statement\n got %v\nwant %v", got.PolicyDocument.Statement, tc.want)
			}
			if !strings.HasPrefix(got.PrincipalID, audit.PseudonymPrefix) || got.Context["principal"] != got.PrincipalID {
				t.Errorf("principalId %q context %v", got.PrincipalID, got.Context)
			}
			for k, v := range got.Context {
				if _, ok := v.(string); !ok {
					t.Errorf("context %s = %#v: API Gateway takes strings here", k, v)
				}
			}
			wantCtx := map[string]any{"tenant": tenantID, "kind": "user", "requestId": reqID}
			if tc.wantEvent.Role != "" {
				wantCtx["role"] = tc.wantEvent.Role
			}
			for k, v := range wantCtx {
				if got.Context[k] != v {
					t.Errorf("context[%s] = %v, want %v", k, got.Context[k], v)
				}
			}
			if _, ok := got.Context["role"]; ok && tc.wantEvent.Role == "" {
				t.Errorf("context names role %v for a denied route", got.Context["role"])
			}
			if tc.name == "TOKEN, operator: every route, so the whole stage" && got.Context["roles"] != "Functions.Admin" {
				t.Errorf("context roles %v", got.Context["roles"])
			}
			want := contosoUser(t, authorizerKey, tc.user, tc.wantEvent)
			want.RequestID = reqID
			ev := lc.auditEvent(t, reqID)
			if diff := testkit.DiffEvent(want, ev); diff != "" {
				t.Errorf("audit event (-want +got):\n%s", diff)
			}
			if ev.Principal != got.PrincipalID {
				t.Errorf("audit principal %q, principalId %q: want the same pseudonym", ev.Principal, got.PrincipalID)
			}
		})
	}

	t.Run("TOKEN, bad token: the error Unauthorized", func(t *testing.T) {
		b, _ := json.Marshal(map[string]any{"type": "TOKEN", "authorizationToken": "Bearer " + alice + "x", "methodArn": stage + "GET/jobs"})
		out, err := lc.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String("authorizer"), Payload: b})
		if err != nil {
			t.Fatal(err)
		}
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		json.Unmarshal(out.Payload, &fe)
		if aws.ToString(out.FunctionError) == "" || fe.ErrorMessage != "Unauthorized" {
			t.Errorf("FunctionError %q payload %s; want errorMessage Unauthorized", aws.ToString(out.FunctionError), out.Payload)
		}
	})

	for _, tc := range []struct {
		name, token, routeKey, method, path string
		want                                bool
		wantRole                            string
	}{
		{"alice reads", alice, "GET /jobs/{id}", "GET", "/jobs/7", true, "reader"},
		{"alice runs", alice, "POST /jobs/{id}/run", "POST", "/jobs/7/run", false, ""},
		{"erin runs", erin, "POST /jobs/{id}/run", "POST", "/jobs/7/run", true, "operator"},
		{"bad token", alice[:len(alice)-3] + "abc", "GET /jobs", "GET", "/jobs", false, ""},
	} {
		t.Run("HTTP API simple response, "+tc.name, func(t *testing.T) {
			payload, _ := lc.invoke(t, "authorizer", map[string]any{
				"version": "2.0", "type": "REQUEST", "routeArn": "arn:aws:execute-api:us-east-1:" + account + ":a1b2c3/$default/" + tc.method + tc.path,
				"identitySource": []string{"Bearer " + tc.token}, "routeKey": tc.routeKey, "rawPath": tc.path,
				"headers":        map[string]string{"authorization": "Bearer " + tc.token},
				"requestContext": map[string]any{"requestId": "apigw-s", "routeKey": tc.routeKey, "http": map[string]any{"method": tc.method, "path": tc.path}},
			})
			var got struct {
				IsAuthorized *bool          `json:"isAuthorized"`
				Context      map[string]any `json:"context"`
			}
			if err := json.Unmarshal(payload, &got); err != nil || got.IsAuthorized == nil {
				t.Fatalf("answer %s: %v", payload, err)
			}
			if *got.IsAuthorized != tc.want {
				t.Errorf("isAuthorized %v, want %v", *got.IsAuthorized, tc.want)
			}
			if r, _ := got.Context["role"].(string); r != tc.wantRole {
				t.Errorf("context %v, want role %q", got.Context, tc.wantRole)
			}
		})
	}
}
