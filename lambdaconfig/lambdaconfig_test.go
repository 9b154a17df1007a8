package lambdaconfig_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/lambdaauth"
	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

// fileFor is a function's configuration file on issuer iss, with its key
// file beside it; extra is appended (more sections).
func fileFor(t *testing.T, iss, extra string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pseudonym.key"), []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	yaml := `
authn:
  issuers:
    - name: idp
      type: oidc
      issuer: ` + iss + `
      audiences: [api://fn]
      claims: {tenant: tid}
authz:
  roles:
    - {name: reader, aws_role: "arn:aws:iam::123456789012:role/reader", actions: [invoke, read], functions: [fn, jobs], routes: [status]}
    - {name: writer, aws_role: "arn:aws:iam::123456789012:role/writer", actions: [invoke, write], functions: ["*"], routes: ["*"]}
  rules:
    - {id: readers, effect: allow, roles: [reader], groups: [{id: 0b1c2d3e-0000-4000-8000-000000000001}]}
creds:
  mode: assume_role
  sts: {endpoint: "https://sts.eu-west-1.amazonaws.com", region: eu-west-1}
  roles:
    - {role: writer, mode: web_identity}
audit:
  sink: jsonl
  key_file: pseudonym.key
  claims: [azpacr]
  replica: fn-a
` + extra
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var staticAWS = &aws.Config{Region: "eu-west-1"}

func TestLoad(t *testing.T) {
	path := fileFor(t, "https://idp.example", `
gateway:
  routes:
    - {id: jobs, method: GET, path: "/jobs/{id}", function: "arn:aws:lambda:eu-west-1:123456789012:function:jobs:live"}
    - {id: status, method: GET, path: /status, upstream: {url: "https://status.example"}}
    - {id: upload, method: PUT, path: "/files/{rest...}", upstream: {url: "https://files.example"}, role: writer}
`)
	cfg, err := lambdaconfig.Load(context.Background(), path, lambdaconfig.Options{AWS: staticAWS})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.AuthN.Issuers) != 1 || cfg.AuthN.Issuers[0].Issuer != "https://idp.example" || cfg.AuthN.Issuers[0].Claims.Tenant != "tid" || cfg.AuthN.MaxTokenBytes != config.DefaultMaxTokenBytes {
		t.Errorf("AuthN = %+v", cfg.AuthN)
	}
	if len(cfg.AuthZ.Roles) != 2 || len(cfg.AuthZ.Rules) != 1 {
		t.Errorf("AuthZ = %+v", cfg.AuthZ)
	}
	modes := map[string]creds.Mode{}
	for _, r := range cfg.Creds.Roles {
		modes[r.Name] = r.Mode
	}
	if diff := cmp.Diff(map[string]creds.Mode{"reader": creds.ModeAssumeRole, "writer": creds.ModeWebIdentity}, modes); diff != "" || cfg.Creds.STS == nil {
		t.Errorf("creds modes (-want +got):\n%s; STS %v", diff, cfg.Creds.STS)
	}
	wantRoutes := []lambdaauth.Route{
		{Method: "GET", Path: "/jobs/{id}", Action: authz.ActionInvoke, Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "jobs"}},
		{Method: "GET", Path: "/status", Action: authz.ActionRead, Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "status"}},
		{Method: "PUT", Path: "/files/{rest...}", Action: authz.ActionWrite, Role: "writer", Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "upload"}},
	}
	if diff := cmp.Diff(wantRoutes, cfg.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if cfg.Audit.Replica != "fn-a" || cfg.Audit.Mode != audit.Sync || len(cfg.Audit.Claims) != 1 {
		t.Errorf("Audit = %+v", cfg.Audit)
	}
	key, err := cfg.Audit.PseudonymKey(context.Background())
	if err != nil || string(key) != strings.Repeat("k", 32) {
		t.Errorf("pseudonym key from key_file beside the file: %q, %v", key, err)
	}
	if cfg.AWS == nil || cfg.AWS.Region != "eu-west-1" {
		t.Errorf("AWS = %+v", cfg.AWS)
	}
}

func TestLoadRefuses(t *testing.T) {
	path := fileFor(t, "https://idp.example", "")
	data, _ := os.ReadFile(path)
	bad := strings.NewReplacer("mode: assume_role", "mode: broker", "sink: jsonl", "sink: sqlite", "  replica: fn-a\n", "  replica: fn-a\n  on_unavailable: spool\n", "  key_file: pseudonym.key\n", "").Replace(string(data))
	os.WriteFile(path, []byte(bad), 0o600)
	_, err := lambdaconfig.Load(context.Background(), path, lambdaconfig.Options{AWS: staticAWS})
	for _, want := range []string{"creds.mode: role reader is in broker mode", "audit.sink", "audit.key_file: is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v; want it to name %q", err, want)
		}
	}
	// An authorizer reads no creds: its file may keep broker mode.
	bad = strings.NewReplacer("sink: sqlite", "sink: jsonl", "  on_unavailable: spool\n", "", "  claims: [azpacr]", "  key_file: pseudonym.key\n  claims: [azpacr]").Replace(bad)
	os.WriteFile(path, []byte(bad), 0o600)
	cfg, err := lambdaconfig.Load(context.Background(), path, lambdaconfig.Options{NoCredentials: true})
	if err != nil || len(cfg.Creds.Roles) != 0 {
		t.Errorf("NoCredentials with broker mode: %+v, %v", cfg.Creds, err)
	}
	// A YAML problem names the file and line.
	os.WriteFile(path, []byte("authn:\n  issuer: []\n"), 0o600)
	if _, err := lambdaconfig.Load(context.Background(), path, lambdaconfig.Options{}); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Errorf("Load of a bad file = %v", err)
	}
}

// The development authority resolves through GATEHOUSE_DEV_IDP, the STS
// endpoint "dev" through the SDK's own AWS_ENDPOINT_URL_STS, as gatehouse
// dev sets them; the protected example's embedded file is such a file.
func TestDevAuthorityFromEnvironment(t *testing.T) {
	example, err := os.ReadFile("../examples/functions/protected/protected/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	key := lambdaauth.SecretBytes([]byte(strings.Repeat("d", 32)))
	t.Setenv("GATEHOUSE_DEV_IDP", "")
	t.Setenv("AWS_ENDPOINT_URL_STS", "")
	_, err = lambdaconfig.Parse(context.Background(), "gatehouse.yaml", example, lambdaconfig.Options{PseudonymKey: key, AWS: staticAWS})
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_DEV_IDP") {
		t.Fatalf("authority dev outside gatehouse dev: %v", err)
	}
	t.Setenv("GATEHOUSE_DEV_IDP", "https://127.0.0.1:9443/")
	if _, err = lambdaconfig.Parse(context.Background(), "gatehouse.yaml", example, lambdaconfig.Options{PseudonymKey: key, AWS: staticAWS}); err == nil || !strings.Contains(err.Error(), "AWS_ENDPOINT_URL_STS") {
		t.Fatalf("sts endpoint dev without AWS_ENDPOINT_URL_STS: %v", err)
	}
	t.Setenv("AWS_ENDPOINT_URL_STS", "https://127.0.0.1:9444")
	cfg, err := lambdaconfig.Parse(context.Background(), "gatehouse.yaml", example, lambdaconfig.Options{PseudonymKey: key, AWS: staticAWS})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AuthN.Issuers[0].Issuer; got != "https://127.0.0.1:9443/2e3fd419-1fb6-41f4-a9a1-60531a867149/v2.0" {
		t.Errorf("dev issuer %q", got)
	}
	if len(cfg.Creds.Roles) != 1 || cfg.Creds.Roles[0].Mode != creds.ModeWebIdentity {
		t.Errorf("creds roles %+v", cfg.Creds.Roles)
	}
}

// A Config from a file runs against a real issuer: Guard built, requests
// decided, their events in the trail.
func TestLoadedConfigRuns(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "fn") // as Lambda sets it: the target of the events
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	path := fileFor(t, iss.URL(), "")
	cfg, err := lambdaconfig.Load(context.Background(), path, lambdaconfig.Options{AWS: staticAWS})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var trail bytes.Buffer
	cfg.AuthN.HTTPClient = iss.Client()
	cfg.Audit.Sink = jsonl.New(&trail)
	cfg.Resource = authz.Resource{Kind: authz.ResourceFunction, Name: "fn"}
	cfg.Now = func() time.Time { return now }
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := lambdaauth.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	called := false
	h := g.WrapHTTPAPI(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		called = true
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	})
	resp, err := h(context.Background(), events.APIGatewayV2HTTPRequest{})
	if err != nil || resp.StatusCode != 401 || called {
		t.Fatalf("without a token: %+v, %v (handler called: %v)", resp, err, called)
	}
	// A reader of the file's rule, as the file's issuer names the tenant.
	tok := iss.Sign(map[string]any{"iss": iss.URL(), "aud": "api://fn", "sub": "user-1", "tid": "tenant-1", "azp": "client-1", "azpacr": "0",
		"groups": []any{"0b1c2d3e-0000-4000-8000-000000000001"}, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	ev := events.APIGatewayV2HTTPRequest{Headers: map[string]string{"authorization": "Bearer " + tok}}
	ev.RequestContext.RequestID = "api-1"
	if resp, err := h(context.Background(), ev); err != nil || resp.StatusCode != 200 || !called {
		t.Fatalf("a reader: %+v, %v (handler called: %v)", resp, err, called)
	}

	f, err := jsonl.Load(bytes.NewReader(trail.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Query(context.Background(), audit.Filter{})
	if err != nil || len(got) != 2 {
		t.Fatalf("trail: %d events, %v\n%s", len(got), err, trail.String())
	}
	pseudo, err := audit.NewPseudonymizer([]byte(strings.Repeat("k", 32))) // the key file beside the file
	if err != nil {
		t.Fatal(err)
	}
	// The replica is the file's; the time is the Config's clock.
	want := []audit.Event{
		{Time: now, Replica: "fn-a", Action: "invoke", Resource: "function:fn",
			Decision: audit.DecisionError, Status: 401, Check: "request", ErrorClass: "invalid_request"},
		{Time: now, RequestID: "api-1", Replica: "fn-a", Tenant: "tenant-1", Principal: pseudo.Principal("tenant-1", "user-1"), PseudonymKey: pseudo.KeyID(), PrincipalKind: "user", App: "client-1",
			Agents: []audit.Agent{{App: "client-1", Via: "client", Subject: "client-1"}}, Action: "invoke", Resource: "function:fn",
			Decision: audit.DecisionAllow, Policies: []string{"readers/reader"}, Role: "reader", Target: "fn", TargetRequestID: "api-1", Status: 200,
			Claims: map[string]string{"azpacr": "0"}},
	}
	for i := range want {
		if diff := testkit.DiffEvent(want[i], got[i], "Time", "Replica"); diff != "" {
			t.Errorf("audit event %d (-want +got):\n%s", i, diff)
		}
	}
}

// The deployment examples' configuration files load as documented.
func TestDeploymentExamplesLoad(t *testing.T) {
	fn, err := lambdaconfig.Load(context.Background(), "../examples/aws/function.gatehouse.yaml", lambdaconfig.Options{AWS: staticAWS})
	if err != nil {
		t.Fatalf("function configuration: %v", err)
	}
	if len(fn.Creds.Roles) != 2 || fn.Creds.Roles[0].Mode != creds.ModeAssumeRole || fn.AuthN.Issuers[0].Issuer != "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0" {
		t.Errorf("function configuration: %+v %+v", fn.Creds.Roles, fn.AuthN.Issuers)
	}
	az, err := lambdaconfig.Load(context.Background(), "../examples/aws/authorizer.gatehouse.yaml", lambdaconfig.Options{NoCredentials: true})
	if err != nil {
		t.Fatalf("authorizer configuration: %v", err)
	}
	if len(az.Routes) != 2 || az.Routes[1].Action != authz.ActionWrite {
		t.Errorf("authorizer routes %+v", az.Routes)
	}
}
