package authz

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Identities of the development IdP (config/dev.yaml), so that the sample
// reads like the local loop.
const (
	tenantContoso = "2e3fd419-1fb6-41f4-a9a1-60531a867149"
	tenantOther   = "0b9a1cd4-5d0e-4e55-9f0b-3c0d7e1e2f10"

	groupEngineering = "15dd7745-cbbe-45b1-9b2a-ee1ef7644785"
	groupFinance     = "cc501977-ed03-40c6-bff3-944575d3a8ca"
	groupAdmins      = "cd9781f8-c477-4323-87ce-ed0dfe9ce310"
	groupSupport     = "13bd09a8-c778-4869-be65-fd2e84cd4302"
	groupOncall      = "22300eb9-4334-453c-aa9f-e7546063b1c6"

	userAlice   = "2d4acc68-9d83-4609-a6f0-96e989303d16"
	userBob     = "1ee840e4-61de-4634-b1e6-1e29799b084f"
	userCarol   = "88f76f24-bbae-48cf-aebb-e897d35edfa8"
	userMallory = "6a1f4c2e-8b7d-4e3a-9c5f-1d2e3f4a5b6c"

	appAPI         = "68e96204-b89d-4992-9e0e-90cc31a67403"
	appCLI         = "992ebcd3-3449-4a98-88ed-901221c068d6"
	appReportAgent = "8f5c3767-7276-4be0-b5db-808ab516452c"
	appRogueAgent  = "3c9e5b1a-7d4f-4a2b-8e6c-0f1a2b3c4d5e"
)

// sampleConfig is the configuration of the golden test and most table
// tests.
func sampleConfig() Config {
	return Config{
		Roles: []Role{
			{Name: "reader", Actions: []string{ActionInvoke, ActionRead}, Functions: []string{"reports-*"}, Routes: []string{"reports"}},
			{Name: "operator", Actions: []string{ActionInvoke, ActionRead}, Functions: []string{"reports-*", "jobs-*"}, Routes: []string{"reports", "jobs"}},
			{Name: "admin", Actions: []string{ActionInvoke, ActionRead, ActionWrite}, Functions: []string{"*"}, Routes: []string{"*"}},
		},
		Rules: []Rule{
			{ID: "allow-finance", Effect: EffectAllow, Roles: []string{"reader"},
				Groups: []GroupRef{{ID: groupFinance, Name: "finance"}}, Tenants: []string{tenantContoso}},
			{ID: "allow-readers", Effect: EffectAllow, Roles: []string{"reader"}, AppRoles: []string{"Functions.Reader"}},
			{ID: "allow-engineering", Effect: EffectAllow, Roles: []string{"reader", "operator"},
				Groups: []GroupRef{{ID: groupEngineering, Name: "engineering"}, {ID: groupOncall}}},
			{ID: "allow-admins", Effect: EffectAllow, Roles: []string{"admin"},
				Groups: []GroupRef{{ID: groupAdmins, Name: "admins"}}, AppRoles: []string{"Functions.Admin"}, Kind: KindUser},
			{ID: "allow-cli-users", Effect: EffectAllow, Roles: []string{"reader"}, Apps: []string{appCLI}, Scopes: []string{"Functions.Invoke"}},
			{ID: "allow-jobs", Effect: EffectAllow, Roles: []string{"operator"}, AppRoles: []string{"Jobs.Run"}, Kind: KindApp},
			{ID: "allow-report-agent-app", Effect: EffectAllow, Roles: []string{"reader"}, Apps: []string{appReportAgent}, Kind: KindApp},
			{ID: "allow-carol", Effect: EffectAllow, Roles: []string{"operator"}, Users: []string{userCarol}},
			{ID: "allow-partner-tenant", Effect: EffectAllow, Roles: []string{"reader"}, Tenants: []string{tenantOther}, Kind: KindUser},
			{ID: "deny-support-payroll", Effect: EffectDeny, Groups: []GroupRef{{ID: groupSupport, Name: "support"}},
				Functions: []string{"payroll-*"}},
			{ID: "deny-mallory", Effect: EffectDeny, Users: []string{userMallory}},
		},
		Agents: []Agent{
			{App: appReportAgent, Actions: []string{ActionInvoke}, Functions: []string{"reports-*"}},
		},
		Policies: []PolicyFile{{Name: "office.cedar", Text: []byte(`// The admin role only from the office network.
@id("admin-from-office")
forbid (principal, action, resource)
when { context.role == Gatehouse::Role::"admin" }
unless { context has sourceIp && context.sourceIp.isInRange(ip("10.0.0.0/8")) };
`)}},
	}
}

func mustNew(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

var testTime = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// user is a delegated token's principal: a user of contoso through the CLI.
func user(oid string, groups ...string) *authn.Principal {
	return &authn.Principal{
		IssuerName: "dev", Subject: oid, Tenant: tenantContoso, Kind: authn.KindUser, App: appCLI,
		Groups: groups, Actors: []authn.Actor{{Subject: appCLI, App: appCLI, Via: authn.ActorViaClient}},
	}
}

// app is an app-only token's principal.
func app(clientID string, roles ...string) *authn.Principal {
	return &authn.Principal{
		IssuerName: "dev", Subject: "79b68b7c-5718-420f-bda0-61b8538a69db", Tenant: tenantContoso,
		Kind: authn.KindApp, App: clientID, Roles: roles,
	}
}

func invoke(function string) Request {
	return Request{Action: ActionInvoke, Resource: Resource{Kind: ResourceFunction, Name: function}, Time: testTime}
}
