package authz

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// probeConfig is the configuration of the outside probe: a reader that
// may only read, an operator that may also write, and one Cedar file.
func probeConfig(cedarText string) Config {
	return Config{
		Roles: []Role{
			{Name: "reader", Actions: []string{ActionRead}, Routes: []string{"*"}},
			{Name: "operator", Actions: []string{ActionRead, ActionWrite}, Routes: []string{"*"}},
		},
		Policies: []PolicyFile{{Name: "everyone.cedar", Text: []byte(cedarText)}},
	}
}

// dave has nothing: no groups, no app roles, no scopes, signed in through
// an app no rule names.
func dave() *authn.Principal {
	const app = "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	return &authn.Principal{
		IssuerName: "dev", Subject: "4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07", Tenant: tenantContoso, Kind: authn.KindUser, App: app,
		Actors: []authn.Actor{{Subject: app, App: app, Via: authn.ActorViaClient}},
	}
}

// TestUnconditionedPermitProbe is the probe's case: a Cedar file that
// permits everything is refused at load, naming file and line; opted in,
// it loads, and the role's own limits still hold.
func TestUnconditionedPermitProbe(t *testing.T) {
	_, err := New(probeConfig("// everyone may do anything\npermit(principal, action, resource);\n"))
	probs := Problems(err)
	if len(probs) != 1 {
		t.Fatalf("New(permit everything) = %v, want one problem", err)
	}
	p := probs[0]
	if p.File != "everyone.cedar" || p.Line != 2 || p.Field != "policies[0]" ||
		!strings.Contains(p.Msg, `policy "everyone.cedar#1" would permit every principal, including one with no groups, roles or scopes`) ||
		!strings.Contains(p.Msg, "@unrestricted(") {
		t.Errorf("problem = %+v, want everyone.cedar line 2, policies[0], saying it would permit every principal and how to opt in", p)
	}

	e := mustNew(t, probeConfig("@unrestricted(\"the probe's opt-in\")\npermit(principal, action, resource);\n"))
	write := route(ActionWrite, "orders")
	runDecide(t, e, []decideCase{
		{name: "opted in: read granted as reader", p: dave(), r: route(ActionRead, "orders"),
			allow: true, role: "reader", policies: []string{"everyone.cedar#1"}},
		{name: "second fence: no write under reader", p: dave(), r: asRole(write, "reader"),
			policies: []string{}, reason: `no rule grants role "reader" (named by the request) for write route orders`},
		{name: "second fence: write only under a role that may write", p: dave(), r: write,
			allow: true, role: "operator", policies: []string{"everyone.cedar#1"}},
	})
}

// intricate is a condition with n parts that do not read the principal,
// each beside one that does.
func intricate(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`(context.path == "/%d" || principal in Gatehouse::Group::"%s")`, i, groupFinance)
	}
	return strings.Join(parts, " && ")
}

// TestPermitThatCannotNarrow: a Cedar permit whose scope and conditions
// would let in a principal with no groups, roles or scopes is refused,
// naming the policy, file and line.
func TestPermitThatCannotNarrow(t *testing.T) {
	tests := []struct {
		name string
		text string
		line int
		why  string // a substring of the problem
	}{
		{"no scope, no condition", `permit (principal, action, resource);`, 1, "nothing in its scope or conditions reads the principal"},
		{"every user", `permit (principal is Gatehouse::User, action, resource);`, 1, "nothing in its scope or conditions reads the principal"},
		{"every app", `permit (principal is Gatehouse::App, action, resource);`, 1, "nothing in its scope or conditions reads the principal"},
		{"when true", "\n\npermit (principal, action, resource) when { true };", 3, "nothing in its scope or conditions reads the principal"},
		{"unless false", `permit (principal, action, resource) unless { false };`, 1, "nothing in its scope or conditions reads the principal"},
		{"the role only", `permit (principal, action, resource) when { context.role == Gatehouse::Role::"reader" };`, 1, "nothing in its scope or conditions reads the principal"},
		{"a tautology on the role", `permit (principal, action, resource) when { context.role == context.role };`, 1, "nothing in its scope or conditions reads the principal"},
		{"action and resource only", `permit (principal, action == Gatehouse::Action::"read", resource == Gatehouse::Route::"orders") when { resource.name like "o*" };`, 1, "nothing in its scope or conditions reads the principal"},
		{"the path only", `permit (principal, action, resource) when { context.path like "/public/*" };`, 1, "nothing in its scope or conditions reads the principal"},
		{"principal equals itself", `permit (principal, action, resource) when { principal == principal };`, 1, "its conditions on the principal hold even for"},
		{"principal in itself", `permit (principal, action, resource) when { principal in principal };`, 1, "hold even for"},
		{"kind of every user", `permit (principal, action, resource) when { principal.kind == "user" };`, 1, "hold even for"},
		{"has an attribute every principal has", `permit (principal, action, resource) when { principal has tenant };`, 1, "hold even for"},
		{"not in a group", `permit (principal, action, resource) unless { principal in Gatehouse::Group::"` + groupSupport + `" };`, 1, "hold even for"},
		{"without an app role", `permit (principal, action, resource) when { !principal.appRoles.contains("Blocked") };`, 1, "hold even for"},
		{"no scopes", `permit (principal, action, resource) when { principal.scopes.isEmpty() };`, 1, "hold even for"},
		{"any other tenant", `permit (principal, action, resource) when { principal.tenant != Gatehouse::Tenant::"` + tenantOther + `" };`, 1, "hold even for"},
		{"a group, or the office network", `permit (principal, action, resource)
when { principal in Gatehouse::Group::"` + groupFinance + `" || context has sourceIp && context.sourceIp.isInRange(ip("10.0.0.0/8")) };`, 1, "hold even for"},
		{"a tautology beside the role", `permit (principal, action, resource) when { context.role == Gatehouse::Role::"reader" && principal == principal };`, 1, "hold even for"},
		{"through its own calling app", `permit (principal, action, resource) when { context has agent && context.agent.app == principal.app };`, 1, "hold even for"},
		{"any act chain", `permit (principal, action, resource) when { context has agent && context.agent.via == "act" };`, 1, "hold even for"},
		{"nobody acting", `permit (principal, action, resource) unless { context has agent };`, 1, "hold even for"},
		{"unknown membership (group overage)", `permit (principal, action, resource) when { principal.groupsOverage };`, 1, "hold even for"},
		{"second policy of the file", `@id("ok")
permit (principal in Gatehouse::Group::"` + groupFinance + `", action, resource);

@id("wide")
permit (principal, action, resource) when { principal.kind == "app" || principal.kind == "user" };`, 4, `policy "wide"`},
		{"too intricate to check", `permit (principal, action, resource) when { ` + intricate(11) + ` };`, 1, "cannot be checked for whom it lets in: a when or unless clause has more than 10 parts that do not read the principal"},
		{"opt-in without a reason", "@unrestricted\npermit (principal, action, resource);", 1, "@unrestricted needs a reason"},
		{"opt-in with a blank reason", "@unrestricted(\"  \")\npermit (principal, action, resource);", 1, "@unrestricted needs a reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(withFile("wide.cedar", tc.text))
			probs := Problems(err)
			if len(probs) != 1 {
				t.Fatalf("New = %v, want one problem", err)
			}
			p := probs[0]
			if p.File != "wide.cedar" || p.Line != tc.line || p.Field != "policies[1]" || !strings.Contains(p.Msg, tc.why) {
				t.Errorf("problem = %v, want wide.cedar:%d, policies[1], saying %q", p, tc.line, tc.why)
			}
			if !strings.Contains(tc.name, "opt-in") && (!strings.Contains(p.Msg, "constrain the principal") || !strings.Contains(p.Msg, `@unrestricted("`)) {
				t.Errorf("problem = %v, want it to say how to fix it", p)
			}
		})
	}
}

// TestPermitThatNarrows: permits that some principal condition narrows,
// forbids, and permits opted in with @unrestricted load.
func TestPermitThatNarrows(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"group scope", `permit (principal in Gatehouse::Group::"` + groupFinance + `", action, resource);`},
		{"user scope", `permit (principal == Gatehouse::User::"` + userCarol + `", action, resource);`},
		{"app of a kind", `permit (principal is Gatehouse::App in Gatehouse::Group::"` + groupOncall + `", action, resource);`},
		{"app role", `permit (principal, action, resource) when { principal.appRoles.contains("Jobs.Run") };`},
		{"calling app", `permit (principal, action, resource) when { principal.app == Gatehouse::App::"` + appAPI + `" };`},
		{"tenant and path", `permit (principal, action, resource) when { principal.tenant == Gatehouse::Tenant::"` + tenantOther + `" && context.path like "/partner/*" };`},
		{"group, role and path", `permit (principal, action, resource)
when { context.role == Gatehouse::Role::"operator" && principal in Gatehouse::Group::"` + groupOncall + `" && context.path like "/jobs/*" };`},
		{"group, unless overflowed", `permit (principal, action, resource) when { !principal.groupsOverage && principal in Gatehouse::Group::"` + groupFinance + `" };`},
		{"a declared agent", `permit (principal, action, resource) when { context has agent && context.agent.app == Gatehouse::App::"` + appReportAgent + `" };`},
		{"as intricate as can be checked", `permit (principal, action, resource) when { ` + intricate(10) + ` && principal.tenant == Gatehouse::Tenant::"` + tenantOther + `" };`},
		{"two clauses, one narrowing", `permit (principal, action, resource) when { context.path like "/x/*" } when { principal.scopes.contains("X.Read") };`},
		{"a permit that can never apply", `permit (principal, action, resource) when { false };`},
		{"a forbid of everything", `forbid (principal, action, resource) when { context.method == "DELETE" };`},
		{"opted in", `@unrestricted("the status page is public")
permit (principal, action == Gatehouse::Action::"read", resource == Gatehouse::Route::"status");`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(withFile("narrow.cedar", tc.text)); err != nil {
				t.Errorf("New: %v, want it to load", err)
			}
		})
	}
}

// TestRoleReachFence: a role is granted only for the actions and resources
// it reaches, whatever a Cedar file permits.
func TestRoleReachFence(t *testing.T) {
	const groupPager = "7a5e3c1d-2b4f-4d6a-8e9c-0b1d2f3a4c5e" // no rule names it
	cfg := withFile("pager.cedar", `@id("pager-reader")
permit (principal in Gatehouse::Group::"`+groupPager+`", action, resource)
when { context.role == Gatehouse::Role::"reader" };

@id("pager-any-role")
permit (principal, action, resource)
when { principal in Gatehouse::Group::"`+groupPager+`" && context.path like "/any/*" };
`)
	e := mustNew(t, cfg)
	pager := user(userBob, groupPager)
	anyPath := func(r Request) Request { r.Path = "/any/x"; return r }
	runDecide(t, e, []decideCase{
		{name: "within the reader's reach", p: pager, r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"pager-reader"}},
		{name: "a function the reader does not reach", p: pager, r: invoke("payroll-run"),
			policies: []string{}, reason: "no rule grants a role that may invoke function payroll-run"},
		{name: "an action the reader may not perform", p: pager, r: route(ActionWrite, "reports"),
			policies: []string{}, reason: "no rule grants a role that may write route reports"},
		{name: "the role named by the request", p: pager, r: asRole(invoke("jobs-nightly"), "reader"),
			policies: []string{}, reason: `no rule grants role "reader" (named by the request) for invoke function jobs-nightly`},
		{name: "a permit naming no role: the least privileged role that reaches", p: pager, r: anyPath(invoke("jobs-nightly")),
			allow: true, role: "operator", policies: []string{"pager-any-role"}},
		{name: "a permit naming no role: up to the role that may write", p: pager, r: from(anyPath(route(ActionWrite, "anything")), "10.0.0.1"),
			allow: true, role: "admin", policies: []string{"pager-any-role"}},
		{name: "a permit naming no role: not beyond the role named", p: pager, r: asRole(anyPath(route(ActionWrite, "jobs")), "operator"),
			policies: []string{}, reason: `no rule grants role "operator" (named by the request) for write route jobs`},
		{name: "deny rules still win", p: user(userMallory, groupPager), r: invoke("reports-daily"),
			policies: []string{"deny-mallory"}, reason: "denied by rule deny-mallory"},
		{name: "deny rules still said outside the reach", p: user(userMallory, groupPager), r: asRole(route(ActionWrite, "reports"), "reader"),
			policies: []string{"deny-mallory"}, reason: "denied by rule deny-mallory"},
		{name: "file forbids still said", p: pager, r: anyPath(route(ActionWrite, "anything")),
			policies: []string{"admin-from-office"}, reason: "denied by policy admin-from-office (office.cedar:2)"},
	})
}

// TestCedarFileNamesUndeclaredRole: a Cedar policy naming a role that is
// not declared is refused: a forbid on a misspelt role would never apply.
func TestCedarFileNamesUndeclaredRole(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		want       string
	}{
		{"forbid on a misspelt role", `// The admin role only from the office network.
@id("admin-from-office-typo")
forbid (principal, action, resource)
when { context.role == Gatehouse::Role::"Admin" }
unless { context has sourceIp && context.sourceIp.isInRange(ip("10.0.0.0/8")) };`, 2,
			`policy "admin-from-office-typo" names role "Admin", which is not declared in roles (declared: "reader", "operator", "admin")`},
		{"permit on a role in a set", `permit (principal in Gatehouse::Group::"` + groupFinance + `", action, resource)
when { context.role in [Gatehouse::Role::"reader", Gatehouse::Role::"auditor"] };`, 1,
			`policy "roles.cedar#1" names role "auditor", which is not declared in roles`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(withFile("roles.cedar", tc.text))
			probs := Problems(err)
			if len(probs) != 1 {
				t.Fatalf("New = %v, want one problem", err)
			}
			if p := probs[0]; p.File != "roles.cedar" || p.Line != tc.line || p.Field != "policies[1]" || !strings.Contains(p.Msg, tc.want) {
				t.Errorf("problem = %v, want roles.cedar:%d, policies[1], saying %q", p, tc.line, tc.want)
			}
		})
	}
}

// TestCedarPermitNamingNoRoleWarns: a Cedar permit that does not read
// context.role grants whichever role reaches the request, up to the most
// powerful: it loads, with a warning.
func TestCedarPermitNamingNoRoleWarns(t *testing.T) {
	e := mustNew(t, withFile("any.cedar", `permit (principal, action, resource) when { principal.app == Gatehouse::App::"`+appAPI+`" };

@id("names-its-role")
permit (principal, action, resource) when { principal.app == Gatehouse::App::"`+appAPI+`" && context.role == Gatehouse::Role::"reader" };
`))
	want := []string{`policy "any.cedar#1" (any.cedar:1) names no role: it grants whichever role is tried first among those that reach the request, up to "admin"; ` +
		`say which role it grants, as in when { context.role == Gatehouse::Role::"reader" }`}
	if got := e.Warnings(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Warnings() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
