package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/internal/wildcard"
)

const invokeAction = "lambda:invokefunction" // IAM compares actions case-insensitively

// Why a session may not invoke, in Lambda's AccessDeniedException words.
const (
	noIdentityPolicy = "because no identity-based policy allows the lambda:InvokeFunction action"
	noSessionPolicy  = "because no session policy allows the lambda:InvokeFunction action"
	sessionDeny      = "with an explicit deny in a session policy"
)

// permitted reports whether the session may call lambda:InvokeFunction on
// the function, as IAM decides for a role session: the role's permission
// policy (its Invoke list: function names or patterns, or ARN patterns,
// with * and ?) must allow it, and so must the session policy if the
// session has one; an explicit Deny in the session policy wins. A session
// policy that cannot be read denies everything; a statement with a
// Condition (not evaluated here) never allows and, if it is a Deny, always
// denies. why is the reason for a refusal.
func permitted(sess *sts.Session, name, resource string) (ok bool, why string) {
	var statements []statement
	if sess.SessionPolicy != "" {
		var err error
		if statements, err = parsePolicy(sess.SessionPolicy); err != nil {
			return false, noSessionPolicy
		}
		for _, st := range statements {
			if st.deny && st.applies(resource, true) {
				return false, sessionDeny
			}
		}
	}
	roleAllows := false
	for _, p := range sess.Invoke {
		target := name
		if strings.HasPrefix(p, "arn:") {
			target = resource
		}
		if glob(p, target) {
			roleAllows = true
			break
		}
	}
	if !roleAllows {
		return false, noIdentityPolicy
	}
	if sess.SessionPolicy == "" {
		return true, ""
	}
	for _, st := range statements {
		if !st.deny && st.applies(resource, false) {
			return true, ""
		}
	}
	return false, noSessionPolicy
}

// statement is one statement of a session policy.
type statement struct {
	deny         bool
	actions      []string
	notAction    bool
	resources    []string
	notResource  bool
	hasCondition bool
}

// applies reports whether the statement covers lambda:InvokeFunction on
// resource. An unevaluated Condition counts as met for a Deny and as unmet
// for an Allow: fail closed either way.
func (st statement) applies(resource string, forDeny bool) bool {
	if st.hasCondition && !forDeny {
		return false
	}
	action := false
	for _, a := range st.actions {
		if glob(strings.ToLower(a), invokeAction) {
			action = true
			break
		}
	}
	if action == st.notAction {
		return false
	}
	res := false
	for _, r := range st.resources {
		if glob(r, resource) {
			res = true
			break
		}
	}
	return res != st.notResource
}

// parsePolicy reads an IAM policy document strictly: duplicate or unknown
// members, a Principal, or a wrong type are errors.
func parsePolicy(doc string) ([]statement, error) {
	var top map[string]jsontext.Value
	if err := json.Unmarshal([]byte(doc), &top); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return nil, fmt.Errorf("policy: unknown member %q", k)
		}
	}
	var raw []map[string]jsontext.Value
	if err := json.Unmarshal(top["Statement"], &raw); err != nil {
		var one map[string]jsontext.Value
		if err := json.Unmarshal(top["Statement"], &one); err != nil {
			return nil, errors.New("policy: Statement must be an object or a list of objects")
		}
		raw = []map[string]jsontext.Value{one}
	}
	if len(raw) == 0 {
		return nil, errors.New("policy: Statement is empty")
	}
	out := make([]statement, 0, len(raw))
	for i, m := range raw {
		var st statement
		for k, v := range m {
			var err error
			switch k {
			case "Sid":
			case "Effect":
				var e string
				if err = json.Unmarshal(v, &e); err == nil && e != "Allow" && e != "Deny" {
					err = errors.New(`want "Allow" or "Deny"`)
				}
				st.deny = e == "Deny"
			case "Action", "NotAction":
				st.actions, err = stringOrList(v)
				st.notAction = k == "NotAction"
			case "Resource", "NotResource":
				st.resources, err = stringOrList(v)
				st.notResource = k == "NotResource"
			case "Condition":
				st.hasCondition = true
			default:
				err = fmt.Errorf("unknown member %q", k)
			}
			if err != nil {
				return nil, fmt.Errorf("policy: statement %d: %s: %w", i+1, k, err)
			}
		}
		_, hasEffect := m["Effect"]
		_, a := m["Action"]
		_, na := m["NotAction"]
		_, r := m["Resource"]
		_, nr := m["NotResource"]
		if !hasEffect || a == na || r == nr {
			return nil, fmt.Errorf("policy: statement %d: want Effect, one of Action and NotAction, one of Resource and NotResource", i+1)
		}
		out = append(out, st)
	}
	return out, nil
}

func stringOrList(v jsontext.Value) ([]string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
		return nil, errors.New("want a string or a non-empty list of strings")
	}
	return list, nil
}

// glob is IAM's wildcard match (internal/wildcard).
func glob(pattern, s string) bool { return wildcard.Match(pattern, s) }
