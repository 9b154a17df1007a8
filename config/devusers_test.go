package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// The development directory of the embedded configuration.
const (
	devTenant   = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	aliceOID    = "2d4acc68-9d83-4609-a6f0-96e989303d16"
	cliClientID = "992ebcd3-3449-4a98-88ed-901221c068d6"
	otherTenant = "0b8e5c1a-4d2f-4e6a-9c3b-7f1d2e3a4b5c"
)

// withFabrikam adds a second tenant with its own alice, and a second
// alice to the first tenant, so that short names become ambiguous.
func withFabrikam() *IDP {
	idp := &Default().Dev.IDP
	idp.Tenants[0].Users = append(idp.Tenants[0].Users, User{ID: "5a0c6b1e-2f3d-4c5b-8a9e-0d1c2b3a4f5e", UPN: "alice@fabrikam.example"})
	idp.Tenants = append(idp.Tenants, Tenant{ID: otherTenant, Domain: "fabrikam.example", Users: []User{
		{ID: "7c6d5e4f-3a2b-4c1d-9e8f-0a1b2c3d4e5f", UPN: "alice@fabrikam.example"},
		{ID: "8d7e6f50-4b3c-4d2e-8f9a-1b2c3d4e5f60", UPN: "erin@fabrikam.example"},
	}})
	return idp
}

// wantLookup checks a lookup's result: the wanted value, or an error that
// wraps want (ErrNotFound, ErrAmbiguous) and contains msg.
func wantLookup(t *testing.T, call string, got string, err error, want string, wantErr error, msg string) {
	t.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s = %q, %v; want an error wrapping %q containing %q", call, got, err, wantErr, msg)
		}
		return
	}
	if err != nil || got != want {
		t.Errorf("%s = %q, %v; want %q", call, got, err, want)
	}
}

func TestIDPTenant(t *testing.T) {
	idp := withFabrikam()
	tests := []struct {
		name, ref, issuer string
		want              string // tenant id
		wantErr           error
		msg               string
	}{
		{name: "tenant id", ref: devTenant, want: devTenant},
		{name: "tenant id in upper case", ref: strings.ToUpper(devTenant), want: devTenant},
		{name: "domain", ref: "fabrikam.example", want: otherTenant},
		{name: "domain in any case", ref: "Contoso.Example", want: devTenant},
		{name: "ref wins over the issuer", ref: "fabrikam.example", issuer: "https://127.0.0.1:9443/" + devTenant + "/v2.0", want: otherTenant},
		{name: "v2.0 issuer", issuer: "https://127.0.0.1:9443/" + otherTenant + "/v2.0", want: otherTenant},
		{name: "v1.0 issuer", issuer: "https://127.0.0.1:9443/" + devTenant + "/", want: devTenant},
		{name: "unknown tenant", ref: "northwind.example", wantErr: ErrNotFound, msg: `tenant "northwind.example"`},
		{name: "issuer of another tenant", issuer: "https://login.example/" + aliceOID + "/v2.0", wantErr: ErrNotFound, msg: "the tenant of issuer"},
		{name: "tenant id only as part of a segment", issuer: "https://127.0.0.1:9443/x" + devTenant + "/v2.0", wantErr: ErrNotFound, msg: "the tenant of issuer"},
		{name: "neither ref nor issuer", wantErr: ErrNotFound, msg: `the tenant of issuer ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := idp.Tenant(tt.ref, tt.issuer)
			wantLookup(t, "Tenant("+tt.ref+", "+tt.issuer+")", got.ID, err, tt.want, tt.wantErr, tt.msg)
		})
	}
}

func TestTenantUser(t *testing.T) {
	contoso := Default().Dev.IDP.Tenants[0]
	crowded := withFabrikam().Tenants[0]
	tests := []struct {
		name    string
		tenant  *Tenant
		ref     string
		want    string // UPN
		wantErr error
		msg     string
	}{
		{name: "UPN", tenant: &contoso, ref: "bob@contoso.example", want: "bob@contoso.example"},
		{name: "UPN in any case", tenant: &contoso, ref: "Bob@Contoso.Example", want: "bob@contoso.example"},
		{name: "short name", tenant: &contoso, ref: "carol", want: "carol@contoso.example"},
		{name: "short name in any case", tenant: &contoso, ref: "Carol", want: "carol@contoso.example"},
		{name: "object id", tenant: &contoso, ref: aliceOID, want: "alice@contoso.example"},
		{name: "object id in upper case", tenant: &contoso, ref: strings.ToUpper(aliceOID), want: "alice@contoso.example"},
		{name: "UPN when the short name is shared", tenant: &crowded, ref: "alice@fabrikam.example", want: "alice@fabrikam.example"},
		{name: "unknown name", tenant: &contoso, ref: "mallory", wantErr: ErrNotFound, msg: `user "mallory": not in the development directory (tenant ` + devTenant + ")"},
		{name: "UPN of another domain", tenant: &contoso, ref: "bob@fabrikam.example", wantErr: ErrNotFound, msg: `user "bob@fabrikam.example"`},
		{name: "empty", tenant: &contoso, ref: "", wantErr: ErrNotFound, msg: `user ""`},
		{name: "short name two users share", tenant: &crowded, ref: "alice", wantErr: ErrAmbiguous,
			msg: `user "alice": ambiguous: alice@contoso.example, alice@fabrikam.example; give the UPN`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.tenant.User(tt.ref)
			wantLookup(t, "User("+tt.ref+")", got.UPN, err, tt.want, tt.wantErr, tt.msg)
		})
	}
}

func TestTenantApp(t *testing.T) {
	contoso := Default().Dev.IDP.Tenants[0]
	// An app whose name is another app's client id.
	confusing := Default().Dev.IDP.Tenants[0]
	confusing.Apps = append(confusing.Apps, App{Name: cliClientID, ClientID: "0f0f0f0f-0000-4000-8000-000000000000"})
	public := func(a App) bool { return a.PublicClient }
	secret := func(a App) bool { return len(a.Secrets) > 0 }
	tests := []struct {
		name    string
		tenant  *Tenant
		ref     string
		pick    func(App) bool
		want    string // app name
		wantErr error
		msg     string
	}{
		{name: "name", tenant: &contoso, ref: "report-agent", want: "report-agent"},
		{name: "client id", tenant: &contoso, ref: cliClientID, want: "gatehouse-cli"},
		{name: "client id in upper case", tenant: &contoso, ref: strings.ToUpper(cliClientID), want: "gatehouse-cli"},
		{name: "ref wins over pick", tenant: &contoso, ref: "gatehouse-api", pick: public, want: "gatehouse-api"},
		{name: "no ref: first public client", tenant: &contoso, pick: public, want: "gatehouse-cli"},
		{name: "no ref: first with a secret", tenant: &contoso, pick: secret, want: "report-agent"},
		{name: "no ref and nothing picked", tenant: &contoso, pick: func(App) bool { return false }, wantErr: ErrNotFound, msg: "no suitable app"},
		{name: "no ref and no pick", tenant: &contoso, wantErr: ErrNotFound, msg: "no suitable app"},
		{name: "unknown app", tenant: &contoso, ref: "billing-api", wantErr: ErrNotFound, msg: `app "billing-api": not in the development directory (tenant ` + devTenant + ")"},
		{name: "object id is not an app ref", tenant: &contoso, ref: "6f53e86c-252e-4dac-a913-b6bd97e4b3e4", wantErr: ErrNotFound, msg: "app"},
		{name: "name of one, client id of another", tenant: &confusing, ref: cliClientID, wantErr: ErrAmbiguous,
			msg: `app "` + cliClientID + `": ambiguous: it is the name or client id of apps gatehouse-cli, ` + cliClientID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.tenant.App(tt.ref, tt.pick)
			wantLookup(t, "App("+tt.ref+")", got.Name, err, tt.want, tt.wantErr, tt.msg)
		})
	}
}

func TestTenantScopes(t *testing.T) {
	tenant := Default().Dev.IDP.Tenants[0]
	app := func(name string) App {
		a, err := tenant.App(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// An app without an App ID URI is named api://{client id}; a
	// permission on an app not in the tenant keeps its ref.
	noURI := App{Name: "x", Permissions: []Permission{{Resource: "legacy-api", Roles: []string{"R"}}}}
	legacy := app("legacy-api")
	legacy.AppIDURI = ""
	bare := tenant
	bare.Apps = []App{legacy}
	outside := App{Name: "y", Permissions: []Permission{{Resource: "api://elsewhere", Scopes: []string{"read"}}}}

	tests := []struct {
		name         string
		tenant       *Tenant
		app          App
		granted      []string
		defaultScope string
	}{
		{"public client: its first API's scopes", &tenant, app("gatehouse-cli"),
			[]string{"api://gatehouse-api/access_as_user", "api://gatehouse-api/Functions.Invoke"}, "api://gatehouse-api/.default"},
		{"app with application permissions", &tenant, app("report-agent"),
			[]string{"api://gatehouse-api/access_as_user"}, "api://gatehouse-api/.default"},
		{"an API with no permissions", &tenant, app("gatehouse-api"), nil, ""},
		{"resource without an App ID URI", &bare, noURI, nil, "api://" + legacy.ClientID + "/.default"},
		{"resource outside the tenant", &tenant, outside, []string{"api://elsewhere/read"}, "api://elsewhere/.default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tenant.GrantedScopes(tt.app); !slices.Equal(got, tt.granted) {
				t.Errorf("GrantedScopes(%s) = %q, want %q", tt.app.Name, got, tt.granted)
			}
			if got := tt.tenant.DefaultScope(tt.app); got != tt.defaultScope {
				t.Errorf("DefaultScope(%s) = %q, want %q", tt.app.Name, got, tt.defaultScope)
			}
		})
	}
}

func TestIDPResolveUser(t *testing.T) {
	contoso := &Default().Dev.IDP
	crowded := withFabrikam()
	const stranger = "9e8d7c6b-5a49-4382-a1b0-c9d8e7f6a5b4"
	tests := []struct {
		name         string
		idp          *IDP
		user, tenant string
		want         string // tenant id + " " + object id
		wantErr      error
		msg          string
	}{
		{name: "UPN", idp: contoso, user: "alice@contoso.example", want: devTenant + " " + aliceOID},
		{name: "short name", idp: contoso, user: "alice", want: devTenant + " " + aliceOID},
		{name: "object id", idp: contoso, user: strings.ToUpper(aliceOID), want: devTenant + " " + aliceOID},
		{name: "with its tenant id", idp: contoso, user: "alice", tenant: devTenant, want: devTenant + " " + aliceOID},
		{name: "with its tenant's domain", idp: contoso, user: "alice", tenant: "contoso.example", want: devTenant + " " + aliceOID},
		{name: "tenant narrows a shared name", idp: crowded, user: "erin", tenant: "fabrikam.example", want: otherTenant + " 8d7e6f50-4b3c-4d2e-8f9a-1b2c3d4e5f60"},
		{name: "UPN unique in each tenant", idp: crowded, user: "alice@contoso.example", want: devTenant + " " + aliceOID},
		{name: "object id outside the directory", idp: contoso, user: strings.ToUpper(stranger), tenant: strings.ToUpper(otherTenant), want: otherTenant + " " + stranger},
		{name: "object id outside the directory, tenant by domain", idp: contoso, user: stranger, tenant: "contoso.example", want: devTenant + " " + stranger},
		{name: "object id without a tenant", idp: contoso, user: stranger, wantErr: ErrNotFound, msg: "give the object id and the tenant id"},
		{name: "unknown name", idp: contoso, user: "mallory", wantErr: ErrNotFound, msg: `user "mallory": not in the development directory; give the object id and the tenant id`},
		{name: "user of another tenant", idp: crowded, user: "bob", tenant: otherTenant, wantErr: ErrNotFound, msg: `user "bob"`},
		{name: "object id with an unknown domain", idp: contoso, user: stranger, tenant: "northwind.example", wantErr: ErrNotFound, msg: `tenant "northwind.example": not in the development directory; give the tenant id`},
		{name: "name in two tenants", idp: crowded, user: "alice@fabrikam.example", wantErr: ErrAmbiguous,
			msg: `user "alice@fabrikam.example": ambiguous: in tenants ` + devTenant + ", " + otherTenant + "; give the tenant"},
		{name: "short name two users share", idp: crowded, user: "alice", wantErr: ErrAmbiguous, msg: "give the UPN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tid, oid, err := tt.idp.ResolveUser(tt.user, tt.tenant)
			got := tid + " " + oid
			if err != nil {
				got = ""
			}
			wantLookup(t, "ResolveUser("+tt.user+", "+tt.tenant+")", got, err, tt.want, tt.wantErr, tt.msg)
		})
	}
}
