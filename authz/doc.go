// Package authz answers "may they?": it decides whether a verified
// principal may perform an action on a function or route, and under which
// logical role.
//
// In: an *authn.Principal and a Request (action, resource, the role a
// route may name, and the request's method, path, source address and
// time), decided against a Config of roles, access rules, agents and raw
// Cedar files. Out: a Decision: allow or deny, the role granted, the ids of
// the policies that decided, and a reason a person can read.
//
// Cedar (github.com/cedar-policy/cedar-go) does every evaluation. New
// compiles each allow rule, for each role it grants, to a permit policy and
// each deny rule to a forbid policy over the gatehouse Cedar schema
// (Schema), adds a forbid policy per agent, checks raw Cedar files against
// the schema, and refuses the whole Config, listing every problem, when
// anything is wrong, such as a rule or Cedar permit that would let in a
// principal with no groups, roles or scopes. Decide tries the candidate
// roles in order (the requested one, else every role least privileged
// first), skipping each role whose own actions and resources do not include
// the request, and grants the first one Cedar allows. Default deny; deny
// wins; a role never acts beyond its reach; an agent acting for a user
// narrows what the user may do; group rules fail closed on group overage;
// rules key on immutable ids only. docs/policy.md documents the rules, the
// schema and every decision.
//
// Left to others: verifying the token (authn), mapping the role to AWS
// credentials (creds), reading the configuration file (config), and
// watching it for changes: Reload swaps a new policy in atomically and
// keeps the old one when the new one has problems.
package authz
