package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newServeCmd(e *env) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway against real services (this release: check the configuration and the issuers' keys)",
		Long: `serve will run the identity-aware gateway against real identity providers and
AWS. The HTTP gateway is not built yet; in this release serve loads and
validates the configuration, builds the token verifier, fetches every
issuer's keys, reports what it found, and exits non-zero, so a deployment
can already check its configuration. It never serves anything unprotected.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("serve needs --config (the development configuration is for 'gatehouse dev')")
			}
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			v, err := buildVerifier(f, nil, e.log)
			if err != nil {
				return err
			}
			if err := v.Refresh(cmd.Context()); err != nil {
				return fmt.Errorf("issuer keys: %w", err)
			}
			fmt.Fprintf(e.stdout, "configuration %s is valid; keys of %d issuer(s) fetched\n", configPath, len(f.AuthN.Issuers))
			return errors.New("the HTTP gateway is not built yet: nothing to serve")
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file")
	return cmd
}
