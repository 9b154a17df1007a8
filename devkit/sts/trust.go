package sts

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"github.com/gatehouse-dev/gatehouse/internal/wildcard"
)

// This file is the IAM trust-policy engine: it parses a role's trust policy
// once (New) into statements and evaluates them per request. It implements
// exactly the subset of the IAM policy grammar that trust policies for web
// identity and role chaining use, and refuses everything else when the
// policy is parsed, so that nothing is silently ignored:
//
//   - Version "2012-10-17" or "2008-10-17" (or none), Id, Statement (one
//     object or a list);
//   - per statement: Sid, Effect (Allow or Deny), Principal ("*" or an
//     object of AWS, Federated, Service), Action (string or list, with * and
//     ? wildcards), Condition;
//   - condition operators StringEquals, StringNotEquals,
//     StringEqualsIgnoreCase, StringNotEqualsIgnoreCase, StringLike,
//     StringNotLike, ArnEquals, ArnLike, ArnNotEquals, ArnNotLike (each with
//     an optional "ForAnyValue:" or "ForAllValues:" prefix and "IfExists"
//     suffix) and Null;
//   - the condition keys listed in conditionKeys and the provider keys
//     "<provider name>:aud", ":sub", ":azp" and ":amr".
//
// Evaluation follows IAM: a request is allowed when some Allow statement
// matches its principal, action and every condition, and no Deny statement
// does (an explicit Deny wins). Within a condition all operators and keys
// must hold; the values listed for one key are alternatives, except for the
// negated operators, where no value may match. Condition key names are
// case-insensitive, values case-sensitive (except the IgnoreCase operators).

// maxTrustPolicyBytes bounds a trust policy (IAM's quota is 2048 characters,
// raisable to 4096; this leaves room for long local provider names).
const maxTrustPolicyBytes = 16 << 10

// policy is a parsed trust policy.
type policy struct {
	statements []statement
}

type statement struct {
	id        string // Sid, or "#n" (1-based) when it has none
	deny      bool
	principal principal
	actions   []string // lower-case patterns
	conds     []condition
}

type principal struct {
	any       bool // "Principal": "*"
	federated []string
	aws       []string
	service   []string // never matched: no service assumes roles here
}

type opKind int

const (
	opEquals opKind = iota
	opEqualsFold
	opLike
	opArn
	opNull
)

type setQualifier int

const (
	setNone setQualifier = iota
	setForAny
	setForAll
)

type condition struct {
	op       string // as written, for messages
	kind     opKind
	negated  bool
	set      setQualifier
	ifExists bool
	key      string // lower-case
	values   []string
}

// baseOperators maps the supported operator names to their meaning.
var baseOperators = map[string]struct {
	kind    opKind
	negated bool
}{
	"StringEquals":              {opEquals, false},
	"StringNotEquals":           {opEquals, true},
	"StringEqualsIgnoreCase":    {opEqualsFold, false},
	"StringNotEqualsIgnoreCase": {opEqualsFold, true},
	"StringLike":                {opLike, false},
	"StringNotLike":             {opLike, true},
	"ArnEquals":                 {opArn, false},
	"ArnLike":                   {opArn, false},
	"ArnNotEquals":              {opArn, true},
	"ArnNotLike":                {opArn, true},
	"Null":                      {opNull, false},
}

// conditionKeys are the global and STS keys this STS sets (lower case), and
// whether each is multi-valued. Provider keys and the tag keys with a
// "/<tag key>" suffix are recognised separately (policyEnv.keyKind).
var conditionKeys = map[string]bool{
	"aws:tagkeys":           true,
	"sts:transitivetagkeys": true,
	"aws:principalarn":      false,
	"aws:principalaccount":  false,
	"aws:principaltype":     false,
	"aws:sourceidentity":    false,
	"aws:federatedprovider": false,
	"sts:rolesessionname":   false,
	"sts:sourceidentity":    false,
	"sts:externalid":        false,
}

// providerClaimKeys are the provider condition keys and whether each is
// multi-valued (spec §6).
var providerClaimKeys = map[string]bool{"aud": false, "sub": false, "azp": false, "amr": true}

// policyEnv is what a trust policy is checked against: the account's
// providers and roles. Principals naming an unknown provider or role of the
// account are refused, as IAM refuses them ("Invalid principal in policy").
type policyEnv struct {
	account      string
	providers    map[string]bool // lower-case provider names
	providerARNs []string        // for messages, in configuration order
	roleARNs     map[string]bool
	roleNames    map[string]bool // last path segment, lower case
}

// keyKind reports whether key (lower case) is a condition key this STS sets.
func (env *policyEnv) keyKind(key string) (known bool) {
	if _, ok := conditionKeys[key]; ok {
		return true
	}
	for _, p := range []string{"aws:requesttag/", "aws:principaltag/"} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			return rest != ""
		}
	}
	// Provider names may contain ':' (a port), claims never do.
	if i := strings.LastIndexByte(key, ':'); i > 0 {
		if _, ok := providerClaimKeys[key[i+1:]]; ok && env.providers[key[:i]] {
			return true
		}
	}
	return false
}

type policyError struct{ msg string }

func (e *policyError) Error() string { return e.msg }

func policyErrorf(format string, args ...any) error {
	return &policyError{msg: fmt.Sprintf(format, args...)}
}

// parseTrustPolicy parses and checks a trust policy.
func parseTrustPolicy(doc []byte, env *policyEnv) (*policy, error) {
	if len(doc) == 0 {
		return nil, policyErrorf("trust policy is empty")
	}
	if len(doc) > maxTrustPolicyBytes {
		return nil, policyErrorf("trust policy is larger than %d bytes", maxTrustPolicyBytes)
	}
	top, err := decodeObject(doc)
	if err != nil {
		return nil, err
	}
	version, err := policyVersion(top)
	if err != nil {
		return nil, err
	}
	for k := range top {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, policyErrorf("unknown top-level element %q (want Version, Id, Statement)", k)
		}
	}
	if id, ok := top["Id"]; ok {
		if _, isString := id.(string); !isString {
			return nil, policyErrorf("Id must be a string")
		}
	}
	raw, err := statementList(top)
	if err != nil {
		return nil, err
	}
	p := &policy{}
	for i, r := range raw {
		st, err := parseStatement(r, i, version, env)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

// decodeObject decodes a JSON object strictly: valid UTF-8, no duplicate
// member names, nothing after it.
func decodeObject(doc []byte) (map[string]any, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, policyErrorf("policy is not valid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, policyErrorf("policy is not a JSON object")
	}
	return m, nil
}

func policyVersion(top map[string]any) (string, error) {
	v, ok := top["Version"]
	if !ok {
		return "2008-10-17", nil
	}
	s, _ := v.(string)
	if s != "2012-10-17" && s != "2008-10-17" {
		return "", policyErrorf("Version must be \"2012-10-17\" or \"2008-10-17\"")
	}
	return s, nil
}

func statementList(top map[string]any) ([]map[string]any, error) {
	var list []any
	switch s := top["Statement"].(type) {
	case nil:
		return nil, policyErrorf("policy has no Statement")
	case map[string]any:
		list = []any{s}
	case []any:
		list = s
	default:
		return nil, policyErrorf("Statement must be an object or a list of objects")
	}
	if len(list) == 0 {
		return nil, policyErrorf("Statement is empty")
	}
	out := make([]map[string]any, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, policyErrorf("statement %d is not an object", i+1)
		}
		out = append(out, m)
	}
	return out, nil
}

func parseStatement(m map[string]any, i int, version string, env *policyEnv) (statement, error) {
	st := statement{id: "#" + strconv.Itoa(i+1)}
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
		case "Sid", "Effect", "Principal", "Action", "Condition":
		case "NotPrincipal", "NotAction":
			return st, policyErrorf("%s: %s is not supported in trust policies here; list what is allowed instead", where, k)
		case "Resource", "NotResource":
			return st, policyErrorf("%s: a trust policy has no %s (the resource is the role itself)", where, k)
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
	var err error
	if st.principal, err = parsePrincipal(m["Principal"], env); err != nil {
		return st, fmt.Errorf("%s: %w", where, err)
	}
	if st.actions, err = parseActions(m["Action"]); err != nil {
		return st, fmt.Errorf("%s: %w", where, err)
	}
	if c, ok := m["Condition"]; ok {
		if st.conds, err = parseConditions(c, version, env); err != nil {
			return st, fmt.Errorf("%s: %w", where, err)
		}
	}
	return st, nil
}

// stringList reads a JSON string or non-empty list of strings.
func stringList(v any, what string) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, policyErrorf("%s is an empty list", what)
		}
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, policyErrorf("%s must be a string or a list of strings", what)
			}
			out = append(out, s)
		}
		return out, nil
	case nil:
		return nil, policyErrorf("%s is missing", what)
	}
	return nil, policyErrorf("%s must be a string or a list of strings", what)
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	actionPattern  = regexp.MustCompile(`^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$`)
)

func parsePrincipal(v any, env *policyEnv) (principal, error) {
	var p principal
	if v == nil {
		return p, policyErrorf("Principal is missing")
	}
	if s, ok := v.(string); ok {
		if s != "*" {
			return p, policyErrorf("Principal must be \"*\" or an object of AWS, Federated, Service")
		}
		p.any = true
		return p, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return p, policyErrorf("Principal must be \"*\" or an object of AWS, Federated, Service")
	}
	for kind, vals := range m {
		list, err := stringList(vals, "Principal."+kind)
		if err != nil {
			return p, err
		}
		switch kind {
		case "Federated":
			for _, f := range list {
				if !slices.Contains(env.providerARNs, f) {
					return p, policyErrorf("Principal.Federated %q is not an OIDC provider of this STS (configured: %s)", f, strings.Join(env.providerARNs, ", "))
				}
			}
			p.federated = append(p.federated, list...)
		case "AWS":
			for _, a := range list {
				if err := env.checkAWSPrincipal(a); err != nil {
					return p, err
				}
			}
			p.aws = append(p.aws, list...)
		case "Service":
			p.service = append(p.service, list...)
		default:
			return p, policyErrorf("Principal type %q is not supported (want AWS, Federated or Service)", kind)
		}
	}
	return p, nil
}

// checkAWSPrincipal accepts "*", an account id, an account's root ARN, a
// role ARN and an assumed-role session ARN. In this STS's own account, the
// role must exist, and there are no IAM users.
func (env *policyEnv) checkAWSPrincipal(a string) error {
	if a == "*" || accountPattern.MatchString(a) {
		return nil
	}
	parts := strings.SplitN(a, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || !accountPattern.MatchString(parts[4]) ||
		strings.ContainsAny(a, "*?") {
		return policyErrorf("Principal.AWS %q is not an account id, \"*\" or a principal ARN (no wildcards)", a)
	}
	own := parts[4] == env.account
	switch res := parts[5]; {
	case parts[2] == "iam" && res == "root":
		return nil
	case parts[2] == "iam" && strings.HasPrefix(res, "role/"):
		if own && !env.roleARNs[a] {
			return policyErrorf("Principal.AWS %q names no role of this STS", a)
		}
		return nil
	case parts[2] == "sts" && strings.HasPrefix(res, "assumed-role/"):
		rest := strings.Split(strings.TrimPrefix(res, "assumed-role/"), "/")
		if len(rest) != 2 || rest[0] == "" || rest[1] == "" {
			return policyErrorf("Principal.AWS %q is not arn:aws:sts::<account>:assumed-role/<role>/<session>", a)
		}
		if own && !env.roleNames[strings.ToLower(rest[0])] {
			return policyErrorf("Principal.AWS %q names no role of this STS", a)
		}
		return nil
	case own:
		return policyErrorf("Principal.AWS %q: this STS has roles and their sessions only", a)
	}
	return nil // another account's principal: valid, never matches here
}

func parseActions(v any) ([]string, error) {
	list, err := stringList(v, "Action")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		if a != "*" && !actionPattern.MatchString(a) {
			return nil, policyErrorf("Action %q is not \"*\" or service:action", a)
		}
		out = append(out, strings.ToLower(a))
	}
	return out, nil
}

func parseConditions(v any, version string, env *policyEnv) ([]condition, error) {
	ops, ok := v.(map[string]any)
	if !ok {
		return nil, policyErrorf("Condition must be an object of operators")
	}
	var out []condition
	// Sorted, so that the first error reported is stable.
	for _, op := range sortedKeys(ops) {
		tmpl, err := parseOperator(op)
		if err != nil {
			return nil, err
		}
		keys, ok := ops[op].(map[string]any)
		if !ok || len(keys) == 0 {
			return nil, policyErrorf("Condition %s must be a non-empty object of condition keys", op)
		}
		for _, k := range sortedKeys(keys) {
			c := tmpl
			c.key = strings.ToLower(k)
			if !env.keyKind(c.key) {
				return nil, policyErrorf("Condition %s: condition key %q is not supported by this STS (supported: %s)", op, k, env.supportedKeys())
			}
			if c.values, err = conditionValues(keys[k], op, k); err != nil {
				return nil, err
			}
			for _, val := range c.values {
				if version == "2012-10-17" && strings.Contains(val, "${") {
					return nil, policyErrorf("Condition %s %s: policy variables (${...}) are not supported by this STS", op, k)
				}
				if c.kind == opNull && val != "true" && val != "false" {
					return nil, policyErrorf("Condition Null %s: value must be true or false", k)
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func parseOperator(op string) (condition, error) {
	c := condition{op: op}
	name := op
	if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		c.set, name = setForAny, rest
	} else if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		c.set, name = setForAll, rest
	}
	if rest, ok := strings.CutSuffix(name, "IfExists"); ok {
		c.ifExists, name = true, rest
	}
	base, ok := baseOperators[name]
	if !ok || (base.kind == opNull && (c.set != setNone || c.ifExists)) {
		return c, policyErrorf("condition operator %q is not supported (supported: String[Not]Equals[IgnoreCase], String[Not]Like, Arn[Not]Equals, Arn[Not]Like, each with optional ForAnyValue:/ForAllValues: and IfExists; Null)", op)
	}
	c.kind, c.negated = base.kind, base.negated
	return c, nil
}

// conditionValues reads a condition's value: a string, boolean or number,
// or a non-empty list of them.
func conditionValues(v any, op, key string) ([]string, error) {
	one := func(e any) (string, bool) {
		switch e := e.(type) {
		case string:
			return e, true
		case bool:
			return strconv.FormatBool(e), true
		case float64:
			return strconv.FormatFloat(e, 'f', -1, 64), true
		}
		return "", false
	}
	if list, ok := v.([]any); ok {
		if len(list) == 0 {
			return nil, policyErrorf("Condition %s %s: empty list of values", op, key)
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := one(e)
			if !ok {
				return nil, policyErrorf("Condition %s %s: values must be strings", op, key)
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, ok := one(v)
	if !ok {
		return nil, policyErrorf("Condition %s %s: value must be a string or a list of strings", op, key)
	}
	return []string{s}, nil
}

func (env *policyEnv) supportedKeys() string {
	keys := []string{"aws:RequestTag/<key>", "aws:TagKeys", "aws:PrincipalTag/<key>", "aws:PrincipalArn",
		"aws:PrincipalAccount", "aws:PrincipalType", "aws:SourceIdentity", "aws:FederatedProvider",
		"sts:RoleSessionName", "sts:SourceIdentity", "sts:TransitiveTagKeys", "sts:ExternalId"}
	for _, p := range env.providerARNs {
		name := p[strings.Index(p, "oidc-provider/")+len("oidc-provider/"):]
		keys = append(keys, name+":{aud,sub,azp,amr}")
	}
	return strings.Join(keys, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// requestContext is what a trust policy is evaluated against.
type requestContext struct {
	federated string   // provider ARN, for AssumeRoleWithWebIdentity
	aws       []string // the caller's identities, for AssumeRole
	// keys holds the condition keys (lower case) present in the request; a
	// multi-valued key may be present with no values.
	keys map[string][]string
}

func (rc *requestContext) set(key string, values ...string) {
	rc.keys[strings.ToLower(key)] = values
}

// decision is the outcome of evaluating one action.
type decision struct {
	allow bool
	by    string // the statement that decided: the Deny that matched or an Allow
}

// evaluate decides whether the policy allows action for the request.
func (p *policy) evaluate(action string, rc *requestContext) decision {
	action = strings.ToLower(action)
	var d decision
	for _, st := range p.statements {
		if !st.principal.matches(rc) || !slices.ContainsFunc(st.actions, func(a string) bool { return glob(a, action) }) {
			continue
		}
		if !slices.ContainsFunc(st.conds, func(c condition) bool { return !c.holds(rc) }) {
			if st.deny {
				return decision{allow: false, by: st.id}
			}
			if !d.allow {
				d = decision{allow: true, by: st.id}
			}
		}
	}
	return d
}

func (p principal) matches(rc *requestContext) bool {
	if p.any {
		return true
	}
	if rc.federated != "" && slices.Contains(p.federated, rc.federated) {
		return true
	}
	// {"AWS": "*"} is the same as "*" (IAM User Guide, Principal element).
	return slices.Contains(p.aws, "*") || slices.ContainsFunc(rc.aws, func(a string) bool { return slices.Contains(p.aws, a) })
}

// holds evaluates one condition key (IAM's rules for absent keys, negated
// operators and set qualifiers).
func (c condition) holds(rc *requestContext) bool {
	vals, present := rc.keys[c.key]
	absent := !present || len(vals) == 0
	if c.kind == opNull {
		for _, v := range c.values {
			if (v == "true") == absent {
				return true
			}
		}
		return false
	}
	if absent && c.ifExists {
		return true
	}
	// one reports whether a single request value satisfies the operator.
	one := func(v string) bool {
		m := slices.ContainsFunc(c.values, func(p string) bool { return c.match(p, v) })
		return m != c.negated
	}
	switch c.set {
	case setForAny:
		return slices.ContainsFunc(vals, one)
	case setForAll:
		return !slices.ContainsFunc(vals, func(v string) bool { return !one(v) })
	}
	if absent {
		return c.negated
	}
	if c.negated {
		// No request value may match any policy value.
		return !slices.ContainsFunc(vals, func(v string) bool { return !one(v) })
	}
	return slices.ContainsFunc(vals, one)
}

func (c condition) match(pattern, v string) bool {
	switch c.kind {
	case opEquals:
		return pattern == v
	case opEqualsFold:
		return strings.EqualFold(pattern, v)
	case opLike:
		return glob(pattern, v)
	case opArn:
		return arnLike(pattern, v)
	}
	return false
}

// glob is IAM's wildcard match (internal/wildcard).
func glob(pattern, s string) bool { return wildcard.Match(pattern, s) }

// arnLike matches an ARN component by component (IAM's ArnLike: each of
// the six colon-separated parts is matched on its own, with wildcards).
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !glob(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

// validateSessionPolicy checks an inline session policy as IAM would
// before accepting it: a policy of Allow/Deny statements with Action or
// NotAction and Resource or NotResource, and no principal.
func validateSessionPolicy(doc string) error {
	if !utf8.ValidString(doc) {
		return policyErrorf("policy is not valid UTF-8")
	}
	top, err := decodeObject([]byte(doc))
	if err != nil {
		return err
	}
	if _, err := policyVersion(top); err != nil {
		return err
	}
	for k := range top {
		if k != "Version" && k != "Id" && k != "Statement" {
			return policyErrorf("unknown top-level element %q", k)
		}
	}
	list, err := statementList(top)
	if err != nil {
		return err
	}
	for i, st := range list {
		where := "statement " + strconv.Itoa(i+1)
		for k := range st {
			switch k {
			case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
			case "Principal", "NotPrincipal":
				return policyErrorf("%s: Policy document should not specify a principal", where)
			default:
				return policyErrorf("%s: unknown element %q", where, k)
			}
		}
		if e := st["Effect"]; e != "Allow" && e != "Deny" {
			return policyErrorf("%s: Effect must be \"Allow\" or \"Deny\"", where)
		}
		if err := exactlyOneList(st, "Action", "NotAction", where); err != nil {
			return err
		}
		if err := exactlyOneList(st, "Resource", "NotResource", where); err != nil {
			return err
		}
		if c, ok := st["Condition"]; ok {
			if _, isObject := c.(map[string]any); !isObject {
				return policyErrorf("%s: Condition must be an object", where)
			}
		}
	}
	return nil
}

func exactlyOneList(st map[string]any, a, b, where string) error {
	va, hasA := st[a]
	vb, hasB := st[b]
	if hasA == hasB {
		return policyErrorf("%s: want exactly one of %s and %s", where, a, b)
	}
	v, name := va, a
	if hasB {
		v, name = vb, b
	}
	list, err := stringList(v, name)
	if err != nil {
		return policyErrorf("%s: %v", where, err)
	}
	if slices.Contains(list, "") {
		return policyErrorf("%s: %s has an empty value", where, name)
	}
	return nil
}
