package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/build"
)

func newVerifyCmd(e *env) *cobra.Command {
	var configPath, stateDir string
	cmd := &cobra.Command{
		Use:   "verify [--config F] TOKEN|-",
		Short: "Verify an access token and print its Principal as JSON",
		Long: `verify runs every check of the gatehouse verifier on TOKEN (or on standard
input with "-") against the configured issuers, and prints the resulting
Principal as JSON. A rejected token exits 1 and names the failed check; an
issuer whose keys cannot be fetched exits 3. Without --config, the embedded
development configuration is used against the running 'gatehouse dev'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), e, configPath, stateDir, args[0])
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of 'gatehouse dev' (for issuers with authority dev)")
	return cmd
}

func runVerify(ctx context.Context, e *env, configPath, stateDir, arg string) error {
	raw := arg
	if arg == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return err
		}
		raw = string(b)
	}
	raw = strings.TrimSpace(raw)
	f, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	dev, err := devAuthorityFor(f, stateDir)
	if err != nil {
		return err
	}
	v, err := build.Verifier(f, optionsFor(configPath, dev, "", e.log))
	if err != nil {
		return err
	}
	p, err := v.Verify(ctx, raw)
	if err != nil {
		ae := authn.AsError(err)
		fmt.Fprintf(e.stderr, "token rejected: %s check failed: %s (%s)\n", ae.Check, ae.Reason, ae.Kind)
		if ae.Err != nil {
			fmt.Fprintf(e.stderr, "  cause: %v\n", ae.Err)
		}
		if ae.Kind == authn.Unavailable {
			return exitError{code: 3}
		}
		return exitError{code: 1}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
