package authz

import (
	"strings"
	"testing"
)

// TestNewRefuses: every problem is an error at load, naming where it is;
// each case's want lists substrings of the joined error.
func TestNewRefuses(t *testing.T) {
	rule := func(i int, f func(r *Rule)) func(c *Config) { return func(c *Config) { f(&c.Rules[i]) } }
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"unknown role", rule(0, func(r *Rule) { r.Roles = []string{"reader", "auditor"} }),
			[]string{`rules[0].roles[1]: rule "allow-finance": role "auditor" is not declared in roles`}},
		{"role that grants nothing: no actions", func(c *Config) { c.Roles[0].Actions = nil },
			[]string{`roles[0]: role "reader" grants nothing`}},
		{"role that grants nothing: no reach", func(c *Config) { c.Roles[1].Functions, c.Roles[1].Routes = nil, nil },
			[]string{`roles[1]: role "operator" grants nothing`}},
		{"role declared twice", func(c *Config) { c.Roles[2].Name = "reader" },
			[]string{`roles[2].name: role "reader" is declared twice`}},
		{"role name", func(c *Config) { c.Roles[0].Name = `read"er` }, []string{`roles[0].name: role name "read\"er"`}},
		{"unknown action", func(c *Config) { c.Roles[0].Actions = []string{"invoke", "delete"} },
			[]string{`roles[0].actions[1]: role "reader": unknown action "delete"`}},
		{"glob in the middle", func(c *Config) { c.Roles[0].Functions = []string{"re*ports"} },
			[]string{`roles[0].functions[0]: role "reader": "re*ports": '*' is allowed only as the whole name or at its end`}},
		{"name with a quote", func(c *Config) { c.Roles[0].Routes = []string{`a"b`} },
			[]string{`roles[0].routes[0]: role "reader": "a\"b": want letters, digits`}},
		{"rule with no principal condition", rule(1, func(r *Rule) { r.AppRoles = nil }),
			[]string{`rules[1]: rule "allow-readers" has no principal condition and would match every principal`}},
		{"allow rule with no roles", rule(1, func(r *Rule) { r.Roles = nil }),
			[]string{`rules[1].roles: rule "allow-readers" is an allow rule that grants no role`}},
		{"allow rule with a reach", rule(1, func(r *Rule) { r.Functions = []string{"x"} }),
			[]string{`rules[1]: rule "allow-readers": an allow rule grants roles; what a role reaches`}},
		{"deny rule with roles", rule(9, func(r *Rule) { r.Roles = []string{"reader"} }),
			[]string{`rules[9].roles: rule "deny-support-payroll": a deny rule grants no role`}},
		{"effect", rule(1, func(r *Rule) { r.Effect = "permit" }),
			[]string{`rules[1].effect: rule "allow-readers": effect "permit": want "allow" or "deny"`}},
		{"kind", rule(1, func(r *Rule) { r.Kind = "service" }),
			[]string{`rules[1].kind: rule "allow-readers": kind "service"`}},
		{"users never match kind app", rule(1, func(r *Rule) { r.Kind, r.Users = KindApp, []string{userBob} }),
			[]string{`rules[1].users: rule "allow-readers": users never match kind "app"`}},
		{"invalid group id", rule(0, func(r *Rule) { r.Groups[0].ID = "finance" }),
			[]string{`rules[0].groups[0].id: rule "allow-finance": "finance" is not a group object id: want a GUID`}},
		{"group without id", rule(0, func(r *Rule) { r.Groups[0].ID = "" }),
			[]string{`rules[0].groups[0].id: rule "allow-finance": group "finance" has no id`}},
		{"email instead of an object id (nOAuth)", rule(7, func(r *Rule) { r.Users = []string{"carol@contoso.example"} }),
			[]string{`rules[7].users[0]: rule "allow-carol": "carol@contoso.example" looks like an email address or UPN`, "never on email, upn or preferred_username", "nOAuth"}},
		{"invalid tenant id", rule(0, func(r *Rule) { r.Tenants = []string{"contoso.example"} }),
			[]string{`rules[0].tenants[0]: rule "allow-finance": "contoso.example" is not a tenant id`}},
		{"invalid app id", rule(4, func(r *Rule) { r.Apps = []string{"gatehouse-cli"} }),
			[]string{`rules[4].apps[0]: rule "allow-cli-users": "gatehouse-cli" is not an app (client) id`}},
		{"app role with a space", rule(1, func(r *Rule) { r.AppRoles = []string{"Functions Reader"} }),
			[]string{`rules[1].app_roles[0]: rule "allow-readers": "Functions Reader": want 1 to 256 printable characters without spaces`}},
		{"rule id", rule(1, func(r *Rule) { r.ID = "allow/readers" }),
			[]string{`rules[1].id: rule id "allow/readers"`}},
		{"rule id used twice", rule(1, func(r *Rule) { r.ID = "allow-finance" }),
			[]string{`rules[1].id: rule "allow-finance": the id is already used by rules[0]`}},
		{"agent app id", func(c *Config) { c.Agents[0].App = "report-agent" },
			[]string{`agents[0].app: agent "report-agent": "report-agent" is not an app (client) id`}},
		{"agent that may do nothing", func(c *Config) { c.Agents[0].Actions = nil },
			[]string{`agents[0]: agent "` + appReportAgent + `" may do nothing`}},
		{"agent declared twice", func(c *Config) { c.Agents = append(c.Agents, c.Agents[0]) },
			[]string{`agents[1].app: agent "` + appReportAgent + `" is declared twice`}},
		{"Cedar syntax error", func(c *Config) {
			c.Policies = append(c.Policies, PolicyFile{Name: "broken.cedar", Text: []byte("permit (principal, action, resource);\n\nforbid (principal,\n  action resource);\n")})
		}, []string{`broken.cedar:4:18: policies[1]: Cedar syntax error near ")": exact got resource want ,`}},
		{"Cedar that does not fit the schema", func(c *Config) {
			c.Policies = append(c.Policies, PolicyFile{Name: "email.cedar", Text: []byte("// keyed on email\n@id(\"by-email\")\npermit (principal, action, resource)\nwhen { principal.email == \"alice@contoso.example\" };\n")})
		}, []string{`email.cedar:2:1: policies[1]: policy "by-email" does not fit the gatehouse schema: attribute ` + "`email`" + ` on entity type ` + "`Gatehouse::User`" + ` not found`}},
		{"Cedar with an unknown entity type", func(c *Config) {
			c.Policies = append(c.Policies, PolicyFile{Name: "x.cedar", Text: []byte(`permit (principal == Nope::"x", action, resource);`)})
		}, []string{`x.cedar:1:1: policies[1]: policy "x.cedar#1" does not fit the gatehouse schema`}},
		{"Cedar policy id used twice", func(c *Config) {
			c.Policies = append(c.Policies, PolicyFile{Name: "dup.cedar", Text: []byte("@id(\"deny-mallory\")\nforbid (principal, action, resource) when { principal.kind == \"app\" };\n")})
		}, []string{`dup.cedar:1:1: policies[1]: policy id "deny-mallory" is already used (generated)`}},
		{"Cedar file listed twice", func(c *Config) { c.Policies = append(c.Policies, c.Policies[0]) },
			[]string{`policies[1].name: Cedar file "office.cedar" is listed twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sampleConfig()
			tc.change(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatalf("New: no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New: error\n%v\nwant it to contain\n%s", err, w)
				}
			}
		})
	}
}

// TestNewReportsEverything: all problems at once, each a *Problem.
func TestNewReportsEverything(t *testing.T) {
	cfg := sampleConfig()
	cfg.Roles[0].Actions = nil
	cfg.Rules[0].Groups[0].ID = "finance"
	cfg.Rules[1].Roles = []string{"nobody"}
	cfg.Agents[0].App = "x"
	cfg.Policies[0].Text = []byte("permit (")
	_, err := New(cfg)
	probs := Problems(err)
	if len(probs) != 5 {
		t.Fatalf("Problems(New) = %d problems, want 5:\n%v", len(probs), err)
	}
	if p := probs[4]; p.File != "office.cedar" || p.Line != 1 || p.Field != "policies[0]" {
		t.Errorf("last problem = %+v, want office.cedar line 1, policies[0]", p)
	}
}

// TestWarnings: an allow rule that a deny rule makes unreachable loads, with
// a warning (an emergency deny rule must never fail to load).
func TestWarnings(t *testing.T) {
	cfg := sampleConfig()
	cfg.Rules = append(cfg.Rules,
		Rule{ID: "block-carol", Effect: EffectDeny, Users: []string{userCarol}},
		Rule{ID: "deny-reports-to-finance", Effect: EffectDeny, Groups: []GroupRef{{ID: groupFinance}}, Functions: []string{"reports-*", "jobs-*"}, Routes: []string{"*"}},
	)
	e := mustNew(t, cfg)
	want := []string{
		`rule "allow-finance" can never grant role "reader": deny rule "deny-reports-to-finance" forbids everything it would allow`,
		`rule "allow-carol" can never grant role "operator": deny rule "block-carol" forbids everything it would allow`,
	}
	got := e.Warnings()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Warnings() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w := mustNew(t, sampleConfig()).Warnings(); len(w) != 0 {
		t.Errorf("sample Warnings() = %q, want none", w)
	}
}
