package authz

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// decideCase is one request and the decision it must get.
type decideCase struct {
	name     string
	p        *authn.Principal
	r        Request
	allow    bool
	role     string
	policies []string // nil: not checked; []string{}: none
	reason   string   // a substring of Decision.Reason
	overage  bool
}

func runDecide(t *testing.T, e *Engine, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := e.Decide(tc.p, tc.r)
			if d.Allow != tc.allow || d.Role != tc.role {
				t.Fatalf("Decide = %+v, want allow=%v role=%q", d, tc.allow, tc.role)
			}
			if tc.policies != nil {
				got := d.Policies
				if got == nil {
					got = []string{}
				}
				if diff := cmp.Diff(tc.policies, got); diff != "" {
					t.Errorf("Decide(...).Policies mismatch (-want +got):\n%s\nreason: %s", diff, d.Reason)
				}
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide(...).Reason = %q, want it to contain %q", d.Reason, tc.reason)
			}
			if d.GroupOverage != tc.overage {
				t.Errorf("Decide(...).GroupOverage = %v, want %v (reason %q)", d.GroupOverage, tc.overage, d.Reason)
			}
		})
	}
}

func withTenant(p *authn.Principal, tenant string) *authn.Principal {
	p.Tenant = tenant
	return p
}

func withRoles(p *authn.Principal, roles ...string) *authn.Principal {
	p.Roles = roles
	return p
}

func withScopes(p *authn.Principal, scopes ...string) *authn.Principal {
	p.Scopes = scopes
	return p
}

func withApp(p *authn.Principal, app string) *authn.Principal {
	p.App = app
	p.Actors = []authn.Actor{{Subject: app, App: app, Via: authn.ActorViaClient}}
	return p
}

func route(action, id string) Request {
	return Request{Action: action, Resource: Resource{Kind: ResourceRoute, Name: id}, Time: testTime}
}

func asRole(r Request, role string) Request {
	r.Role = role
	return r
}

func from(r Request, ip string) Request {
	r.SourceIP = ip
	return r
}

// TestDecideRules covers each kind of rule condition, default deny and deny
// wins, on the sample configuration.
func TestDecideRules(t *testing.T) {
	e := mustNew(t, sampleConfig())
	runDecide(t, e, []decideCase{
		// Groups (and tenants): allow-finance.
		{name: "allow-finance: group and tenant match", p: user(userBob, groupFinance), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-finance/reader"}, reason: `allowed as "reader" by rule allow-finance`},
		{name: "allow-finance: route in the role's reach", p: user(userBob, groupFinance), r: route(ActionRead, "reports"),
			allow: true, role: "reader", policies: []string{"allow-finance/reader"}},
		{name: "allow-finance: group of another tenant", p: withTenant(user(userBob, groupFinance), "0b9a1cd4-0000-4000-8000-000000000000"),
			r: invoke("reports-daily"), policies: []string{}, reason: "no rule grants a role that may invoke function reports-daily"},
		{name: "allow-finance: outside the role's reach", p: user(userBob, groupFinance), r: invoke("payroll-run"),
			policies: []string{}, reason: "no rule grants a role that may invoke function payroll-run"},
		{name: "allow-finance: action outside the role's reach", p: user(userBob, groupFinance), r: route(ActionWrite, "reports"),
			policies: []string{}, reason: "no rule grants a role that may write route reports"},
		{name: "allow-finance: a prefix is not a glob of itself", p: user(userBob, groupFinance), r: invoke("reports"),
			reason: "no rule grants"},
		// App roles: allow-readers.
		{name: "allow-readers: app role", p: withRoles(user(userBob), "Functions.Reader"), r: invoke("reports-weekly"),
			allow: true, role: "reader", policies: []string{"allow-readers/reader"}},
		{name: "allow-readers: app roles compare exactly", p: withRoles(user(userBob), "functions.reader"), r: invoke("reports-weekly"),
			reason: "no rule grants"},
		// Scopes and apps: allow-cli-users.
		{name: "allow-cli-users: scope through the CLI", p: withScopes(user(userBob), "Functions.Invoke"), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-cli-users/reader"}},
		{name: "allow-cli-users: scope through another app", p: withScopes(withApp(user(userBob), appAPI), "Functions.Invoke"),
			r: invoke("reports-daily"), reason: "no rule grants"},
		{name: "allow-cli-users: CLI without the scope", p: withScopes(user(userBob), "access_as_user"), r: invoke("reports-daily"),
			reason: "no rule grants"},
		// Users: allow-carol.
		{name: "allow-carol: user object id", p: user(userCarol), r: invoke("jobs-nightly"),
			allow: true, role: "operator", policies: []string{"allow-carol/operator"}},
		{name: "allow-carol: another user", p: user(userBob), r: invoke("jobs-nightly"), reason: "no rule grants"},
		{name: "allow-carol: an app whose client id is her oid", p: app(userCarol), r: invoke("jobs-nightly"), reason: "no rule grants"},
		// Tenants: allow-partner-tenant.
		{name: "allow-partner-tenant: any user of the tenant", p: withTenant(user("5b0e7a1c-2d3f-4e5a-8b6c-7d8e9f0a1b2c"), tenantOther), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-partner-tenant/reader"}},
		// Kind: allow-admins is for users, allow-jobs for apps.
		{name: "allow-admins: user in admins with the admin app role", p: withRoles(user(userAlice, groupAdmins), "Functions.Admin"),
			r: from(route(ActionWrite, "anything"), "10.0.0.1"), allow: true, role: "admin", policies: []string{"allow-admins/admin"}},
		{name: "allow-admins: conditions are ANDed", p: user(userAlice, groupAdmins), r: route(ActionWrite, "anything"),
			reason: "no rule grants"},
		{name: "allow-admins: an app-only token is not a user", p: withRoles(&authn.Principal{Subject: "x", Tenant: tenantContoso, Kind: authn.KindApp, App: appAPI, Groups: []string{groupAdmins}}, "Functions.Admin"),
			r: route(ActionWrite, "anything"), reason: "no rule grants"},
		{name: "allow-jobs: a user with the app role is not an app", p: withRoles(user(userBob), "Jobs.Run"), r: invoke("jobs-nightly"),
			reason: "no rule grants"},
		// Default deny.
		{name: "default deny: no group, role or scope", p: user(userBob), r: invoke("reports-daily"),
			policies: []string{}, reason: "no rule grants a role that may invoke function reports-daily"},
		{name: "default deny: unknown action", p: user(userBob, groupFinance), r: Request{Action: "delete", Resource: Resource{Kind: ResourceFunction, Name: "reports-daily"}},
			reason: `unknown action "delete"`},
		{name: "default deny: unknown resource kind", p: user(userBob, groupFinance), r: Request{Action: ActionInvoke, Resource: Resource{Kind: "bucket", Name: "reports-daily"}},
			reason: `unknown resource kind "bucket"`},
		{name: "default deny: no resource name", p: user(userBob, groupFinance), r: invoke(""), reason: "names no function"},
		{name: "default deny: no principal", r: invoke("reports-daily"), reason: "no principal"},
		{name: "default deny: principal of no kind", p: &authn.Principal{Subject: userBob, Groups: []string{groupFinance}, Tenant: tenantContoso},
			r: invoke("reports-daily"), reason: "neither a user nor an app"},
		// Deny wins.
		{name: "deny-support-payroll: wins over admin", p: withRoles(user(userAlice, groupAdmins, groupSupport), "Functions.Admin"), r: from(invoke("payroll-run"), "10.0.0.1"),
			policies: []string{"deny-support-payroll"}, reason: "denied by rule deny-support-payroll"},
		{name: "deny-support-payroll: only payroll", p: withRoles(user(userAlice, groupAdmins, groupSupport), "Functions.Admin"), r: from(invoke("reports-daily"), "10.0.0.1"),
			allow: true, role: "admin", policies: []string{"allow-admins/admin"}},
		{name: "deny-support-payroll: every forbid that matched is listed", p: withRoles(user(userAlice, groupAdmins, groupSupport), "Functions.Admin"), r: invoke("payroll-run"),
			policies: []string{"admin-from-office", "deny-support-payroll"}, reason: "denied by rule deny-support-payroll; denied by policy admin-from-office"},
		{name: "deny-mallory: wins over a group", p: user(userMallory, groupFinance), r: invoke("reports-daily"),
			policies: []string{"deny-mallory"}, reason: "denied by rule deny-mallory"},
		{name: "deny-mallory: said even when nothing grants", p: user(userMallory), r: invoke("reports-daily"),
			policies: []string{"deny-mallory"}, reason: "denied by rule deny-mallory"},
		// Raw Cedar file: admin only from the office network.
		{name: "admin-from-office: from the office", p: withRoles(user(userAlice, groupAdmins), "Functions.Admin"), r: from(route(ActionWrite, "x"), "10.2.3.4"),
			allow: true, role: "admin"},
		{name: "admin-from-office: from elsewhere", p: withRoles(user(userAlice, groupAdmins), "Functions.Admin"), r: from(route(ActionWrite, "x"), "203.0.113.9:4431"),
			policies: []string{"admin-from-office"}, reason: "denied by policy admin-from-office (office.cedar:2)"},
		{name: "admin-from-office: source unknown", p: withRoles(user(userAlice, groupAdmins), "Functions.Admin"), r: route(ActionWrite, "x"),
			policies: []string{"admin-from-office"}},
		{name: "admin-from-office: lesser role still allowed", p: withRoles(user(userAlice, groupAdmins), "Functions.Admin", "Functions.Reader"),
			r: from(invoke("reports-daily"), "203.0.113.9"), allow: true, role: "reader"},
		{name: "admin-from-office: a forbid on a role not granted is no reason", p: user(userBob, groupFinance), r: invoke("jobs-nightly"),
			policies: []string{}, reason: "no rule grants"},
	})
}

// TestDecideRoleChoice: the named role only, else least privileged first.
func TestDecideRoleChoice(t *testing.T) {
	e := mustNew(t, sampleConfig())
	eng := user(userAlice, groupEngineering)
	runDecide(t, e, []decideCase{
		{name: "least privileged first: reader before operator", p: eng, r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-engineering/reader"}},
		{name: "least privileged that reaches: operator for jobs", p: eng, r: invoke("jobs-nightly"),
			allow: true, role: "operator", policies: []string{"allow-engineering/operator"}},
		{name: "named role: operator though reader would do", p: eng, r: asRole(invoke("reports-daily"), "operator"),
			allow: true, role: "operator", policies: []string{"allow-engineering/operator"}},
		{name: "named role: not granted", p: eng, r: asRole(invoke("reports-daily"), "admin"),
			reason: `no rule grants role "admin" (named by the request) for invoke function reports-daily`},
		{name: "named role: not declared", p: eng, r: asRole(invoke("reports-daily"), "root"),
			reason: `the route names role "root", which is not declared`},
		{name: "several permits: all listed", p: withRoles(user(userBob, groupFinance), "Functions.Reader"), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-finance/reader", "allow-readers/reader"},
			reason: `allowed as "reader" by rule allow-finance, rule allow-readers`},
	})
}

// TestDecideAppOnly: app-only tokens are matched as apps.
func TestDecideAppOnly(t *testing.T) {
	e := mustNew(t, sampleConfig())
	runDecide(t, e, []decideCase{
		{name: "allow-report-agent-app: the app by client id", p: app(appReportAgent), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-report-agent-app/reader"}},
		{name: "allow-jobs: the app role of an app", p: app(appReportAgent, "Jobs.Run"), r: invoke("jobs-nightly"),
			allow: true, role: "operator", policies: []string{"allow-jobs/operator"}},
		{name: "allow-jobs: least privileged still first", p: app(appReportAgent, "Jobs.Run"), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-report-agent-app/reader"}},
		{name: "allow-report-agent-app: another app", p: app(appAPI), r: invoke("reports-daily"), reason: "no rule grants"},
		{name: "allow-report-agent-app: kind app only, not its users", p: withApp(user(userBob), appReportAgent), r: invoke("reports-daily"),
			reason: "no rule grants"},
		{name: "an app-only token needs no agent entry", p: app(appReportAgent, "Jobs.Run"), r: route(ActionRead, "jobs"),
			allow: true, role: "operator"},
	})
}

func TestDecisionErr(t *testing.T) {
	e := mustNew(t, sampleConfig())
	if err := e.Decide(user(userBob, groupFinance), invoke("reports-daily")).Err(); err != nil {
		t.Errorf("Err() of an allow = %v, want nil", err)
	}
	err := e.Decide(user(userMallory), invoke("reports-daily")).Err()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("Err() of a deny = %T %v, want *Error", err, err)
	}
	if ae.StatusCode() != 403 || !strings.Contains(ae.Error(), "deny-mallory") || strings.Contains(ae.Public(), "mallory") {
		t.Errorf("Error = {status %d, Error %q, Public %q}, want 403, the rule in Error, not in Public", ae.StatusCode(), ae.Error(), ae.Public())
	}
}

// TestZeroEngineDenies: an Engine with no policy fails closed.
func TestZeroEngineDenies(t *testing.T) {
	var e Engine
	if d := e.Decide(user(userBob, groupFinance), invoke("reports-daily")); d.Allow || d.Reason != "no policy is loaded" {
		t.Errorf("zero Engine: Decide = %+v, want deny, no policy is loaded", d)
	}
	e2 := mustNew(t, Config{})
	if d := e2.Decide(user(userBob, groupFinance), invoke("reports-daily")); d.Allow {
		t.Errorf("empty Config: Decide = %+v, want deny", d)
	}
}

// TestGUIDCase: object ids compare case-insensitively, on both sides.
func TestGUIDCase(t *testing.T) {
	cfg := sampleConfig()
	cfg.Rules[0].Groups[0].ID = strings.ToUpper(groupFinance)
	e := mustNew(t, cfg)
	runDecide(t, e, []decideCase{
		{name: "upper-case config, lower-case token", p: user(userBob, groupFinance), r: invoke("reports-daily"), allow: true, role: "reader"},
		{name: "upper-case token", p: withTenant(user(userBob, strings.ToUpper(groupFinance)), strings.ToUpper(tenantContoso)),
			r: invoke("reports-daily"), allow: true, role: "reader"},
		{name: "upper-case user in a deny rule", p: user(strings.ToUpper(userMallory), groupFinance), r: invoke("reports-daily"),
			reason: "denied by rule deny-mallory"},
	})
}

// TestTokenValuesAreData: values from a token cannot change the meaning of
// a policy, however they are spelt.
func TestTokenValuesAreData(t *testing.T) {
	e := mustNew(t, sampleConfig())
	runDecide(t, e, []decideCase{
		{name: "app role with Cedar syntax", p: withRoles(user(userBob), `Functions.Reader") || true || ("`), r: invoke("reports-daily"), reason: "no rule grants"},
		{name: "group id with a quote", p: user(userBob, groupFinance+`"`), r: invoke("reports-daily"), reason: "no rule grants"},
		{name: "resource name with a glob", p: user(userBob, groupFinance), r: invoke("reports-*"), allow: true, role: "reader"},
		{name: "resource name that is a prefix pattern elsewhere", p: user(userBob, groupFinance), r: invoke(`payroll-" || "`), reason: "no rule grants"},
	})
}

// TestPrincipalChangedInPlace: the memo of principals' Cedar data never
// serves a stale entry, even when a caller changes a Principal in place.
func TestPrincipalChangedInPlace(t *testing.T) {
	e := mustNew(t, sampleConfig())
	p := user(userBob, groupFinance)
	if d := e.Decide(p, invoke("reports-daily")); !d.Allow {
		t.Fatalf("before: Decide = %+v, want allow", d)
	}
	p.Groups[0] = groupSupport
	if d := e.Decide(p, invoke("reports-daily")); d.Allow {
		t.Errorf("after changing the group in place: Decide = %+v, want deny", d)
	}
	p.Groups[0] = groupFinance
	p.Subject = userMallory
	if d := e.Decide(p, invoke("reports-daily")); d.Allow {
		t.Errorf("after changing the subject: Decide = %+v, want deny", d)
	}
}
