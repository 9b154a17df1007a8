package cli

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	devsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
)

const (
	devTenantID   = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	devIssuerURL  = "https://127.0.0.1:9480" // gatehouse's issuer: the dev gateway
	devIDPBaseURL = "https://127.0.0.1:9443"
	devIDPIssuer  = devIDPBaseURL + "/" + devTenantID + "/v2.0"
	devAPIClient  = "68e96204-b89d-4992-9e0e-90cc31a67403"
	readerARN     = "arn:aws:iam::000000000000:role/gatehouse-reader"
	jobsARN       = "arn:aws:iam::000000000000:role/gatehouse-jobs"
)

// newDevIDP is the development IdP of f, not listening: devSTSConfig only
// asks it for issuer URLs.
func newDevIDP(t *testing.T, f *config.File) *idp.Server {
	t.Helper()
	srv, err := idp.New(idpConfig(f.Dev.IDP, devIDPBaseURL, filepath.Join(t.TempDir(), "idp"), slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// stsRoles maps role names to their roles, for lookups by name.
func stsRoles(cfg devsts.Config) map[string]devsts.Role {
	out := map[string]devsts.Role{}
	for _, r := range cfg.Roles {
		out[r.Name] = r
	}
	return out
}

// TestDevSTSConfigDerived: from the embedded configuration, the local STS
// trusts gatehouse's issuer (for sts.amazonaws.com) and the dev IdP (for
// the dev issuers' audiences), holds one role per IAM role of authz.roles
// and per function execution role, each reaching what its logical roles
// reach, plus the role dev.sts.roles adds; and it accepts the result.
func TestDevSTSConfigDerived(t *testing.T) {
	f := config.Default()
	cfg, notes, err := devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devSTSConfig = %v", err)
	}
	if len(notes) > 0 {
		t.Errorf("notes = %q, want none", notes)
	}
	wantProviders := []devsts.Provider{
		{URL: devIssuerURL, ClientIDs: []string{creds.Audience}},
		{URL: devIDPIssuer, ClientIDs: []string{devAPIClient, "api://gatehouse-api"}},
	}
	if diff := cmp.Diff(wantProviders, cfg.Providers); diff != "" {
		t.Errorf("Providers (-want +got):\n%s", diff)
	}
	if cfg.AccountID != "000000000000" {
		t.Errorf("AccountID = %q, want the roles' account 000000000000", cfg.AccountID)
	}

	roles := stsRoles(cfg)
	var names []string
	for _, r := range cfg.Roles {
		names = append(names, r.Name)
	}
	wantNames := []string{"gatehouse-reader", "gatehouse-jobs", "gatehouse-operator", "gatehouse-fn-whoami", "gatehouse-fn-protected", "gatehouse-protected-reader"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("role names (-want +got):\n%s", diff)
	}
	wantInvoke := map[string][]string{
		"gatehouse-reader":   {"whoami", "echo", "hello", "reports-*"},
		"gatehouse-jobs":     {"jobs-*"},
		"gatehouse-operator": {"*"},
	}
	for name, want := range wantInvoke {
		if got := roles[name].Invoke; !slices.Equal(got, want) {
			t.Errorf("role %s: Invoke = %q, want %q", name, got, want)
		}
	}
	// Broker mode: every derived role trusts gatehouse's issuer.
	for _, name := range wantNames[:5] {
		if trust := string(roles[name].TrustPolicy); !strings.Contains(trust, "oidc-provider/127.0.0.1:9480") {
			t.Errorf("role %s trusts %s, want gatehouse's issuer", name, trust)
		}
	}
	// The role dev.sts.roles adds has its own trust policy, with the IdP's
	// provider name in place of ${idp_issuer}.
	trust := string(roles["gatehouse-protected-reader"].TrustPolicy)
	if !strings.Contains(trust, `oidc-provider/127.0.0.1:9443/`+devTenantID+`/v2.0"`) || strings.Contains(trust, "${") {
		t.Errorf("gatehouse-protected-reader trusts %s, want the dev IdP's provider with the variables expanded", trust)
	}
	if _, err := devsts.New(cfg); err != nil {
		t.Errorf("the local STS refuses the derived configuration: %v", err)
	}
}

// TestDevSTSConfigOverride: dev.sts.roles replaces the derived trust
// policy and invoke list of the role it names, and keeps what it leaves
// empty.
func TestDevSTSConfigOverride(t *testing.T) {
	const trust = `{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/${gatehouse_issuer}"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"${gatehouse_issuer}:aud": "sts.amazonaws.com", "${gatehouse_issuer}:sub": "pinned"}}}]}`
	f := config.Default()
	f.Dev.STS.Roles = append(f.Dev.STS.Roles,
		config.DevSTSRole{ARN: readerARN, TrustPolicy: trust, Invoke: []string{"hello"}},
		config.DevSTSRole{ARN: jobsARN, Invoke: []string{"jobs-nightly"}},
	)
	cfg, _, err := devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devSTSConfig = %v", err)
	}
	roles := stsRoles(cfg)
	want := strings.ReplaceAll(trust, "${gatehouse_issuer}", "127.0.0.1:9480")
	if got := string(roles["gatehouse-reader"].TrustPolicy); got != want {
		t.Errorf("reader trust policy = %s\nwant the override, expanded: %s", got, want)
	}
	if got := roles["gatehouse-reader"].Invoke; !slices.Equal(got, []string{"hello"}) {
		t.Errorf("reader Invoke = %q, want the override [hello]", got)
	}
	if got := roles["gatehouse-jobs"].Invoke; !slices.Equal(got, []string{"jobs-nightly"}) {
		t.Errorf("jobs Invoke = %q, want the override [jobs-nightly]", got)
	}
	if got := string(roles["gatehouse-jobs"].TrustPolicy); !strings.Contains(got, "oidc-provider/127.0.0.1:9480") {
		t.Errorf("jobs trust policy = %s, want the derived one (the override names none)", got)
	}
	if _, err := devsts.New(cfg); err != nil {
		t.Errorf("the local STS refuses the overridden configuration: %v", err)
	}
}

// TestDevSTSConfigAssumeRole: a role in assume_role mode needs gatehouse's
// own AWS identity, which the local loop has not: it is left out with a
// note saying how to give it a trust policy.
func TestDevSTSConfigAssumeRole(t *testing.T) {
	f := config.Default()
	f.Creds.Roles = append(f.Creds.Roles, config.CredsRole{Role: "jobs", Mode: config.ModeAssumeRole})
	cfg, notes, err := devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devSTSConfig = %v", err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "role jobs uses assume_role") || !strings.Contains(notes[0], "dev.sts.roles") {
		t.Errorf("notes = %q, want one about jobs and dev.sts.roles", notes)
	}
	if _, ok := stsRoles(cfg)["gatehouse-jobs"]; ok {
		t.Error("the assume_role role is in the local STS without a trust policy")
	}

	// With a trust policy in dev.sts.roles, it is there.
	f.Dev.STS.Roles = append(f.Dev.STS.Roles, config.DevSTSRole{ARN: jobsARN, TrustPolicy: f.Dev.STS.Roles[0].TrustPolicy})
	cfg, _, err = devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devSTSConfig = %v", err)
	}
	if r, ok := stsRoles(cfg)["gatehouse-jobs"]; !ok || !slices.Equal(r.Invoke, []string{"jobs-*"}) {
		t.Errorf("gatehouse-jobs = %+v, %v; want it with its derived invoke list", r, ok)
	}
}

// TestDevSTSConfigOneAccount: the local STS holds one account, so roles in
// two are refused.
func TestDevSTSConfigOneAccount(t *testing.T) {
	f := config.Default()
	f.AuthZ.Roles[1].AWSRole = "arn:aws:iam::111122223333:role/gatehouse-jobs"
	_, _, err := devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "the local STS holds one account") {
		t.Errorf("devSTSConfig = %v, want roles in two accounts refused", err)
	}
}

// TestDevSTSConfigNoDevAudience: without an issuer on the dev IdP, only
// gatehouse's issuer is trusted.
func TestDevSTSConfigNoDevAudience(t *testing.T) {
	f := config.Default()
	f.AuthN.Issuers[0].Entra.Authority = config.AuthorityMicrosoft
	cfg, _, err := devSTSConfig(f, devIssuerURL, newDevIDP(t, f), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("devSTSConfig = %v", err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].URL != devIssuerURL {
		t.Errorf("Providers = %+v, want gatehouse's issuer only", cfg.Providers)
	}
}

func TestInvokeOf(t *testing.T) {
	f := config.Default()
	// A second logical role on the reader's IAM role: its functions join,
	// each once.
	f.AuthZ.Roles = append(f.AuthZ.Roles, config.Role{Name: "auditor", AWSRole: readerARN, Functions: []string{"hello", "audit-*"}})
	tests := []struct {
		name, arn string
		want      []string
	}{
		{"one logical role", jobsARN, []string{"jobs-*"}},
		{"several logical roles share an IAM role", readerARN, []string{"whoami", "echo", "hello", "reports-*", "audit-*"}},
		{"an IAM role no logical role uses", "arn:aws:iam::000000000000:role/gatehouse-fn-whoami", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := invokeOf(f, tt.arn); !slices.Equal(got, tt.want) {
				t.Errorf("invokeOf(%s) = %q, want %q", tt.arn, got, tt.want)
			}
		})
	}
}

func TestDevAudiences(t *testing.T) {
	devIssuer := func(name string, audiences ...string) config.Issuer {
		return config.Issuer{Name: name, Type: "entra", Entra: &config.Entra{Authority: config.AuthorityDev}, Audiences: audiences}
	}
	tests := []struct {
		name    string
		issuers []config.Issuer
		want    []string
	}{
		{"embedded configuration", config.Default().AuthN.Issuers, []string{devAPIClient, "api://gatehouse-api"}},
		{"several dev issuers, each audience once", []config.Issuer{devIssuer("a", "x", "y"), devIssuer("b", "y", "z")}, []string{"x", "y", "z"}},
		{"other issuers left out", []config.Issuer{
			{Name: "corp", Type: "oidc", Issuer: "https://idp.example", Audiences: []string{"api://corp"}},
			{Name: "entra", Type: "entra", Entra: &config.Entra{Authority: config.AuthorityMicrosoft}, Audiences: []string{"api://entra"}},
			devIssuer("dev", "api://dev"),
		}, []string{"api://dev"}},
		{"no dev issuer", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := config.Default()
			f.AuthN.Issuers = tt.issuers
			if got := devAudiences(f); !slices.Equal(got, tt.want) {
				t.Errorf("devAudiences = %q, want %q", got, tt.want)
			}
		})
	}
}
