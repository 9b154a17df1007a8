package sts

import (
	"fmt"
	"strconv"
	"strings"
)

// This file is the IAM permission-policy engine: a role's identity policy
// (Role.Policy) and a session's inline session policy, evaluated for one
// action on one resource as IAM evaluates a role session without resource
// policies, permission boundaries or SCPs: an explicit Deny in either
// policy wins; otherwise the identity policy must allow, and so must the
// session policy when there is one.
//
// An identity policy is parsed at New and must be exactly evaluable:
// Version, Id, Statement; per statement Sid, Effect, Action (string or
// list; "*" or service:action with * and ?, compared case-insensitively)
// and Resource (string or list; "*" or ARN patterns with * and ?, compared
// case-sensitively). Condition, NotAction, NotResource, Principal and policy
// variables are refused there. A session policy was accepted by
// AssumeRole* with IAM's grammar, so it may hold NotAction and NotResource
// (evaluated) and Condition (not evaluated: such a statement never allows
// and, if it is a Deny, always denies — fail closed either way).

// maxPermissionPolicyBytes bounds a role's identity policy (IAM allows
// 10,240 characters of inline role policies; this leaves room).
const maxPermissionPolicyBytes = 16 << 10

// permPolicy is a parsed permission policy.
type permPolicy struct {
	statements []permStatement
}

type permStatement struct {
	id           string // Sid, or "#n"
	deny         bool
	actions      []string // lower case
	notAction    bool
	resources    []string
	notResource  bool
	hasCondition bool
}

// parseIdentityPolicy parses a role's identity policy strictly.
func parseIdentityPolicy(doc []byte) (*permPolicy, error) {
	if len(doc) > maxPermissionPolicyBytes {
		return nil, policyErrorf("policy is larger than %d bytes", maxPermissionPolicyBytes)
	}
	return parsePermissionPolicy(doc, true)
}

// parsePermissionPolicy parses an identity policy (strict: only what can be
// evaluated exactly) or a session policy (IAM's grammar; Conditions are
// recorded, not evaluated).
func parsePermissionPolicy(doc []byte, strict bool) (*permPolicy, error) {
	if len(doc) == 0 {
		return nil, policyErrorf("policy is empty")
	}
	top, err := decodeObject(doc)
	if err != nil {
		return nil, err
	}
	version, err := policyVersion(top)
	if err != nil {
		return nil, err
	}
	for k, v := range top {
		switch k {
		case "Version", "Statement":
		case "Id":
			if _, ok := v.(string); !ok {
				return nil, policyErrorf("Id must be a string")
			}
		default:
			return nil, policyErrorf("unknown top-level element %q (want Version, Id, Statement)", k)
		}
	}
	raw, err := statementList(top)
	if err != nil {
		return nil, err
	}
	p := &permPolicy{}
	for i, m := range raw {
		st, err := parsePermStatement(m, i, version, strict)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parsePermStatement(m map[string]any, i int, version string, strict bool) (permStatement, error) {
	st := permStatement{id: "#" + strconv.Itoa(i+1)}
	where := "statement " + strconv.Itoa(i+1)
	if sid, ok := m["Sid"]; ok {
		s, isString := sid.(string)
		if !isString {
			return st, policyErrorf("%s: Sid must be a string", where)
		}
		if s != "" {
			st.id = s
			where += " (" + s + ")"
		}
	}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "Resource":
		case "Condition", "NotAction", "NotResource":
			if strict {
				return st, policyErrorf("%s: %s is not supported in identity policies here (it cannot be evaluated exactly); list what is allowed instead", where, k)
			}
		case "Principal", "NotPrincipal":
			return st, policyErrorf("%s: an identity policy has no %s (the principal is the role)", where, k)
		default:
			return st, policyErrorf("%s: unknown element %q", where, k)
		}
	}
	switch m["Effect"] {
	case "Allow":
	case "Deny":
		st.deny = true
	default:
		return st, policyErrorf("%s: Effect must be \"Allow\" or \"Deny\"", where)
	}
	actionKey, resourceKey := "Action", "Resource"
	if _, ok := m["NotAction"]; ok {
		actionKey, st.notAction = "NotAction", true
	}
	if _, ok := m["NotResource"]; ok {
		resourceKey, st.notResource = "NotResource", true
	}
	if err := exactlyOneList(m, "Action", "NotAction", where); err != nil {
		return st, err
	}
	if err := exactlyOneList(m, "Resource", "NotResource", where); err != nil {
		return st, err
	}
	actions, _ := stringList(m[actionKey], actionKey)
	for _, a := range actions {
		if a != "*" && !actionPattern.MatchString(a) {
			return st, policyErrorf("%s: %s %q is not \"*\" or service:action", where, actionKey, a)
		}
		st.actions = append(st.actions, strings.ToLower(a))
	}
	st.resources, _ = stringList(m[resourceKey], resourceKey)
	for _, r := range st.resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			return st, policyErrorf("%s: %s %q is not \"*\" or an ARN pattern", where, resourceKey, r)
		}
		if version == "2012-10-17" && strings.Contains(r, "${") {
			return st, policyErrorf("%s: policy variables (${...}) are not supported by this STS", where)
		}
	}
	if _, ok := m["Condition"]; ok {
		st.hasCondition = true
	}
	return st, nil
}

// matches reports whether the statement covers action (lower case) on
// resource, its Condition aside.
func (st permStatement) matches(action, resource string) bool {
	a := false
	for _, p := range st.actions {
		if glob(p, action) {
			a = true
			break
		}
	}
	if a == st.notAction {
		return false
	}
	r := false
	for _, p := range st.resources {
		if glob(p, resource) {
			r = true
			break
		}
	}
	return r != st.notResource
}

// denies reports whether a Deny statement covers the request; an
// unevaluated Condition counts as met.
func (p *permPolicy) denies(action, resource string) bool {
	for _, st := range p.statements {
		if st.deny && st.matches(action, resource) {
			return true
		}
	}
	return false
}

// allows reports whether an Allow statement covers the request; an
// unevaluated Condition counts as unmet.
func (p *permPolicy) allows(action, resource string) bool {
	for _, st := range p.statements {
		if !st.deny && !st.hasCondition && st.matches(action, resource) {
			return true
		}
	}
	return false
}

// Allowed reports whether the session may perform action ("service:Action",
// e.g. "secretsmanager:GetSecretValue"; compared case-insensitively) on
// resource (an ARN, or "*" for actions without resource-level permissions),
// as IAM decides for a role session: an explicit Deny in the role's
// identity policy or the session policy wins; otherwise the identity policy
// must allow it, and so must the session policy if the session has one.
// A policy that cannot be read allows nothing.
//
// reason completes AWS's AccessDenied message "User: <AssumedRoleARN> is
// not authorized to perform: <action> on resource: <resource> <reason>",
// e.g. "because no identity-based policy allows the
// secretsmanager:GetSecretValue action"; it is "" when allowed.
//
// The role's Invoke list is not consulted: devkit/runtime applies it for
// lambda:InvokeFunction.
func (s *Session) Allowed(action, resource string) (ok bool, reason string) {
	lower := strings.ToLower(action)
	identity := s.identity
	if identity == nil && s.Policy != "" {
		identity, _ = parseIdentityPolicy([]byte(s.Policy))
	}
	session := s.session
	if session == nil && s.SessionPolicy != "" {
		session, _ = parsePermissionPolicy([]byte(s.SessionPolicy), false)
	}
	if identity != nil && identity.denies(lower, resource) {
		return false, "with an explicit deny in an identity-based policy"
	}
	if session != nil && session.denies(lower, resource) {
		return false, "with an explicit deny in a session policy"
	}
	if identity == nil || !identity.allows(lower, resource) {
		return false, fmt.Sprintf("because no identity-based policy allows the %s action", action)
	}
	if s.SessionPolicy != "" && (session == nil || !session.allows(lower, resource)) {
		return false, fmt.Sprintf("because no session policy allows the %s action", action)
	}
	return true, ""
}
