package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/mint"
)

type initOptions struct {
	dir         string
	entraTenant string
	authority   string
	issuer      string
	audiences   []string
	publicURL   string
	listen      string // gateway.listen
	awsAccount  string
	region      string
	dev         bool
	stateDir    string
	force       bool
	issuerKey   string // --issuer-key: aws-kms:KEY or azure-keyvault:VAULT/keys/NAME
}

func newInitCmd(e *env) *cobra.Command {
	var o initOptions
	cmd := &cobra.Command{
		Use:   "init (--entra-tenant ID | --issuer URL) --audience AUD [--dir DIR]  |  init --dev",
		Short: "Write a serve configuration and create every key it needs",
		Long: `init writes DIR/gatehouse.yaml, a configuration for 'gatehouse serve', and
creates the keys it names, each readable by you alone: gatehouse's issuer
signing keys (keys/issuer), the audit pseudonym key (keys/audit-key) and the
checkpoint signing key (keys/audit-signing.pem). An existing key is never
replaced; an existing gatehouse.yaml only with --force.

For your identity provider, give --entra-tenant (an Entra tenant id) or
--issuer (an OpenID Connect issuer URL), and --audience (your API's client
id or App ID URI). Edit the roles, rules and routes it writes, then run
'gatehouse serve --check' and 'gatehouse serve'.

With --dev it writes a configuration for the running 'gatehouse dev': serve
then uses the development IdP, the local STS, the local Lambda host and the
development upstream, so the production entry point runs on a laptop.`,
		Example: `  gatehouse init --entra-tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --audience api://my-api --public-url https://gatehouse.example.com
  gatehouse init --issuer https://auth.example.com --audience https://api.example.com
  gatehouse init --dev --dir /tmp/gh && gatehouse serve --check --config /tmp/gh/gatehouse.yaml && gatehouse serve --config /tmp/gh/gatehouse.yaml
  gatehouse init --dev --dir /tmp/gh2 --gateway-listen 127.0.0.1:8481`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "gatehouse", "directory for gatehouse.yaml and its keys")
	f.StringVar(&o.entraTenant, "entra-tenant", "", "Microsoft Entra tenant id (GUID) whose tokens are accepted")
	f.StringVar(&o.authority, "authority", config.AuthorityMicrosoft, "Entra authority (a national cloud's, if not the public one)")
	f.StringVar(&o.issuer, "issuer", "", "OpenID Connect issuer URL whose tokens are accepted (instead of --entra-tenant)")
	f.StringSliceVar(&o.audiences, "audience", nil, "accepted token audience: the API's client id or App ID URI (repeatable)")
	f.StringVar(&o.publicURL, "public-url", "", "the gateway's public https URL (also gatehouse's issuer for AWS)")
	f.StringVar(&o.listen, "gateway-listen", "", "gateway.listen: the address serve listens on (default 127.0.0.1:8480: behind a TLS-terminating proxy)")
	f.StringVar(&o.awsAccount, "aws-account", "123456789012", "AWS account of the IAM roles")
	f.StringVar(&o.region, "region", "us-east-1", "AWS region of STS and the functions")
	f.BoolVar(&o.dev, "dev", false, "configure serve against the running 'gatehouse dev'")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory of 'gatehouse dev' (with --dev)")
	f.BoolVar(&o.force, "force", false, "replace an existing gatehouse.yaml (keys are never replaced)")
	f.StringVar(&o.issuerKey, "issuer-key", "", "keep the issuer's signing key in a vault: aws-kms:alias/NAME or azure-keyvault:https://VAULT.vault.azure.net/keys/NAME (init prints the commands that create it)")
	return cmd
}

func runInit(e *env, o initOptions) error {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	o.listen = cmpOr(o.listen, "127.0.0.1:8480")
	if o.issuerKey != "" && o.dev {
		return errors.New("--issuer-key is for a serve configuration of your own: under --dev, the issuer is gatehouse dev's")
	}
	if _, err := o.parseIssuerKey(); err != nil {
		return err
	}
	var text []byte
	switch {
	case o.dev:
		text, err = devServeConfig(o)
	case (o.entraTenant == "") == (o.issuer == ""):
		return errors.New("init needs --entra-tenant ID or --issuer URL (or --dev, for the running 'gatehouse dev')")
	case len(o.audiences) == 0:
		return errors.New("init needs --audience: the API's client id or App ID URI, the aud of the tokens gatehouse accepts")
	default:
		text, err = serveTemplate(o)
	}
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	if _, err := os.Stat(path); err == nil && !o.force {
		return fmt.Errorf("%s exists: keep it, or run init again with --force (keys are never replaced)", path)
	}
	// The file must read back as a serve configuration before it is written.
	f, err := config.ParseFor(path, text, config.WhereServe)
	if err != nil {
		for _, p := range config.Problems(err) {
			if p.Field == "gateway.listen" {
				return fmt.Errorf("--gateway-listen: %s", p.Msg)
			}
		}
		return fmt.Errorf("init wrote a configuration serve would refuse (a bug): %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	opts := optionsFor(path, nil, "", e.log)
	if err := build.CreateAuditKeys(f, opts); err != nil {
		return err
	}
	if !o.dev && o.issuerKey == "" { // under --dev, gatehouse dev's issuer keys are used as they are
		if _, err := mint.NewIssuer(mint.Config{URL: f.Creds.Issuer.URL, KeyDir: opts.Path(f.Creds.Issuer.KeyDir), Logger: e.log}); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and its keys\n\nnext:\n", path)
	if !o.dev {
		fmt.Fprintf(e.stdout, "  edit the roles, rules and routes in %s\n", path)
		fmt.Fprintf(e.stdout, "  %s aws trust-policy --config %s --role reader   # the IAM trust policy each role needs\n", selfCommand(), path)
	}
	if ref, _ := o.parseIssuerKey(); !ref.IsZero() {
		printVaultKeyCommands(e.stdout, ref, o.region)
	}
	fmt.Fprintf(e.stdout, "  %s serve --check --config %s\n", selfCommand(), path)
	fmt.Fprintf(e.stdout, "  %s serve --config %s\n", selfCommand(), path)
	return nil
}

// devServeConfig is the development configuration turned into a serve
// configuration for the running `gatehouse dev`: its IdP (an Entra
// authority trusted through the development CA), its STS and Lambda host,
// its upstream, and gatehouse dev's own issuer (its URL and keys, which
// the local STS trusts); the audit trail and its keys in the new
// directory.
func devServeConfig(o initOptions) ([]byte, error) {
	f := config.Default()
	stateDir, err := resolveStateDir(o.stateDir, f.Dev.StateDir)
	if err != nil {
		return nil, err
	}
	ep, err := readEndpoints(stateDir)
	if err != nil {
		return nil, fmt.Errorf("--dev configures serve against the running 'gatehouse dev': %w", err)
	}
	for i := range f.AuthN.Issuers {
		if e := f.AuthN.Issuers[i].Entra; e != nil && e.Authority == config.AuthorityDev {
			e.Authority = ep.IDP
			e.V1Issuer = ep.IDP + "/{tenantid}/"
			f.AuthN.Issuers[i].CAFile = ep.CAFile
		}
	}
	f.Creds.Issuer = config.CredsIssuer{URL: ep.GatehouseIssuer, KeyDir: filepath.Join(stateDir, "issuer")}
	f.Creds.STS = config.STSEndpoint{Endpoint: ep.STS, Region: f.Creds.STS.Region, CAFile: ep.CAFile}
	f.Gateway.Lambda = config.LambdaEndpoint{Endpoint: ep.Lambda, CAFile: ep.CAFile}
	for i := range f.Gateway.Routes {
		if u := f.Gateway.Routes[i].Upstream; u != nil && u.URL == config.UpstreamDev {
			u.URL = ep.Upstream
		}
	}
	f.Gateway.Listen, f.Gateway.PublicURL, f.Gateway.AdminListen = o.listen, "http://"+o.listen, config.AdminOff
	f.Audit.Path, f.Audit.KeyFile, f.Audit.SigningKeyFile = "audit.db", "keys/audit-key", "keys/audit-signing.pem"
	f.Dev = config.Dev{}
	b, err := f.Marshal()
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# gatehouse.yaml: written by `gatehouse init --dev` on %s for `gatehouse serve`\n"+
		"# against the running `gatehouse dev` (state %s): its IdP, STS, Lambda host\n"+
		"# and upstream, and its issuer keys, which its STS trusts.\n", time.Now().UTC().Format(time.DateOnly), stateDir)
	return append([]byte(head), b...), nil
}

// serveTemplate is a configuration for an identity provider of the
// caller's: a starting point whose roles, rules and routes are to be
// edited, commented as a reader expects.
func serveTemplate(o initOptions) ([]byte, error) {
	if o.publicURL == "" {
		o.publicURL = "https://gatehouse.example.com"
	}
	var b bytes.Buffer
	err := serveTmpl.Execute(&b, struct {
		initOptions
		Date string
	}{o, time.Now().UTC().Format(time.DateOnly)})
	return b.Bytes(), err
}

var serveTmpl = template.Must(template.New("serve").Funcs(template.FuncMap{
	"list": func(s []string) string { return "[" + strings.Join(quoteAll(s), ", ") + "]" },
}).Parse(`# gatehouse.yaml: written by ` + "`gatehouse init`" + ` on {{.Date}} for ` + "`gatehouse serve`" + `.
# Edit the roles, rules and routes below, then:
#   gatehouse serve --check --config gatehouse.yaml
# Relative paths start in this file's directory.

# authn: who may call, as proven by which tokens.
authn:
  issuers:
{{- if .EntraTenant}}
    - name: entra
      type: entra
      entra:
        authority: {{.Authority}}
        tenant: {{.EntraTenant}}
{{- else}}
    - name: idp
      type: oidc
      issuer: {{.Issuer}}
{{- end}}
      audiences: {{list .Audiences}}

# authz: what callers may do. Rules key on group object ids, app roles and
# scopes, never on e-mail addresses. See docs/policy.md.
authz:
  roles:
    - name: reader
      aws_role: arn:aws:iam::{{.AWSAccount}}:role/gatehouse-reader
      actions: [invoke, read]
      functions: [hello]
  rules:
    - id: readers
      effect: allow
      roles: [reader]
      app_roles: [Gatehouse.Read]

# creds: how a decision's role becomes short-lived AWS credentials. In
# broker mode AWS trusts gatehouse's own issuer: register it as an IAM OIDC
# provider and give each role the trust policy
#   gatehouse aws trust-policy --config gatehouse.yaml --role reader
# prints (docs/aws-setup.md).
creds:
  mode: broker
  issuer:
    url: {{.PublicURL}}
    key_dir: keys/issuer
{{- with .KeyRef}}
    # The signing key never leaves the vault: gatehouse signs through it.
    # Rotate there (a new key behind the alias, or a new key version);
    # gatehouse publishes the new key publish_ahead before it signs.
    signing_key:
{{- if .AWSKMS}}
      aws_kms: {key_id: {{.AWSKMS.KeyID}}}
{{- else}}
      azure_key_vault: {vault: "{{.AzureKeyVault.Vault}}", name: {{.AzureKeyVault.Name}}}
{{- end}}
{{- end}}
  sts:
    region: {{.Region}}

# gateway: what serve listens on and routes.
gateway:
  listen: {{.Listen}}              # plain HTTP only on loopback: put a TLS proxy in front, or set tls_cert_file and tls_key_file
  public_url: {{.PublicURL}}
  routes:
    - id: hello
      method: GET
      path: /hello
      function: hello

# audit: one event per request, chained and signed.
audit:
  sink: sqlite
  path: audit.db
  key_file: keys/audit-key
  signing_key_file: keys/audit-signing.pem
`))

func (o initOptions) AWSAccount() string  { return o.awsAccount }
func (o initOptions) Region() string      { return o.region }
func (o initOptions) Listen() string      { return o.listen }
func (o initOptions) PublicURL() string   { return o.publicURL }
func (o initOptions) EntraTenant() string { return o.entraTenant }
func (o initOptions) Authority() string   { return o.authority }
func (o initOptions) Issuer() string      { return o.issuer }
func (o initOptions) Audiences() []string { return o.audiences }

// KeyRef is --issuer-key as the template writes it; nil without one.
func (o initOptions) KeyRef() *config.KeyRef {
	if r, err := o.parseIssuerKey(); err == nil && !r.IsZero() {
		return &r
	}
	return nil
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseIssuerKey reads --issuer-key: aws-kms:KEY (an alias, key id or
// ARN) or azure-keyvault:https://VAULT.vault.azure.net/keys/NAME, the
// forms `gatehouse secrets` prints.
func (o initOptions) parseIssuerKey() (config.KeyRef, error) {
	var r config.KeyRef
	switch {
	case o.issuerKey == "":
		return r, nil
	case strings.HasPrefix(o.issuerKey, "aws-kms:"):
		r.AWSKMS = &config.KMSKey{KeyID: strings.TrimPrefix(o.issuerKey, "aws-kms:")}
	case strings.HasPrefix(o.issuerKey, "azure-keyvault:"):
		vault, name, ok := strings.Cut(strings.TrimPrefix(o.issuerKey, "azure-keyvault:"), "/keys/")
		if !ok {
			return r, fmt.Errorf("--issuer-key %s: want azure-keyvault:https://VAULT.vault.azure.net/keys/NAME", o.issuerKey)
		}
		r.AzureKeyVault = &config.AzureKey{Vault: vault, Name: name}
	default:
		return r, fmt.Errorf("--issuer-key %s: want aws-kms:alias/NAME or azure-keyvault:https://VAULT.vault.azure.net/keys/NAME", o.issuerKey)
	}
	f := config.Default()
	f.Creds.Issuer.SigningKey = r
	for _, p := range config.Problems(f.Validate()) {
		if strings.HasPrefix(p.Field, "creds.issuer.signing_key") {
			return r, fmt.Errorf("--issuer-key %s: %s", o.issuerKey, p.Msg)
		}
	}
	return r, nil
}

// printVaultKeyCommands prints how to create the issuer's key in its vault
// and what gatehouse's identity may do with it.
func printVaultKeyCommands(w io.Writer, r config.KeyRef, region string) {
	if k := r.AWSKMS; k != nil {
		fmt.Fprintf(w, "  # the issuer's key, in KMS (RSA 2048; ECC_NIST_P256 signs ES256):\n")
		fmt.Fprintf(w, "  aws kms create-key --region %s --key-spec RSA_2048 --key-usage SIGN_VERIFY --description 'gatehouse issuer' --query KeyMetadata.KeyId --output text\n", region)
		if strings.HasPrefix(k.KeyID, "alias/") {
			fmt.Fprintf(w, "  aws kms create-alias --region %s --alias-name %s --target-key-id KEY_ID_PRINTED_ABOVE\n", region, k.KeyID)
		}
		fmt.Fprintf(w, "  # gatehouse's role needs kms:GetPublicKey and kms:Sign on that key; rotate with a new key and\n")
		fmt.Fprintf(w, "  # aws kms update-alias --alias-name %s --target-key-id NEW_KEY_ID\n", k.KeyID)
		return
	}
	k := r.AzureKeyVault
	vault := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(k.Vault, "https://"), "http://"), "/")
	vault, _, _ = strings.Cut(vault, ".")
	fmt.Fprintf(w, "  # the issuer's key, in Key Vault (RSA 2048; --kty EC --curve P-256 signs ES256):\n")
	fmt.Fprintf(w, "  az keyvault key create --vault-name %s --name %s --kty RSA --size 2048 --ops sign verify\n", vault, k.Name)
	fmt.Fprintf(w, "  # gatehouse's identity needs keys get and sign (the Key Vault Crypto User role); rotate with\n")
	fmt.Fprintf(w, "  # az keyvault key rotate --vault-name %s --name %s\n", vault, k.Name)
}
