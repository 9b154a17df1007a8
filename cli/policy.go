package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

func newPolicyCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "policy",
		Short: "Check, show, explain and test the authorization policy",
		Example: `  gatehouse policy check --config gatehouse.yaml
  gatehouse policy explain --token "$(gatehouse token --user alice)" --resource function:hello`,
	})
	cmd.AddCommand(newPolicyCheckCmd(e), newPolicyShowCmd(e), newPolicySchemaCmd(e), newPolicyExplainCmd(e), newPolicyTestCmd(e))
	return cmd
}

// buildPolicy compiles the authz section and its Cedar files, which are
// read relative to the configuration file (or the working directory for the
// embedded configuration).
func buildPolicy(f *config.File, configPath string) (*authz.Engine, error) {
	return build.Policy(f, optionsFor(configPath, nil, "", nil))
}

// printProblems lists every problem of err, one per line: the
// configuration's in file and line order, then the others (which name
// their own files).
func printProblems(w io.Writer, err error) {
	all := leaves(err)
	slices.SortStableFunc(all, func(a, b error) int {
		pa, aok := a.(*config.Problem)
		pb, bok := b.(*config.Problem)
		switch {
		case aok && bok:
			return cmp.Or(cmp.Compare(pa.File, pb.File), cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
		case aok:
			return -1
		case bok:
			return 1
		}
		return 0
	})
	for _, e := range all {
		fmt.Fprintln(w, e)
	}
}

// leaves are the errors joined in err (errors.Join, at any depth), in
// order: each problem once, with its own file and line.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func newPolicyCheckCmd(e *env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "check [--config F]",
		Short: "Validate the rules and Cedar files against the schema; list every problem",
		Example: `  gatehouse policy check
  gatehouse policy check --config gatehouse.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				printProblems(e.stderr, err)
				return exitError{code: 1}
			}
			eng, err := buildPolicy(f, configPath)
			if err != nil {
				printProblems(e.stderr, err)
				return exitError{code: 1}
			}
			for _, w := range eng.Warnings() {
				fmt.Fprintln(e.stderr, "warning:", w)
			}
			fmt.Fprintf(e.stdout, "policy ok: %d roles, %d rules, %d agents, %d Cedar files\n",
				len(f.AuthZ.Roles), len(f.AuthZ.Rules), len(f.AuthZ.Agents), len(f.AuthZ.PolicyFiles))
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	return cmd
}

func newPolicyShowCmd(e *env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "show [--config F]",
		Short: "Print the effective Cedar policy: the compiled rules and the raw Cedar files",
		Example: `  gatehouse policy show
  gatehouse policy show --config gatehouse.yaml > effective.cedar`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			eng, err := buildPolicy(f, configPath)
			if err != nil {
				printProblems(e.stderr, err)
				return exitError{code: 1}
			}
			_, err = io.WriteString(e.stdout, eng.Cedar())
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	return cmd
}

func newPolicySchemaCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "schema",
		Short:   "Print the Cedar schema that policies are checked against",
		Example: `  gatehouse policy schema > gatehouse.cedarschema`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(e.stdout, authz.Schema())
			return err
		},
	}
}

type explainOptions struct {
	configPath, stateDir string
	token, principalFile string
	action, resource     string
	role                 string
	format               string
}

func newPolicyExplainCmd(e *env) *cobra.Command {
	var o explainOptions
	cmd := &cobra.Command{
		Use:   "explain (--token T | --principal FILE) --action A --resource R",
		Short: "Show the decision for a principal and request: allow or deny, the role, the deciding policies and why",
		Example: `  gatehouse policy explain --token "$(gatehouse token --user alice)" --action invoke --resource function:hello
  gatehouse token --user bob | gatehouse policy explain --token - --resource route:api --format json
  gatehouse token --user alice | gatehouse verify - > alice.json
  gatehouse policy explain --principal alice.json --action invoke --resource hello`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runExplain(cmd.Context(), e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory of 'gatehouse dev' (to verify tokens of the development IdP)")
	f.StringVar(&o.token, "token", "", "an access token, verified first (\"-\" reads standard input)")
	f.StringVar(&o.principalFile, "principal", "", "a principal as JSON, as 'gatehouse verify' prints it")
	f.StringVar(&o.action, "action", authz.ActionInvoke, "the action: invoke, read or write")
	f.StringVar(&o.resource, "resource", "", "function:NAME or route:ID (a bare NAME is a function)")
	f.StringVar(&o.role, "role", "", "consider only this role, as a route that names its role does")
	outputFormat(cmd, &o.format, "print the decision as text or json")
	cmd.MarkFlagsMutuallyExclusive("token", "principal")
	cmd.MarkFlagsOneRequired("token", "principal")
	cmd.MarkFlagRequired("resource")
	return cmd
}

func runExplain(ctx context.Context, e *env, o explainOptions) error {
	f, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}
	eng, err := buildPolicy(f, o.configPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	res, err := authz.ParseResource(o.resource)
	if err != nil {
		return err
	}
	var p *authn.Principal
	if o.token != "" {
		raw, err := readToken(e, o.token)
		if err != nil {
			return err
		}
		if p, err = verifyToken(ctx, e, f, o.configPath, o.stateDir, raw, false); err != nil {
			return err
		}
	} else {
		if p, err = readPrincipalFile(o.principalFile); err != nil {
			return err
		}
	}
	d := eng.Decide(p, authz.Request{Action: o.action, Resource: res, Role: o.role})
	if o.format == formatJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			authz.Decision
			Subject string     `json:"subject"`
			Kind    authn.Kind `json:"kind"`
		}{d, p.Subject, p.Kind})
	}
	printDecision(e.stdout, p, d)
	return nil
}

func printDecision(w io.Writer, p *authn.Principal, d authz.Decision) {
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	fmt.Fprintf(w, "decision   %s\n", verdict)
	if d.Role != "" {
		fmt.Fprintf(w, "role       %s\n", d.Role)
	}
	if len(d.Policies) > 0 {
		fmt.Fprintf(w, "policies   %s\n", strings.Join(d.Policies, ", "))
	}
	fmt.Fprintf(w, "reason     %s\n", d.Reason)
	if d.GroupOverage {
		fmt.Fprintln(w, "note       the token's group membership is unknown (group overage)")
	}
	who := fmt.Sprintf("%s (%s", p.Subject, p.Kind)
	if p.Tenant != "" {
		who += ", tenant " + p.Tenant
	}
	if p.App != "" {
		who += ", app " + p.App
	}
	if a := p.Agent(); a != "" && (len(p.Actors) > 0 && p.Actors[0].Via == authn.ActorViaAct) {
		who += ", agent " + a
	}
	fmt.Fprintf(w, "principal  %s)\n", who)
}

func readPrincipalFile(path string) (*authn.Principal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p authn.Principal
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s: not a principal as 'gatehouse verify' prints it: %w", path, err)
	}
	if p.Subject == "" || (p.Kind != authn.KindUser && p.Kind != authn.KindApp) {
		return nil, fmt.Errorf("%s: a principal needs subject and kind (user or app)", path)
	}
	return &p, nil
}
