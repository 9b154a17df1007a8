package authz

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// This file turns Cedar's answer (its decision and the ids of the policies
// that matched) into a Decision a person can read. It decides nothing.

// allowed is the Decision for a request Cedar allowed under role.
func (st *state) allowed(role string, diag cedar.Diagnostic, in *input) Decision {
	ids, by := st.reasons(diag)
	reason := "allowed as " + quote(role) + " by " + strings.Join(by, ", ")
	if in.who.agent != "" && st.agents[in.who.agent] {
		reason += "; agent " + in.who.agent + " acts within its declared reach"
	}
	return Decision{Allow: true, Role: role, Policies: ids, Reason: reason}
}

// forbidden is the Decision for a request that forbid policies denied.
func (st *state) forbidden(p *authn.Principal, r Request, diag cedar.Diagnostic, in *input) Decision {
	d := Decision{}
	var why []string
	for _, reason := range diag.Reasons {
		c := st.byID[reason.PolicyID]
		switch c.origin {
		case fromRule:
			s := "denied by rule " + c.name
			if c.groups && p.GroupsOverage {
				s += " (group membership unknown because of group overage: a deny rule on groups applies)"
				d.GroupOverage = true
			}
			why = append(why, s)
		case fromAgent:
			why = append(why, "agent "+in.who.agent+" may not "+describe(r)+": it is outside the agent's declared reach")
		case fromUndeclaredAgent:
			why = append(why, "agent "+in.who.agent+" acts for the principal through an act chain but is not declared in agents")
		default:
			why = append(why, "denied by "+describePolicy(c))
		}
		d.Policies = append(d.Policies, string(reason.PolicyID))
	}
	slices.Sort(d.Policies)
	d.Reason = strings.Join(why, "; ")
	return d
}

// reasons returns the ids of the policies in diag, sorted, and how to say
// each in a reason.
func (st *state) reasons(diag cedar.Diagnostic) (ids, by []string) {
	for _, r := range diag.Reasons {
		ids = append(ids, string(r.PolicyID))
	}
	slices.Sort(ids)
	for _, id := range ids {
		by = append(by, describePolicy(st.byID[cedar.PolicyID(id)]))
	}
	return ids, by
}

// describePolicy names a policy for people: the rule it was compiled from,
// or its id and place in a Cedar file.
func describePolicy(c *compiled) string {
	switch c.origin {
	case fromRule:
		return "rule " + c.name
	case fromFile:
		return fmt.Sprintf("policy %s (%s:%d)", c.id, c.name, c.line)
	default:
		return "policy " + string(c.id)
	}
}

// describe says what a request asks: "invoke function reports-daily".
func describe(r Request) string {
	return r.Action + " " + r.Resource.Kind + " " + r.Resource.Name
}

// noGrant says that no rule grants what the request needs.
func noGrant(r Request) string {
	if r.Role != "" {
		return "no rule grants role " + quote(r.Role) + " (named by the request) for " + describe(r)
	}
	return "no rule grants a role that may " + describe(r)
}

func quote(s string) string { return strconv.Quote(s) }
