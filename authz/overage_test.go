package authz

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// overflowed is a user whose token left out the groups (Entra group
// overage): membership unknown.
func overflowed(oid string) *authn.Principal {
	p := user(oid)
	p.GroupsOverage = true
	return p
}

// TestDecideGroupOverage: membership unknown never satisfies an allow rule
// on groups, always satisfies a deny rule on groups, and the decision says
// so.
func TestDecideGroupOverage(t *testing.T) {
	e := mustNew(t, sampleConfig())
	inconsistent := overflowed(userBob)
	inconsistent.Groups = []string{groupFinance} // overage and groups: the groups are not trusted
	runDecide(t, e, []decideCase{
		{name: "allow-finance: cannot match", p: overflowed(userBob), r: invoke("reports-daily"),
			policies: []string{}, overage: true,
			reason: "group membership unknown (group overage): group rules cannot match; no rule grants a role that may invoke function reports-daily"},
		{name: "allow-finance: cannot match even with groups listed", p: inconsistent, r: invoke("reports-daily"), overage: true,
			reason: "group overage"},
		{name: "allow-engineering: cannot match under a named role", p: overflowed(userAlice), r: asRole(invoke("jobs-nightly"), "operator"),
			overage: true, reason: "group membership unknown (group overage)"},
		{name: "no group rule reaches the resource: overage is no reason", p: overflowed(userBob), r: route(ActionWrite, "x"),
			reason: "no rule grants a role that may write route x"},
		{name: "allow-readers: rules without groups still match", p: withRoles(overflowed(userBob), "Functions.Reader"), r: invoke("reports-daily"),
			allow: true, role: "reader", policies: []string{"allow-readers/reader"}},
		{name: "allow-carol: user rules still match", p: overflowed(userCarol), r: invoke("jobs-nightly"),
			allow: true, role: "operator"},
		{name: "deny-support-payroll: applies (fail closed)", p: withRoles(overflowed(userAlice), "Functions.Admin", "Functions.Reader"),
			r: from(invoke("payroll-run"), "10.0.0.1"), policies: []string{"deny-support-payroll"}, overage: true,
			reason: "denied by rule deny-support-payroll (group membership unknown because of group overage: a deny rule on groups applies)"},
		{name: "deny-support-payroll: applies even when nothing grants", p: overflowed(userBob), r: invoke("payroll-run"),
			policies: []string{"deny-support-payroll"}, overage: true, reason: "group overage"},
		{name: "deny-support-payroll: only where it reaches", p: withRoles(overflowed(userBob), "Functions.Reader"), r: invoke("reports-daily"),
			allow: true, role: "reader"},
	})
}

func TestOverageErrorPublic(t *testing.T) {
	e := mustNew(t, sampleConfig())
	err := e.Decide(overflowed(userBob), invoke("reports-daily")).Err().(*Error)
	if !err.GroupOverage || err.Public() == "access denied by policy" {
		t.Errorf("Err() = %+v, Public %q: want the overage said to the caller", err, err.Public())
	}
}
