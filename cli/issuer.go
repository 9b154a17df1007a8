package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/build"
)

func newIssuerCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "issuer",
		Short:   "gatehouse's own OIDC issuer for AWS (broker mode)",
		Example: `  gatehouse issuer export ./issuer`,
	})
	var configPath, stateDir, url string
	export := &cobra.Command{
		Use:   "export DIR",
		Short: "Write the issuer's discovery document and JWKS as static files for hosting",
		Long: `export writes DIR/.well-known/openid-configuration and the JWKS it names, so
the issuer can be hosted on any static https site (as EKS publishes its
service-account issuer) and registered as an IAM OIDC provider.`,
		Example: `  gatehouse issuer export ./issuer
  gatehouse issuer export --config gatehouse.yaml --url https://issuer.example.com ./site`,
		Args: oneArg("DIR", ": the directory to write the discovery document and JWKS to"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if url == "" {
				url = f.Creds.Issuer.URL
			}
			dir, err := resolveStateDir(stateDir, f.Dev.StateDir)
			if err != nil {
				return err
			}
			if url == "" {
				ep, err := readEndpoints(dir)
				if err != nil {
					return fmt.Errorf("no issuer URL: set creds.issuer.url or --url (%w)", err)
				}
				url = ep.GatehouseIssuer
			}
			is, err := build.Issuer(f, url, optionsFor(configPath, nil, dir, e.log))
			if err != nil {
				return err
			}
			if err := is.Export(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "issuer %s exported to %s\n", is.URL(), args[0])
			return nil
		},
	}
	export.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	export.Flags().StringVar(&stateDir, "state-dir", "", "state directory (where the issuer keys live by default)")
	export.Flags().StringVar(&url, "url", "", "issuer URL (default: creds.issuer.url, else the running 'gatehouse dev')")
	cmd.AddCommand(export)
	return cmd
}
