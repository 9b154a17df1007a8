package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authz/policytest"
)

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
		Example: `  gatehouse policy test policy-tests.yaml
  gatehouse policy test --config gatehouse.yaml policy-tests.yaml`,
		Args: oneArg("FILE", ": a YAML table of policy cases"),
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
	suite, err := policytest.Parse(path, b)
	if err != nil {
		fmt.Fprintln(e.stderr, err) // every problem, one a line
		return exitError{code: 1}
	}
	if configPath == "" && suite.Config != "" {
		configPath = filepath.Join(filepath.Dir(path), suite.Config)
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
	for _, r := range suite.Run(eng) {
		if r.Failure != "" {
			failed++
			fmt.Fprintf(e.stdout, "FAIL  %s\n      %s\n", r.Name, r.Failure)
			continue
		}
		passed++
		fmt.Fprintf(e.stdout, "ok    %s\n", r.Name)
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
