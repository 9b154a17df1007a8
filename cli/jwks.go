package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/config"
)

func newJWKSCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "jwks",
		Short:   "An issuer's signing keys: snapshots that let a function verify tokens on a cold start",
		Example: `  gatehouse jwks snapshot https://login.microsoftonline.com/<tenant-id>/v2.0 > jwks.json`,
	})
	var caFile, discoveryURL string
	snapshot := &cobra.Command{
		Use:   "snapshot ISSUER [--ca-file F] [--discovery-url U]",
		Short: "Fetch an issuer's signing keys and print them as a snapshot to embed in a build",
		Long: `snapshot fetches ISSUER's discovery document and JWKS with the verifier's own
rules (https only, size limits, the document must name ISSUER exactly, every
key must be a usable public signature key) and prints the keys, with the
issuer, the JWKS URL and the time, as JSON. Embed the file in a function
(gatehouse/lambdaauth Config.Snapshots, or GATEHOUSE_JWKS_SNAPSHOT for the
examples) so a cold start verifies tokens without fetching keys. A snapshot
serves at most max_key_age after it was taken without a successful refresh:
past that the keys are fetched, and an unreachable issuer is refused (503),
never trusted.

For a multi-tenant Entra issuer, ISSUER is the template as the discovery
document names it and --discovery-url says where that document is.`,
		Example: `  gatehouse jwks snapshot https://login.microsoftonline.com/<tenant-id>/v2.0 > jwks.json
  gatehouse jwks snapshot 'https://login.microsoftonline.com/{tenantid}/v2.0' \
      --discovery-url https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration`,
		Args: oneArg("ISSUER", ": the issuer URL, as its tokens name it in iss"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var client *http.Client
			if caFile != "" {
				pool, err := config.LoadCAPool(caFile, true)
				if err != nil {
					return err
				}
				client = config.HTTPClient(pool)
			}
			b, err := authn.FetchSnapshot(cmd.Context(), authn.IssuerConfig{Issuer: args[0], DiscoveryURL: discoveryURL}, client, time.Now())
			if err != nil {
				if isUnknownAuthority(err) {
					return withHint(err, caHintFlag(""))
				}
				return err
			}
			info, err := authn.ReadSnapshot(b)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "gatehouse jwks: %d keys of %s, fetched %s from %s\n", info.Keys, info.Issuer, info.FetchedAt.Format(time.RFC3339), info.JWKSURI)
			_, err = e.stdout.Write(b)
			return err
		},
	}
	snapshot.Flags().StringVar(&caFile, "ca-file", "", "PEM CA to trust for the issuer, besides the system roots (such as the CA of 'gatehouse dev')")
	snapshot.Flags().StringVar(&discoveryURL, "discovery-url", "", "where the discovery document is (default: ISSUER/.well-known/openid-configuration)")
	cmd.AddCommand(snapshot)
	return cmd
}
