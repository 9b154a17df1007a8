package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestValidateRules breaks one rule of the development configuration per
// case, in Go rather than YAML, and checks that Validate names the field.
func TestValidateRules(t *testing.T) {
	tenant := func(f *File) *Tenant { return &f.Dev.IDP.Tenants[0] }
	app := func(f *File, name string) *App {
		for i := range tenant(f).Apps {
			if tenant(f).Apps[i].Name == name {
				return &tenant(f).Apps[i]
			}
		}
		panic("no app " + name)
	}
	user := func(f *File, i int) *User { return &tenant(f).Users[i] }
	const (
		api   = "dev.idp.tenants[0].apps[0]"
		cli   = "dev.idp.tenants[0].apps[1]"
		agent = "dev.idp.tenants[0].apps[2]"
		alice = "dev.idp.tenants[0].users[0]"
	)
	for _, tt := range []struct {
		name    string
		mutate  func(f *File)
		field   string
		message string
	}{
		{"route has a function or an upstream", func(f *File) { f.Gateway.Routes[0].Function = "" },
			"gateway.routes[0].function", "a route needs a function or an upstream"},
		{"route has not both", func(f *File) { f.Gateway.Routes[2].Function = "whoami" },
			"gateway.routes[2].upstream", "a route has a function or an upstream, not both"},
		{"upstream url is http(s)", func(f *File) { f.Gateway.Routes[2].Upstream.URL = "ftp://files.example" },
			"gateway.routes[2].upstream.url", `"ftp://files.example": want an http or https URL`},
		{"upstream url without credentials", func(f *File) { f.Gateway.Routes[2].Upstream.URL = "https://user:pw@svc.example" },
			"gateway.routes[2].upstream.url", `"https://user:pw@svc.example": no user info, query or fragment`},
		{"route host", func(f *File) { f.Gateway.Routes[0].Host = "API.example:443" },
			"gateway.routes[0].host", `"API.example:443": want a lower-case DNS name without port`},
		{"route issuers exist", func(f *File) { f.Gateway.Routes[0].Issuers = []string{"partner"} },
			"gateway.routes[0].issuers[0]", "\"partner\" is not an issuer of authn.issuers"},
		{"route audiences belong to its issuers", func(f *File) { f.Gateway.Routes[0].Audiences = []string{"api://other"} },
			"gateway.routes[0].audiences[0]", `"api://other" is not an audience of the route's issuers`},
		{"a route some role reaches", func(f *File) { f.Gateway.Routes[0].Function, f.Gateway.Routes[0].Role = "payroll", "reader" },
			"gateway.routes[0]", "no role of authz.roles reaches this route (functions: [payroll])"},
		{"an upstream route some role reaches", func(f *File) { f.Gateway.Routes[2].ID, f.Gateway.Routes[2].Role = "billing", "reader" },
			"gateway.routes[2]", "no role of authz.roles reaches this route (routes: [billing])"},
		{"the route's role reaches it", func(f *File) { f.Gateway.Routes[0].Role = "jobs" },
			"gateway.routes[0]", "no role of authz.roles reaches this route"},
		{"tenant id is a GUID", func(f *File) { tenant(f).ID = "contoso" },
			"dev.idp.tenants[0].id", "must be a lower-case GUID"},
		{"tenant ids unique", func(f *File) { f.Dev.IDP.Tenants = append(f.Dev.IDP.Tenants, Tenant{ID: tenant(f).ID}) },
			"dev.idp.tenants[1].id", "tenant id \"2e3fd419-1fb6-41f4-a9a1-60531a867149\" is already used by dev.idp.tenants[0].id"},
		{"domain shape", func(f *File) { tenant(f).Domain = "Contoso Example" },
			"dev.idp.tenants[0].domain", "must be a lower-case DNS name"},
		{"group id is a GUID", func(f *File) { tenant(f).Groups[0].ID = "15dd7745" },
			"dev.idp.tenants[0].groups[0].id", "must be a lower-case GUID"},
		{"group names unique", func(f *File) { tenant(f).Groups[1].Name = "engineering" },
			"dev.idp.tenants[0].groups[1].name", `group name "engineering" is already used by dev.idp.tenants[0].groups[0].name`},
		{"object ids unique across kinds", func(f *File) { user(f, 0).ID = tenant(f).Groups[0].ID },
			alice + ".id", "object id \"15dd7745-cbbe-45b1-9b2a-ee1ef7644785\" is already used by dev.idp.tenants[0].groups[0].id"},
		{"user id required", func(f *File) { user(f, 0).ID = "" },
			alice + ".id", "is required"},
		{"upn has @", func(f *File) { user(f, 0).UPN = "alice" },
			alice + ".upn", "must be a name@domain"},
		{"upn unique", func(f *File) { user(f, 1).UPN = "Alice@contoso.example" },
			"dev.idp.tenants[0].users[1].upn", "upn \"alice@contoso.example\" is already used"},
		{"password required", func(f *File) { user(f, 0).Password = "" },
			alice + ".password", "is required"},
		{"user group defined", func(f *File) { user(f, 0).Groups[1] = "admin" },
			alice + ".groups[1]", `no group named "admin"`},
		{"user group by id", func(f *File) { user(f, 0).Groups[1] = "cd9781f8-c477-4323-87ce-ed0dfe9ce310" },
			"", ""},
		{"user app role of a defined app", func(f *File) { user(f, 0).AppRoles = map[string][]string{"api": {"x"}} },
			alice + ".app_roles.api", `no app named "api"`},
		{"user app role by client id", func(f *File) {
			user(f, 0).AppRoles = map[string][]string{"68e96204-b89d-4992-9e0e-90cc31a67403": {"Functions.Admin"}}
		}, "", ""},
		{"user app role defined by the app", func(f *File) { user(f, 0).AppRoles["gatehouse-api"] = []string{"Functions.Writer"} },
			alice + ".app_roles.gatehouse-api[0]", `app "gatehouse-api" defines no app role "Functions.Writer"`},
		{"user app role of member type User", func(f *File) { user(f, 0).AppRoles["gatehouse-api"] = []string{"Jobs.Run"} },
			alice + ".app_roles.gatehouse-api[0]", `app role "Jobs.Run" of "gatehouse-api" can be assigned to users only with member type User`},
		{"app name shape", func(f *File) { app(f, "gatehouse-cli").Name = "Gatehouse CLI" },
			cli + ".name", "must be lower-case letters"},
		{"app names unique", func(f *File) { app(f, "gatehouse-cli").Name = "gatehouse-api" },
			cli + ".name", "app name \"gatehouse-api\" is already used by " + api + ".name"},
		{"client id is a GUID", func(f *File) { app(f, "gatehouse-cli").ClientID = "gatehouse-cli" },
			cli + ".client_id", "must be a lower-case GUID"},
		{"client ids unique", func(f *File) { app(f, "gatehouse-cli").ClientID = app(f, "gatehouse-api").ClientID },
			cli + ".client_id", "client id \"68e96204-b89d-4992-9e0e-90cc31a67403\" is already used by " + api + ".client_id"},
		{"object id required", func(f *File) { app(f, "gatehouse-cli").ObjectID = "" },
			cli + ".object_id", "is required"},
		{"app id uri absolute", func(f *File) { app(f, "gatehouse-api").AppIDURI = "gatehouse-api" },
			api + ".app_id_uri", "must be an absolute URI"},
		{"access token version 1 or 2", func(f *File) { app(f, "gatehouse-api").AccessTokenVersion = 3 },
			api + ".access_token_version", "must be 1 or 2"},
		{"group overage limit positive", func(f *File) { app(f, "gatehouse-api").GroupOverageLimit = -1 },
			api + ".group_overage_limit", "must be a positive number"},
		{"redirect uri absolute", func(f *File) { app(f, "gatehouse-cli").RedirectURIs = []string{"/callback"} },
			cli + ".redirect_uris[0]", "must be an absolute http or https URL"},
		{"redirect uri http only on loopback", func(f *File) { app(f, "gatehouse-cli").RedirectURIs = []string{"http://example.com/cb"} },
			cli + ".redirect_uris[0]", "http is allowed only for localhost and loopback addresses"},
		{"redirect uri http on 127.0.0.1", func(f *File) { app(f, "gatehouse-cli").RedirectURIs = []string{"http://127.0.0.1:8400/cb"} },
			"", ""},
		{"redirect uri https anywhere", func(f *File) { app(f, "gatehouse-cli").RedirectURIs = []string{"https://app.example.com/cb"} },
			"", ""},
		{"scope without spaces", func(f *File) { app(f, "gatehouse-api").Scopes[0] = "access as user" },
			api + ".scopes[0]", "must be a name without spaces"},
		{"app role member type", func(f *File) { app(f, "gatehouse-api").AppRoles[0].MemberTypes = []string{"Person"} },
			api + ".app_roles[0].member_types[0]", "must be User or Application"},
		{"app role member types required", func(f *File) { app(f, "gatehouse-api").AppRoles[0].MemberTypes = nil },
			api + ".app_roles[0].member_types", "at least one is required"},
		{"app roles unique", func(f *File) { app(f, "gatehouse-api").AppRoles[1].Value = "Functions.Reader" },
			api + ".app_roles[1].value", `"Functions.Reader" is defined twice`},
		{"permission on a defined app", func(f *File) { app(f, "report-agent").Permissions[0].Resource = "billing-api" },
			agent + ".permissions[0].resource", `no app named "billing-api"`},
		{"permission scope defined by the resource", func(f *File) { app(f, "report-agent").Permissions[0].Scopes = []string{"Functions.Delete"} },
			agent + ".permissions[0].scopes[0]", `app "gatehouse-api" defines no scope "Functions.Delete"`},
		{"permission role of member type Application", func(f *File) { app(f, "report-agent").Permissions[0].Roles = []string{"Functions.Admin"} },
			agent + ".permissions[0].roles[0]", `app role "Functions.Admin" of "gatehouse-api" can be granted to apps only with member type Application`},
		{"permission grants something", func(f *File) {
			app(f, "report-agent").Permissions[0].Scopes, app(f, "report-agent").Permissions[0].Roles = nil, nil
		},
			agent + ".permissions[0]", "grants nothing"},
		{"certificate is PEM", func(f *File) { app(f, "report-agent").Certificates = []string{"MIIB..."} },
			agent + ".certificates[0]", "must be one PEM certificate"},
		{"certificate accepted", func(f *File) { app(f, "report-agent").Certificates = []string{testCertificate(t)} },
			"", ""},
		{"one certificate per entry", func(f *File) {
			app(f, "report-agent").Certificates = []string{testCertificate(t) + testCertificate(t)}
		}, agent + ".certificates[0]", "must be one PEM certificate: text follows it"},
		{"empty secret", func(f *File) { app(f, "report-agent").Secrets = append(app(f, "report-agent").Secrets, "") },
			agent + ".secrets[1]", "empty secret"},
		{"listen is host:port", func(f *File) { f.Dev.IDP.Listen = "9443" },
			"dev.idp.listen", "must be host:port"},
		{"listen on loopback", func(f *File) { f.Dev.IDP.Listen = "[::]:9443" },
			"dev.idp.listen", `host "::" must be localhost or a loopback address`},
		{"listen on IPv6 loopback", func(f *File) { f.Dev.IDP.Listen = "[::1]:0" },
			"", ""},
		{"token lifetime bounded", func(f *File) { f.Dev.IDP.TokenLifetime = 48 * time.Hour },
			"dev.idp.token_lifetime", "must be between 5m and 24h"},
		{"authority dev needs the tenant", func(f *File) { tenant(f).ID = "00000000-0000-0000-0000-000000000001" },
			"authn.issuers[0].entra.tenant", `authority "dev" needs this tenant under dev.idp.tenants`},
		{"multi-tenant dev authority needs each tenant", func(f *File) {
			e := f.AuthN.Issuers[0].Entra
			e.Tenant, e.Tenants = TenantOrganizations, []string{tenant(f).ID, "00000000-0000-0000-0000-000000000001"}
		}, "authn.issuers[0].entra.tenants[1]", `authority "dev" needs this tenant under dev.idp.tenants`},
		{"any tenant alone", func(f *File) {
			e := f.AuthN.Issuers[0].Entra
			e.Tenant, e.Tenants = TenantCommon, []string{tenant(f).ID, "*"}
		}, "authn.issuers[0].entra.tenants[1]", `"*" allows any tenant, so it must be alone`},
		{"v1 issuer only with version 1.0", func(f *File) {
			e := f.AuthN.Issuers[0].Entra
			e.Versions, e.V1Issuer = []string{"2.0"}, "https://sts.windows.net/{tenantid}/"
		}, "authn.issuers[0].entra.v1_issuer", `is only used when versions includes "1.0"`},
		{"v1 issuer of a multi-tenant issuer is a template", func(f *File) {
			e := f.AuthN.Issuers[0].Entra
			e.Authority, e.Tenant, e.Tenants = AuthorityMicrosoft, TenantCommon, []string{"*"}
			e.V1Issuer = "https://sts.windows.net/2e3fd419-1fb6-41f4-a9a1-60531a867149/"
		}, "authn.issuers[0].entra.v1_issuer", "must contain {tenantid}"},
		{"versions listed once", func(f *File) { f.AuthN.Issuers[0].Entra.Versions = []string{"2.0", "2.0"} },
			"authn.issuers[0].entra.versions[1]", `"2.0" is listed twice`},
		{"audiences non-empty", func(f *File) { f.AuthN.Issuers[0].Audiences[1] = " " },
			"authn.issuers[0].audiences[1]", "empty audience"},
		{"claims only for oidc", func(f *File) { f.AuthN.Issuers[0].Claims.Groups = "grp" },
			"authn.issuers[0].claims", "is only for type oidc"},
		{"discovery url https", func(f *File) {
			f.AuthN.Issuers[0].DiscoveryURL = "http://idp.example.com/.well-known/openid-configuration"
		},
			"authn.issuers[0].discovery_url", "must use https"},
		{"jwks url absolute", func(f *File) { f.AuthN.Issuers[0].JWKSURL = "keys.json" },
			"authn.issuers[0].jwks_url", "must be an absolute https URL"},
		{"type required", func(f *File) { f.AuthN.Issuers[0].Type = "" },
			"authn.issuers[0].type", "is required: one of entra, oidc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := Default()
			tt.mutate(f)
			err := f.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			// Breaking one rule may break others that depend on it (a
			// renamed group leaves its members dangling): look for the one.
			ps := Problems(err)
			i := slices.IndexFunc(ps, func(p *Problem) bool { return p.Field == tt.field })
			if i < 0 {
				t.Fatalf("Validate = %v; want a problem of %s: %s", err, tt.field, tt.message)
			}
			if p := ps[i]; !strings.HasPrefix(p.Msg, tt.message) {
				t.Errorf("Validate: %s: %s; want message prefix %q", p.Field, p.Msg, tt.message)
			}
			if p := ps[i]; p.File != "" || p.Line != 0 {
				t.Errorf("Validate gave position %s:%d; Validate alone knows no file", p.File, p.Line)
			}
		})
	}
}

// TestValidateMapsToLines checks that Parse places problems Validate finds
// deep in the development configuration on the line that holds the field.
func TestValidateMapsToLines(t *testing.T) {
	for _, tt := range []struct {
		old, new string
		field    string
	}{
		{"upn: bob@contoso.example", "upn: bob", "dev.idp.tenants[0].users[1].upn"},
		{"groups: [finance]", "groups: [finance, sales]", "dev.idp.tenants[0].users[1].groups[1]"},
		{"gatehouse-api: [Functions.Reader]", "gatehouse-api: [Jobs.Run]", "dev.idp.tenants[0].users[1].app_roles.gatehouse-api[0]"},
		{"access_token_version: 1", "access_token_version: 3", "dev.idp.tenants[0].apps[3].access_token_version"},
		{"redirect_uris: [http://localhost]", "redirect_uris: [http://example.com]", "dev.idp.tenants[0].apps[1].redirect_uris[0]"},
		{"{resource: legacy-api, scopes: [access_as_user]}", "{resource: legacy-api, scopes: [access_as_admin]}", "dev.idp.tenants[0].apps[1].permissions[1].scopes[0]"},
		{"{value: Jobs.Run, member_types: [Application]}", "{value: Jobs.Run, member_types: [Application, Robot]}", "dev.idp.tenants[0].apps[0].app_roles[2].member_types[1]"},
		{"listen: 127.0.0.1:9443", "listen: 192.0.2.1:9443", "dev.idp.listen"},
		{"- id: 2e3fd419-1fb6-41f4-a9a1-60531a867149", "- id: 2e3fd419-1fb6-41f4-a9a1-60531a867140", "authn.issuers[0].entra.tenant"},
	} {
		t.Run(tt.field, func(t *testing.T) {
			text := string(DefaultYAML())
			if strings.Count(text, tt.old) != 1 {
				t.Fatalf("dev.yaml holds %q %d times, want once", tt.old, strings.Count(text, tt.old))
			}
			text = strings.Replace(text, tt.old, tt.new, 1)
			_, err := Parse("dev.yaml", []byte(text))
			ps := Problems(err)
			if len(ps) != 1 || ps[0].Field != tt.field {
				t.Fatalf("Parse: got %v, want one problem of %s", err, tt.field)
			}
			// The problem is on the line of the change, unless the field
			// changed is referred to from elsewhere (as the tenant is).
			line := strings.Count(text[:strings.Index(text, tt.new)], "\n") + 1
			if tt.field == "authn.issuers[0].entra.tenant" {
				line = strings.Count(text[:strings.Index(text, "tenant: 2e3fd419")], "\n") + 1
			}
			if ps[0].Line != line || ps[0].File != "dev.yaml" {
				t.Errorf("Parse: problem at %s:%d, want dev.yaml:%d: %v", ps[0].File, ps[0].Line, line, ps[0])
			}
		})
	}
}

// testCertificate returns a new self-signed PEM certificate.
func testCertificate(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "report-agent"},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
