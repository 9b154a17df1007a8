package config

import (
	"strings"
	"testing"
)

// TestAuthZSection: the authz section is judged by the authz compiler, its
// problems named by field and line of the file.
func TestAuthZSection(t *testing.T) {
	base := string(DefaultYAML())
	tests := []struct {
		name  string
		edit  func(string) string
		field string
		msg   string
	}{
		{"rule keyed on email is refused as nOAuth", func(s string) string {
			return strings.Replace(s, "    - id: finance-readers\n      effect: allow\n", "    - id: finance-readers\n      effect: allow\n      email: [bob@contoso.example]\n", 1)
		}, "authz.rules[1].email", "nOAuth"},
		{"rule keyed on preferred_username is refused", func(s string) string {
			return strings.Replace(s, "    - id: finance-readers\n      effect: allow\n", "    - id: finance-readers\n      effect: allow\n      preferred_username: [bob]\n", 1)
		}, "authz.rules[1].preferred_username", "mutable"},
		{"a UPN in users is refused", func(s string) string {
			return strings.Replace(s, "      roles: [jobs]\n      kind: app\n", "      roles: [jobs]\n      users: [bob@contoso.example]\n", 1)
		}, "authz.rules[3].users[0]", "nOAuth"},
		{"undeclared role", func(s string) string {
			return strings.Replace(s, "      roles: [jobs]\n", "      roles: [jobz]\n", 1)
		}, "authz.rules[3].roles[0]", "not declared"},
		{"role without AWS role", func(s string) string {
			return strings.Replace(s, "      aws_role: arn:aws:iam::000000000000:role/gatehouse-jobs\n", "", 1)
		}, "authz.roles[1].aws_role", "no AWS role"},
		{"AWS role that is not an ARN", func(s string) string {
			return strings.Replace(s, "arn:aws:iam::000000000000:role/gatehouse-jobs", "gatehouse-jobs", 1)
		}, "authz.roles[1].aws_role", "not an IAM role ARN"},
		{"rule that matches everyone", func(s string) string {
			return strings.Replace(s, "      kind: app\n      app_roles: [Jobs.Run]\n", "", 1)
		}, "authz.rules[3]", "every principal"},
		{"policy file that is not cedar", func(s string) string {
			return strings.Replace(s, "\n  agents:\n", "\n  policy_files: [extra.txt]\n  agents:\n", 1)
		}, "authz.policy_files[0]", ".cedar"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.edit(base)
			if text == base {
				t.Fatal("edit did not apply")
			}
			_, err := Parse("gatehouse.yaml", []byte(text))
			var found *Problem
			for _, p := range Problems(err) {
				if p.Field == tc.field {
					found = p
				}
			}
			if found == nil {
				t.Fatalf("Parse = %v; want a problem at %s", err, tc.field)
			}
			if !strings.Contains(found.Msg, tc.msg) || found.Line == 0 {
				t.Errorf("problem = %v; want line set and %q in the message", found, tc.msg)
			}
		})
	}
}

func TestAuthZRuntime(t *testing.T) {
	f := Default()
	c := f.AuthZ.Runtime(nil)
	if len(c.Roles) != 3 || c.Roles[0].Name != "reader" || len(c.Rules) != 5 || len(c.Agents) != 1 {
		t.Fatalf("Runtime() = %+v", c)
	}
	if g := c.Rules[0].Groups[0]; g.ID != "15dd7745-cbbe-45b1-9b2a-ee1ef7644785" || g.Name != "engineering" {
		t.Errorf("group ref = %+v", g)
	}
}
