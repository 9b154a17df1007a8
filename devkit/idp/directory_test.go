package idp

import (
	"strings"
	"testing"
)

func TestNewRejectsInvalidDirectory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		want string // in the error
	}{
		{"base URL with a path", func(c *Config) { c.BaseURL = "https://idp.example/x" }, "BaseURL"},
		{"base URL without scheme", func(c *Config) { c.BaseURL = "idp.example" }, "BaseURL"},
		{"token lifetime too long", func(c *Config) { c.TokenLifetime = 48 * 3600e9 }, "TokenLifetime"},
		{"no tenants", func(c *Config) { c.Tenants = nil }, "at least one tenant"},
		{"tenant id not a GUID", func(c *Config) { c.Tenants[0].ID = "contoso" }, "Tenants[0].ID"},
		{"duplicate tenant", func(c *Config) { c.Tenants[1].ID = strings.ToUpper(tenantID) }, "duplicate tenant"},
		{"reserved domain", func(c *Config) { c.Tenants[0].Domain = "Common" }, "reserved"},
		{"duplicate user object id", func(c *Config) { c.Tenants[0].Users[1].ObjectID = adaOID }, "Users[1].ObjectID"},
		{"object id shared by a user and an app", func(c *Config) { c.Tenants[0].Apps[0].ObjectID = adaOID }, "already used"},
		{"duplicate UPN, case-insensitive", func(c *Config) { c.Tenants[0].Users[1].UserPrincipalName = "ADA@contoso.example" }, "duplicate user"},
		{"UPN without domain", func(c *Config) { c.Tenants[0].Users[1].UserPrincipalName = "bob" }, "UserPrincipalName"},
		{"unknown group", func(c *Config) { c.Tenants[0].Users[0].Groups = []string{"Nobody"} }, `no group "Nobody"`},
		{"ambiguous group name", func(c *Config) { c.Tenants[0].Groups[1].DisplayName = "Engineers" }, "names 2 groups"},
		{"user role on unknown app", func(c *Config) { c.Tenants[0].Users[0].AppRoles = map[string][]string{"nope": {"Reader"}} }, `no app "nope"`},
		{"user role the app does not define for users", func(c *Config) { c.Tenants[0].Users[0].AppRoles = map[string][]string{"api": {"Jobs.Run"}} }, `no role "Jobs.Run" for users`},
		{"duplicate client id", func(c *Config) { c.Tenants[0].Apps[1].ClientID = apiID }, "duplicate client id"},
		{"duplicate app name", func(c *Config) { c.Tenants[0].Apps[1].Name = "api" }, "duplicate app name"},
		{"duplicate App ID URI", func(c *Config) { c.Tenants[0].Apps[1].AppIDURI = "api://gatehouse-dev/" }, "duplicate App ID URI"},
		{"permission on unknown resource", func(c *Config) { c.Tenants[0].Apps[2].Permissions[0].Resource = "nope" }, "Permissions[0].Resource"},
		{"permission for unexposed scope", func(c *Config) { c.Tenants[0].Apps[4].Permissions[0].Scopes = []string{"Nope"} }, `exposes no scope "Nope"`},
		{"application permission for a user role", func(c *Config) { c.Tenants[0].Apps[2].Permissions[0].Roles = []string{"Reader"} }, `no role "Reader" for applications`},
		{"bad certificate", func(c *Config) { c.Tenants[0].Apps[3].Certificates = []string{"not pem"} }, "Certificates[0]"},
		{"http redirect off loopback", func(c *Config) { c.Tenants[0].Apps[5].RedirectURIs = []string{"http://app.example/cb"} }, "RedirectURIs[0]"},
		{"redirect with fragment", func(c *Config) { c.Tenants[0].Apps[5].RedirectURIs = []string{"https://app.example/cb#x"} }, "fragment"},
		{"scope with a slash", func(c *Config) { c.Tenants[0].Apps[0].Scopes = []string{"a/b"} }, "Scopes[0]"},
		{"unknown member type", func(c *Config) { c.Tenants[0].Apps[0].AppRoles[0].MemberTypes = []string{"Users"} }, "MemberTypes"},
		{"access token version 3", func(c *Config) { c.Tenants[0].Apps[0].AccessTokenVersion = 3 }, "AccessTokenVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{BaseURL: "https://idp.example", Tenants: testTenants()}
			tt.edit(&cfg)
			_, err := New(cfg) // validation fails before any key is made
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	cfg := Config{BaseURL: "https://idp.example", Tenants: testTenants()}
	cfg.Tenants[0].Users[0].Groups = []string{"Nobody"}
	cfg.Tenants[0].Apps[0].ClientID = "not-a-guid"
	_, err := New(cfg)
	if err == nil || !strings.Contains(err.Error(), "Nobody") || !strings.Contains(err.Error(), "not-a-guid") {
		t.Errorf("New() error = %v, want both problems", err)
	}
}

func TestTenantsAppliesDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ts := f.srv.Tenants()
	if len(ts) != 2 || ts[0].ID != tenantID {
		t.Fatalf("Tenants() = %d tenants", len(ts))
	}
	if got := ts[1].Apps[0].AppIDURI; got != "api://c0000000-0000-4000-8000-000000000099" {
		t.Errorf("default AppIDURI = %q", got)
	}
}
