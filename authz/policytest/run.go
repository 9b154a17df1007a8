package policytest

import (
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/authz"
)

// Result is the outcome of one case.
type Result struct {
	// Name is the case's name, or "cases[i]" for a case without one.
	Name string
	// Failure says why the case failed, such as "got allow, want deny:
	// <the decision's reason>"; "" when it passed.
	Failure string
	// Decision is what eng decided; zero when the case could not be run
	// (an undefined principal, a malformed resource or expect).
	Decision authz.Decision
}

// Run decides every case of s with eng and returns their results, in
// order. A case failing does not stop the others.
func (s *Suite) Run(eng *authz.Engine) []Result {
	out := make([]Result, len(s.Cases))
	for i, c := range s.Cases {
		r := &out[i]
		r.Name = c.Name
		if r.Name == "" {
			r.Name = fmt.Sprintf("cases[%d]", i)
		}
		r.Decision, r.Failure = s.run(eng, c)
	}
	return out
}

// run decides c, and returns the decision and "" when c holds, else what
// went wrong.
func (s *Suite) run(eng *authz.Engine, c Case) (authz.Decision, string) {
	tp, ok := s.Principals[c.Principal]
	if !ok {
		return authz.Decision{}, fmt.Sprintf("principal %q is not defined in principals", c.Principal)
	}
	p, err := tp.principal()
	if err != nil {
		return authz.Decision{}, fmt.Sprintf("principal %q: %v", c.Principal, err)
	}
	res, err := authz.ParseResource(c.Resource)
	if err != nil {
		return authz.Decision{}, err.Error()
	}
	if c.Expect != "allow" && c.Expect != "deny" {
		return authz.Decision{}, fmt.Sprintf("expect: %q, want allow or deny", c.Expect)
	}
	action := c.Action
	if action == "" {
		action = authz.ActionInvoke
	}
	d := eng.Decide(p, authz.Request{Action: action, Resource: res, Role: c.Role})
	got := "deny"
	if d.Allow {
		got = "allow"
	}
	switch {
	case got != c.Expect:
		return d, fmt.Sprintf("got %s, want %s: %s", got, c.Expect, d.Reason)
	case c.ExpectRole != "" && d.Role != c.ExpectRole:
		return d, fmt.Sprintf("got role %q, want %q", d.Role, c.ExpectRole)
	case c.ExpectPolicies != nil && !sameSet(d.Policies, c.ExpectPolicies):
		return d, fmt.Sprintf("deciding policies %v, want %v", d.Policies, c.ExpectPolicies)
	}
	return d, ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
