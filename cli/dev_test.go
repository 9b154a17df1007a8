package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/config"
)

func TestExamplePath(t *testing.T) {
	tests := []struct{ name, pattern, want string }{
		{"no wildcard", "/whoami", "/whoami"},
		{"root", "/", "/"},
		{"rest wildcard", "/api/{rest...}", "/api/hello"},
		{"several wildcards", "/users/{id}/posts/{post}", "/users/hello/posts/hello"},
		{"braces inside a segment stay", "/a-{x}", "/a-{x}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := examplePath(tt.pattern); got != tt.want {
				t.Errorf("examplePath(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

// TestDevOptionsOverride: each listen flag sets its field, and only that
// one; no flag changes nothing.
func TestDevOptionsOverride(t *testing.T) {
	tests := []struct {
		name string
		o    devOptions
		want func(f *config.File)
	}{
		{"no flags", devOptions{}, func(*config.File) {}},
		{"--idp-listen", devOptions{idpListen: "127.0.0.1:0"}, func(f *config.File) { f.Dev.IDP.Listen = "127.0.0.1:0" }},
		{"--sts-listen", devOptions{stsListen: "127.0.0.1:1"}, func(f *config.File) { f.Dev.STS.Listen = "127.0.0.1:1" }},
		{"--gateway-listen", devOptions{gatewayListen: "127.0.0.1:2"}, func(f *config.File) { f.Dev.Gateway = "127.0.0.1:2" }},
		{"--lambda-listen", devOptions{lambdaListen: "127.0.0.1:3"}, func(f *config.File) { f.Dev.Lambda.Listen = "127.0.0.1:3" }},
		{"--upstream-listen", devOptions{upListen: "127.0.0.1:4"}, func(f *config.File) { f.Dev.Upstream = "127.0.0.1:4" }},
		{"--admin-listen", devOptions{adminListen: "off"}, func(f *config.File) { f.Gateway.AdminListen = "off" }},
		{"other options are not listen addresses", devOptions{configPath: "x.yaml", stateDir: "/s", readyFile: "r", printConfig: true}, func(*config.File) {}},
		{"all at once", devOptions{idpListen: "127.0.0.1:0", stsListen: "127.0.0.1:0", gatewayListen: "127.0.0.1:0", lambdaListen: "127.0.0.1:0", upListen: "127.0.0.1:0", adminListen: "127.0.0.1:0"},
			func(f *config.File) {
				f.Dev.IDP.Listen, f.Dev.STS.Listen, f.Dev.Gateway = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
				f.Dev.Lambda.Listen, f.Dev.Upstream, f.Gateway.AdminListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, want := config.Default(), config.Default()
			tt.o.override(got)
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("override (-want +got):\n%s", diff)
			}
		})
	}
}

// bannerEndpoints is what a dev loop on the default addresses writes.
func bannerEndpoints() endpoints {
	return endpoints{
		Issuer: devIDPIssuer, IDP: devIDPBaseURL, Tenant: devTenantID, CAFile: "/state/ca.pem",
		Gateway: "https://127.0.0.1:9480", GatehouseIssuer: "https://127.0.0.1:9480", STS: "https://127.0.0.1:9444",
		Lambda: "https://127.0.0.1:9445", Upstream: "http://127.0.0.1:9446", Admin: "http://127.0.0.1:9447",
		KeyVault: "https://127.0.0.1:9448",
	}
}

// TestPrintBanner: the banner lists what runs and how to try it.
func TestPrintBanner(t *testing.T) {
	banner := func(f *config.File, ep endpoints, self string) string {
		var b bytes.Buffer
		printBanner(&b, f, ep, "/state", self)
		return b.String()
	}
	noAdmin := bannerEndpoints()
	noAdmin.Admin = ""
	noCA := bannerEndpoints()
	noCA.CAFile = ""
	noRoutes := config.Default()
	noRoutes.Gateway.Routes = nil
	allURLs := config.Default()
	for i := range allURLs.Dev.Lambda.Functions {
		allURLs.Dev.Lambda.Functions[i].URL = true
	}

	tests := []struct {
		name     string
		f        *config.File
		ep       endpoints
		self     string
		want     []string // lines, or parts of lines, that must be there
		wantNone []string // text that must not
	}{
		{name: "every service", f: config.Default(), ep: bannerEndpoints(), self: "gatehouse",
			want: []string{
				"gatehouse dev is running\n",
				"  issuer      " + devIDPIssuer + "\n",
				"  discovery   " + devIDPIssuer + "/.well-known/openid-configuration\n",
				"  tenant      " + devTenantID + "\n",
				"  gateway     https://127.0.0.1:9480 (also gatehouse's issuer for AWS)\n",
				"  sts         https://127.0.0.1:9444 (also Secrets Manager and KMS)\n",
				"  key vault   https://127.0.0.1:9448 (Azure Key Vault: secrets and keys)\n",
				"  lambda      https://127.0.0.1:9445\n",
				"  protected   https://127.0.0.1:9445/lambda-url/protected/ (function URL)\n",
				"  upstream    http://127.0.0.1:9446 (an HTTP service behind the gateway)\n",
				"  metrics     http://127.0.0.1:9447/metrics (admin listener: also /healthz, /readyz)\n",
				"  local CA    /state/ca.pem\n",
				"  state       /state\n",
				"  alice@contoso.example  2d4acc68-9d83-4609-a6f0-96e989303d16  engineering,admins\n",
				"  dave@contoso.example   4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07  support\n",
				"  gatehouse-api  68e96204-b89d-4992-9e0e-90cc31a67403  api\n",
				"  gatehouse-cli  992ebcd3-3449-4a98-88ed-901221c068d6  public client\n",
				"  report-agent   8f5c3767-7276-4be0-b5db-808ab516452c  confidential client\n",
				"Try (tokens last 1h):\n",
				"  curl --cacert /state/ca.pem -H \"Authorization: Bearer $(gatehouse token --state-dir /state --user alice)\" https://127.0.0.1:9480/whoami\n",
				"  gatehouse token --state-dir /state --user alice | gatehouse verify --state-dir /state -\n",
				"  gatehouse token --state-dir /state --client report-agent | gatehouse verify --state-dir /state -\n",
				"  curl --cacert /state/ca.pem " + devIDPIssuer + "/.well-known/openid-configuration\n",
			},
			// Function URL lines only for functions with url: true.
			wantNone: []string{"  whoami ", "  echo "}},
		{name: "no admin listener", f: config.Default(), ep: noAdmin, want: []string{"  upstream "}, wantNone: []string{"metrics", "admin listener"}},
		{name: "every function with a URL", f: allURLs, ep: bannerEndpoints(), want: []string{
			"  whoami      https://127.0.0.1:9445/lambda-url/whoami/ (function URL)\n",
			"  echo        https://127.0.0.1:9445/lambda-url/echo/ (function URL)\n",
			"  protected   https://127.0.0.1:9445/lambda-url/protected/ (function URL)\n",
		}},
		{name: "no token in the banner, a command that gets one", f: config.Default(), ep: bannerEndpoints(), self: "/opt/bin/gatehouse",
			want:     []string{"$(/opt/bin/gatehouse token --state-dir /state --user alice)"},
			wantNone: []string{"eyJ", "Bearer '"}},
		{name: "no local CA", f: config.Default(), ep: noCA, self: "gatehouse",
			want:     []string{"  gatehouse token --state-dir /state --user alice | gatehouse verify --state-dir /state -\n"},
			wantNone: []string{"local CA", "curl"}},
		{name: "no routes", f: noRoutes, ep: bannerEndpoints(), self: "gatehouse",
			want:     []string{"  gatehouse token --state-dir /state --user alice | gatehouse verify --state-dir /state -\n", "  curl --cacert /state/ca.pem " + devIDPIssuer},
			wantNone: []string{"/whoami"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := banner(tt.f, tt.ep, tt.self)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("banner lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("banner has %q:\n%s", w, got)
				}
			}
		})
	}
}
