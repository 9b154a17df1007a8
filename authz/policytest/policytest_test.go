package policytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
)

const (
	engineering = "15dd7745-cbbe-45b1-9b2a-ee1ef7644785"
	oncall      = "22300eb9-4334-453c-aa9f-e7546063b1c6"
)

// engine is a small policy: engineers read, and oncall may not touch
// admin-* functions.
func engine(t *testing.T) *authz.Engine {
	t.Helper()
	eng, err := authz.New(authz.Config{
		Roles: []authz.Role{
			{Name: "reader", Actions: []string{authz.ActionInvoke}, Functions: []string{"hello", "admin-*"}},
			{Name: "operator", Actions: []string{authz.ActionInvoke, authz.ActionWrite}, Functions: []string{"*"}},
		},
		Rules: []authz.Rule{
			{ID: "engineering-readers", Effect: authz.EffectAllow, Roles: []string{"reader"}, Groups: []authz.GroupRef{{ID: engineering}}},
			{ID: "oncall-not-admin", Effect: authz.EffectDeny, Groups: []authz.GroupRef{{ID: oncall}}, Functions: []string{"admin-*"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

const principals = `
principals:
  eve:
    subject: 2d4acc68-9d83-4609-a6f0-96e989303d16
    tenant: 2e3fd419-1fb6-41f4-a9a1-60531a867149
    kind: user
    groups: [` + engineering + `]
  eve-oncall: {subject: 2d4acc68-9d83-4609-a6f0-96e989303d16, kind: user, groups: [` + engineering + `, ` + oncall + `]}
  nobody: {subject: 4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07, kind: user}
`

func mustParse(t *testing.T, text string) *Suite {
	t.Helper()
	s, err := Parse("tests.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	return s
}

// TestRunPassingSuite: every case holds; a case without a name is named
// by its index.
func TestRunPassingSuite(t *testing.T) {
	s := mustParse(t, principals+`
cases:
  - name: an engineer reads hello
    principal: eve
    resource: function:hello
    expect: allow
    expect_role: reader
    expect_policies: [engineering-readers/reader]
  - principal: nobody
    resource: hello
    expect: deny
  - name: deny wins
    principal: eve-oncall
    action: invoke
    resource: function:admin-reset
    expect: deny
    expect_policies: [oncall-not-admin]
`)
	got := s.Run(engine(t))
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
		if r.Failure != "" {
			t.Errorf("case %q failed: %s", r.Name, r.Failure)
		}
	}
	if diff := cmp.Diff([]string{"an engineer reads hello", "cases[1]", "deny wins"}, names); diff != "" {
		t.Errorf("result names (-want +got):\n%s", diff)
	}
	if !got[0].Decision.Allow || got[0].Decision.Role != "reader" {
		t.Errorf("results[0].Decision = %+v, want allow as reader", got[0].Decision)
	}
}

// TestRunFailingCases: each way a case can fail says why, in the words
// `gatehouse policy test` prints, and the cases after it still run.
func TestRunFailingCases(t *testing.T) {
	eng := engine(t)
	// The reasons the engine gives, asked directly.
	hello := authz.Request{Action: authz.ActionInvoke, Resource: authz.Resource{Kind: authz.ResourceFunction, Name: "hello"}}
	eve := &authn.Principal{Subject: "2d4acc68-9d83-4609-a6f0-96e989303d16", Tenant: "2e3fd419-1fb6-41f4-a9a1-60531a867149",
		Kind: authn.KindUser, Groups: []string{engineering}}
	nobody := &authn.Principal{Subject: "4b1d9a3e-7c52-4f0e-9d2a-6a8e5f3c1b07", Kind: authn.KindUser}
	tests := []struct {
		name, c, want string
	}{
		{"wrong verdict names the reason", `{principal: nobody, resource: function:hello, expect: allow}`,
			"got deny, want allow: " + eng.Decide(nobody, hello).Reason},
		{"allowed where a deny was expected", `{principal: eve, resource: function:hello, expect: deny}`,
			"got allow, want deny: " + eng.Decide(eve, hello).Reason},
		{"wrong role", `{principal: eve, resource: hello, expect: allow, expect_role: operator}`,
			`got role "reader", want "operator"`},
		{"wrong deciding policies", `{principal: eve, resource: hello, expect: allow, expect_policies: [other]}`,
			"deciding policies [engineering-readers/reader], want [other]"},
		{"undefined principal", `{principal: mallory, resource: hello, expect: allow}`,
			`principal "mallory" is not defined in principals`},
		{"malformed resource", `{principal: eve, resource: "bucket:x", expect: allow}`,
			`resource "bucket:x": want function:NAME or route:ID`},
		{"expect neither allow nor deny", `{principal: eve, resource: hello, expect: yes please}`,
			`expect: "yes please", want allow or deny`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, principals+"cases:\n  - "+tt.c+"\n  - {name: after, principal: eve, resource: hello, expect: allow}\n")
			got := s.Run(eng)
			if len(got) != 2 {
				t.Fatalf("Run returned %d results, want 2", len(got))
			}
			if got[0].Failure != tt.want {
				t.Errorf("Failure = %q\nwant      %q", got[0].Failure, tt.want)
			}
			if got[1].Failure != "" {
				t.Errorf("the case after a failing one: Failure = %q, want it to pass", got[1].Failure)
			}
		})
	}
}

// TestRunPrincipalWithoutKind: a principal the verifier could not have
// made fails the cases that use it.
func TestRunPrincipalWithoutKind(t *testing.T) {
	s := mustParse(t, "principals:\n  ghost: {subject: x}\ncases:\n  - {principal: ghost, resource: hello, expect: deny}\n")
	got := s.Run(engine(t))
	if want := `principal "ghost": a principal needs subject and kind (user or app)`; got[0].Failure != want {
		t.Errorf("Failure = %q, want %q", got[0].Failure, want)
	}
}

// TestParseEveryProblem: a malformed file gets every problem at once, in
// file order, each with its line, column and field.
func TestParseEveryProblem(t *testing.T) {
	text := `confg: gatehouse.yaml
principals:
  eve:
    subject: s
    kind: user
    group: [g]
    groups_overage: maybe
    actors: [{sub: a, via: act, app: x, chain: 2}]
  bob: just a string
cases:
  - name: typo in expect
    principal: eve
    resource: hello
    expct: allow
  - name: a list where a string goes
    principal: [eve]
    resource: hello
    expect: allow
    expect_role: reader
    expect_role: operator
  - not a case
`
	_, err := Parse("tests.yaml", []byte(text))
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.Error())
	}
	want := []string{
		`tests.yaml:1:1: confg: unknown field "confg" (want one of config, principals, cases)`,
		`tests.yaml:6:5: principals.eve.group: unknown field "group" (want one of subject, tenant, kind, app, groups, groups_overage, roles, scopes, actors)`,
		`tests.yaml:7:21: principals.eve.groups_overage: must be true or false, not a string`,
		`tests.yaml:8:41: principals.eve.actors[0].chain: unknown field "chain" (want one of sub, app, via)`,
		`tests.yaml:9:8: principals.bob: must be a mapping of fields, not a string`,
		`tests.yaml:14:5: cases[0].expct: unknown field "expct" (want one of name, principal, action, resource, role, expect, expect_role, expect_policies)`,
		`tests.yaml:16:16: cases[1].principal: must be a string, not a list`,
		`tests.yaml:20:5: cases[1].expect_role: duplicate key "expect_role" (first at line 19)`,
		`tests.yaml:21:5: cases[2]: must be a mapping of fields, not a string`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse problems (-want +got):\n%s\nerror:\n%v", diff, err)
	}
}

// TestParseRefusesUnknownFields: a misspelt key anywhere is refused rather
// than dropped, so a typo never turns an expectation off.
func TestParseRefusesUnknownFields(t *testing.T) {
	valid := principals + "cases:\n  - {principal: eve, resource: hello, expect: allow, expect_role: reader}\n"
	mustParse(t, valid)
	tests := []struct{ name, from, to, field string }{
		{"case expectation", "expect_role:", "expect_roles:", "cases[0].expect_roles"},
		{"case field", "resource:", "resources:", "cases[0].resources"},
		{"principal field", "    kind: user\n", "    knd: user\n", "principals.eve.knd"},
		{"top-level section", "cases:", "case:", "case"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := strings.Replace(valid, tt.from, tt.to, 1)
			s, err := Parse("tests.yaml", []byte(text))
			if s != nil || err == nil {
				t.Fatalf("Parse(%s) = %v, %v; want it refused", tt.to, s, err)
			}
			ps := Problems(err)
			if len(ps) == 0 || ps[0].Field != tt.field || !strings.Contains(ps[0].Msg, "unknown field") || ps[0].Line == 0 {
				t.Errorf("Parse(%s) problems = %v, want an unknown field %s with its line first", tt.to, err, tt.field)
			}
		})
	}
}

// TestParseWholeFile: problems of the file as a whole.
func TestParseWholeFile(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty", "", "tests.yaml: no cases"},
		{"only comments", "# nothing yet\n", "tests.yaml: no cases"},
		{"no cases", principals, "tests.yaml: no cases"},
		{"empty cases", principals + "cases: []\n", "tests.yaml: no cases"},
		{"syntax error", "cases:\n  - {principal: eve\n", "tests.yaml:"},
		{"two documents", "cases: [{principal: a}]\n---\ncases: []\n", "tests.yaml:2:1: a policy test file holds one YAML document; another starts here"},
		{"not a mapping", "- a\n- b\n", "tests.yaml:1:1: must be a mapping of fields, not a list"},
		{"anchors", "principals:\n  a: &p {subject: s, kind: user}\n  b: *p\ncases: [{principal: a}]\n", "anchors and aliases are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("tests.yaml", []byte(tt.text))
			if s != nil || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse = %v, %v; want an error containing %q", s, err, tt.want)
			}
		})
	}
}

// TestParseExample: the example suite decodes into every field.
func TestParseExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "policy-tests.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("policy-tests.yaml", b)
	if err != nil {
		t.Fatalf("Parse(examples/policy-tests.yaml) = %v", err)
	}
	if len(s.Cases) != 14 {
		t.Errorf("len(Cases) = %d, want 14", len(s.Cases))
	}
	want := Case{
		Name: "an engineer invokes hello as the least privileged role", Principal: "alice", Resource: "function:hello",
		Expect: "allow", ExpectRole: "reader", ExpectPolicies: []string{"engineering-readers/reader"},
	}
	if diff := cmp.Diff(want, s.Cases[0]); diff != "" {
		t.Errorf("Cases[0] (-want +got):\n%s", diff)
	}
	if s.Cases[2].Role != "operator" || s.Cases[1].Action != "write" {
		t.Errorf("Cases[1].Action = %q, Cases[2].Role = %q; want write, operator", s.Cases[1].Action, s.Cases[2].Role)
	}
	if !s.Principals["carol-overage"].GroupsOverage {
		t.Error("carol-overage: GroupsOverage = false, want true")
	}
	p, err := s.Principals["alice-obo-report-agent"].principal()
	if err != nil {
		t.Fatal(err)
	}
	wantActors := []authn.Actor{{Subject: "8f5c3767-7276-4be0-b5db-808ab516452c", App: "8f5c3767-7276-4be0-b5db-808ab516452c", Via: authn.ActorViaClient}}
	if diff := cmp.Diff(wantActors, p.Actors); diff != "" {
		t.Errorf("alice-obo-report-agent actors (-want +got):\n%s", diff)
	}
	if alice := s.Principals["alice"]; alice.Tenant == "" || alice.App == "" || len(alice.Roles) != 1 || len(alice.Scopes) != 2 {
		t.Errorf("alice = %+v, want tenant, app, one role and two scopes", alice)
	}
}
