package cli

import (
	"context"
	"encoding/json"

	"github.com/spf13/cobra"
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
		Example: `  gatehouse token --user alice | gatehouse verify -
  gatehouse verify "$TOKEN"
  gatehouse verify --config gatehouse.yaml -  < token.txt`,
		Args: oneArg("TOKEN", ", or - to read it from standard input"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), e, configPath, stateDir, args[0])
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of 'gatehouse dev' (for issuers with authority dev)")
	return cmd
}

func runVerify(ctx context.Context, e *env, configPath, stateDir, arg string) error {
	raw, err := readToken(e, arg)
	if err != nil {
		return err
	}
	f, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	p, err := verifyToken(ctx, e, f, configPath, stateDir, raw, false)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}
