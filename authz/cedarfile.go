package authz

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cedar "github.com/cedar-policy/cedar-go"
	expast "github.com/cedar-policy/cedar-go/x/exp/ast"
)

// file parses Config.Policies[i] and checks each policy against the schema.
func (c *compiler) file(i int) {
	pf := &c.cfg.Policies[i]
	f := fmt.Sprintf("policies[%d]", i)
	name := pf.Name
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		c.addf(f+".name", "a Cedar file needs a name without control characters (got %q)", name)
		return
	}
	for j := range i {
		if c.cfg.Policies[j].Name == name {
			c.addf(f+".name", "Cedar file %q is listed twice", name)
			return
		}
	}
	list, err := cedar.NewPolicyListFromBytes(name, pf.Text)
	if err != nil {
		line, col, msg := parseError(err)
		c.add(name, line, col, f, "%s", msg)
		return
	}
	c.text.WriteString("\n// Cedar file " + strconv.Quote(name) + "\n")
	c.text.Write(pf.Text)
	if len(pf.Text) > 0 && pf.Text[len(pf.Text)-1] != '\n' {
		c.text.WriteString("\n")
	}
	for n, p := range list {
		pos := p.Position()
		id := cedar.PolicyID(fmt.Sprintf("%s#%d", name, n+1))
		if v, ok := p.Annotations()["id"]; ok {
			id = cedar.PolicyID(v)
		}
		if where, dup := c.ids[id]; dup {
			c.add(name, pos.Line, pos.Column, f, "policy id %q is already used (%s)", id, where)
			continue
		}
		c.ids[id] = fmt.Sprintf("%s:%d", name, pos.Line)
		if err := validatePolicy(&compiled{id: id, policy: p}); err != nil {
			var msgs []string
			for _, e := range flatten(err) {
				msgs = append(msgs, e.Error())
			}
			c.add(name, pos.Line, pos.Column, f, "policy %q does not fit the gatehouse schema: %s", id, strings.Join(msgs, "; "))
			continue
		}
		if c.undeclaredRoles(p, name, f, id) || p.Effect() == cedar.Permit && !c.checkPermit(p, name, f, id) {
			continue
		}
		c.policies = append(c.policies, &compiled{
			id: id, policy: p, forbid: p.Effect() == cedar.Forbid, origin: fromFile, name: name, line: pos.Line,
		})
	}
}

// undeclaredRoles reports, as problems, the roles a Cedar policy names that
// Config.Roles does not declare: a forbid on a misspelt role would never
// apply, and a permit on one would never grant.
func (c *compiler) undeclaredRoles(p *cedar.Policy, file, field string, id cedar.PolicyID) bool {
	pos := p.Position()
	found := false
	for _, role := range namedRoles((*expast.Policy)(p.AST())) {
		if _, ok := c.roles[role]; ok {
			continue
		}
		declared := "none is"
		if len(c.cfg.Roles) > 0 {
			names := make([]string, len(c.cfg.Roles))
			for i, r := range c.cfg.Roles {
				names[i] = strconv.Quote(r.Name)
			}
			declared = strings.Join(names, ", ")
		}
		c.add(file, pos.Line, pos.Column, field, "policy %q names role %q, which is not declared in roles (declared: %s): a forbid on it would never apply, a permit never grant",
			id, role, declared)
		found = true
	}
	return found
}

// validatePolicy checks a policy against the gatehouse schema in strict
// mode, as Cedar's validator does.
func validatePolicy(p *compiled) error {
	v, err := validator()
	if err != nil {
		return fmt.Errorf("the gatehouse schema does not load: %w", err)
	}
	return v.Policy("", (*expast.Policy)(p.policy.AST()))
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// parsePos finds the position cedar-go's parser puts in its errors, which
// name the document "<input>" whatever its file name.
var parsePos = regexp.MustCompile(`(?:parser error: )?(?:parse error at )?<input>:(\d+):(\d+):? ?`)

// parseError turns a cedar-go parse error into a line, column and message.
func parseError(err error) (line, col int, msg string) {
	s := err.Error()
	m := parsePos.FindStringSubmatchIndex(s)
	if m == nil {
		return 0, 0, "Cedar syntax error: " + strings.TrimPrefix(s, "parser error: ")
	}
	line, _ = strconv.Atoi(s[m[2]:m[3]])
	col, _ = strconv.Atoi(s[m[4]:m[5]])
	rest := strings.TrimSpace(s[:m[0]] + s[m[1]:])
	return line, col, "Cedar syntax error near " + rest
}
