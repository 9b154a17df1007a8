package authz

import (
	"strings"
	"testing"
)

func withFile(name, text string) Config {
	cfg := sampleConfig()
	cfg.Policies = append(cfg.Policies, PolicyFile{Name: name, Text: []byte(text)})
	return cfg
}

// TestCedarFiles: raw Cedar policies are evaluated beside the rules.
func TestCedarFiles(t *testing.T) {
	t.Run("a permit grants the role it names", func(t *testing.T) {
		const groupPager = "7a5e3c1d-2b4f-4d6a-8e9c-0b1d2f3a4c5e" // no rule names it
		e := mustNew(t, withFile("pager.cedar", `
@id("pager-operators")
permit (principal, action, resource)
when { context.role == Gatehouse::Role::"operator" && principal in Gatehouse::Group::"`+groupPager+`" && context.path like "/jobs/*" };
`))
		runDecide(t, e, []decideCase{
			{name: "matches", p: user(userBob, groupPager), r: Request{Action: ActionInvoke, Resource: Resource{ResourceFunction, "reports-daily"}, Path: "/jobs/x", Time: testTime},
				allow: true, role: "operator", policies: []string{"pager-operators"}, reason: `allowed as "operator" by policy pager-operators (pager.cedar:2)`},
			{name: "other path", p: user(userBob, groupPager), r: Request{Action: ActionInvoke, Resource: Resource{ResourceFunction, "reports-daily"}, Path: "/x", Time: testTime},
				reason: "no rule grants"},
			{name: "outside the role's reach", p: user(userBob, groupPager), r: Request{Action: ActionInvoke, Resource: Resource{ResourceFunction, "anything"}, Path: "/jobs/x", Time: testTime},
				policies: []string{}, reason: "no rule grants"},
		})
	})
	t.Run("a permit that names no role grants the least privileged", func(t *testing.T) {
		e := mustNew(t, withFile("any.cedar", `permit (principal == Gatehouse::User::"`+userMallory+`", action, resource) when { principal.kind == "user" };`))
		runDecide(t, e, []decideCase{
			{name: "another user", p: user("5b0e7a1c-2d3f-4e5a-8b6c-7d8e9f0a1b2c"), r: invoke("reports-daily"), reason: "no rule grants"},
			{name: "deny rule still wins", p: user(userMallory), r: invoke("reports-daily"), policies: []string{"deny-mallory"}},
		})
		cfg := withFile("any.cedar", `permit (principal, action, resource) when { principal.app == Gatehouse::App::"`+appAPI+`" };`)
		runDecide(t, mustNew(t, cfg), []decideCase{
			{name: "granted as reader", p: withApp(user(userBob), appAPI), r: invoke("reports-daily"), allow: true, role: "reader", policies: []string{"any.cedar#1"}},
			{name: "granted as operator, the least privileged role that reaches", p: withApp(user(userBob), appAPI), r: invoke("jobs-nightly"),
				allow: true, role: "operator", policies: []string{"any.cedar#1"}},
		})
	})
	t.Run("a forbid that fails to evaluate denies", func(t *testing.T) {
		e := mustNew(t, withFile("overflow.cedar", `@id("overflow")
forbid (principal, action, resource) when { principal.kind == "user" && 9223372036854775807 + 1 > 0 };
`))
		d := e.Decide(user(userBob, groupFinance), invoke("reports-daily"))
		if d.Allow || len(d.Policies) != 1 || d.Policies[0] != "overflow" ||
			!strings.Contains(d.Reason, "forbid policy overflow (overflow.cedar:1) could not be evaluated, so the request is denied: integer overflow") {
			t.Errorf("Decide = %+v, want deny by overflow, failing closed", d)
		}
	})
}
