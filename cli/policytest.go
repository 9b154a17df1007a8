package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"gatehouse/authn"
	"gatehouse/authz"
)

// policyTests is the file `gatehouse policy test` runs: named principals and
// a table of cases, each a request and its expected decision.
type policyTests struct {
	// Config is the configuration the cases test, relative to this file;
	// "" means --config, else the embedded development configuration.
	Config     string                   `yaml:"config"`
	Principals map[string]testPrincipal `yaml:"principals"`
	Cases      []policyCase             `yaml:"cases"`
}

// testPrincipal is a principal as the verifier would make it, in YAML.
type testPrincipal struct {
	Subject       string      `yaml:"subject"`
	Tenant        string      `yaml:"tenant"`
	Kind          string      `yaml:"kind"`
	App           string      `yaml:"app"`
	Groups        []string    `yaml:"groups"`
	GroupsOverage bool        `yaml:"groups_overage"`
	Roles         []string    `yaml:"roles"`
	Scopes        []string    `yaml:"scopes"`
	Actors        []testActor `yaml:"actors"`
}

type testActor struct {
	Sub string `yaml:"sub"`
	App string `yaml:"app"`
	Via string `yaml:"via"`
}

type policyCase struct {
	Name string `yaml:"name"`
	// Principal names an entry of principals.
	Principal string `yaml:"principal"`
	Action    string `yaml:"action"`
	Resource  string `yaml:"resource"`
	Role      string `yaml:"role"`
	// Expect is allow or deny.
	Expect string `yaml:"expect"`
	// ExpectRole, when set, is the role an allowed request must get.
	ExpectRole string `yaml:"expect_role"`
	// ExpectPolicies, when set, are the deciding policy ids, in any order.
	ExpectPolicies []string `yaml:"expect_policies"`
}

func (tp testPrincipal) principal() (*authn.Principal, error) {
	if tp.Subject == "" || (tp.Kind != string(authn.KindUser) && tp.Kind != string(authn.KindApp)) {
		return nil, fmt.Errorf("a principal needs subject and kind (user or app)")
	}
	p := &authn.Principal{
		Subject: tp.Subject, Tenant: tp.Tenant, Kind: authn.Kind(tp.Kind), App: tp.App, Groups: tp.Groups,
		GroupsOverage: tp.GroupsOverage, Roles: tp.Roles, Scopes: tp.Scopes,
	}
	for _, a := range tp.Actors {
		via := a.Via
		if via == "" {
			via = authn.ActorViaAct
		}
		p.Actors = append(p.Actors, authn.Actor{Subject: a.Sub, App: a.App, Via: via})
	}
	return p, nil
}

func newPolicyTestCmd(e *env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "test FILE",
		Short: "Run a YAML table of policy cases (principal + request -> expected decision) like a test suite",
		Long: `test runs every case of FILE against the policy and prints one line per case
and a summary; it exits 1 when a case fails, so policy tests can run in CI.

FILE holds named principals and cases:

  principals:
    alice: {subject: <oid>, tenant: <tid>, kind: user, groups: [<group id>]}
  cases:
    - name: alice invokes hello
      principal: alice
      action: invoke
      resource: function:hello
      expect: allow
      expect_role: reader`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPolicyTest(e, args[0], configPath) },
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the file's config:, else the embedded development configuration)")
	return cmd
}

func runPolicyTest(e *env, path, configPath string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var tests policyTests
	if err := yaml.UnmarshalWithOptions(b, &tests, yaml.Strict()); err != nil {
		return fmt.Errorf("%s: %s", path, yaml.FormatError(err, false, true))
	}
	if len(tests.Cases) == 0 {
		return fmt.Errorf("%s: no cases", path)
	}
	if configPath == "" && tests.Config != "" {
		configPath = filepath.Join(filepath.Dir(path), tests.Config)
	}
	f, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	eng, err := buildPolicy(f, configPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	passed, failed := 0, 0
	for i, c := range tests.Cases {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("cases[%d]", i)
		}
		if msg := runCase(eng, tests.Principals, c); msg != "" {
			failed++
			fmt.Fprintf(e.stdout, "FAIL  %s\n      %s\n", name, msg)
			continue
		}
		passed++
		fmt.Fprintf(e.stdout, "ok    %s\n", name)
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}

// runCase returns "" when c holds, else what went wrong.
func runCase(eng *authz.Engine, principals map[string]testPrincipal, c policyCase) string {
	tp, ok := principals[c.Principal]
	if !ok {
		return fmt.Sprintf("principal %q is not defined in principals", c.Principal)
	}
	p, err := tp.principal()
	if err != nil {
		return fmt.Sprintf("principal %q: %v", c.Principal, err)
	}
	res, err := parseResource(c.Resource)
	if err != nil {
		return err.Error()
	}
	if c.Expect != "allow" && c.Expect != "deny" {
		return fmt.Sprintf("expect: %q, want allow or deny", c.Expect)
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
		return fmt.Sprintf("got %s, want %s: %s", got, c.Expect, d.Reason)
	case c.ExpectRole != "" && d.Role != c.ExpectRole:
		return fmt.Sprintf("got role %q, want %q", d.Role, c.ExpectRole)
	case c.ExpectPolicies != nil && !sameSet(d.Policies, c.ExpectPolicies):
		return fmt.Sprintf("deciding policies %v, want %v", d.Policies, c.ExpectPolicies)
	}
	return ""
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
