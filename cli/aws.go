package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
)

func newAWSCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "aws",
		Short: "AWS side of gatehouse: trust policies for the roles, a CloudFormation template of them, and credentials for a token",
		Example: `  gatehouse aws trust-policy --role reader
  gatehouse aws template --config gatehouse.yaml > gatehouse-aws.yaml
  gatehouse aws credentials --token "$(gatehouse token --user alice)" --resource function:hello`,
	})
	cmd.AddCommand(newTrustPolicyCmd(e), newAWSCredentialsCmd(e), newAWSTemplateCmd(e))
	return cmd
}

// awsTarget is where the creds step talks to: gatehouse's issuer, STS, and
// the HTTP client that reaches them.
type awsTarget struct {
	issuerURL, stsURL string
	client            *http.Client
	stateDir          string
}

// resolveAWSTarget reads the creds section; "dev" endpoints come from the
// running `gatehouse dev` through the state directory.
func resolveAWSTarget(f *config.File, stateDirFlag string) (*awsTarget, error) {
	stateDir, err := resolveStateDir(stateDirFlag, f.Dev.StateDir)
	if err != nil {
		return nil, err
	}
	t := &awsTarget{issuerURL: f.Creds.Issuer.URL, stsURL: f.Creds.STS.Endpoint, stateDir: stateDir}
	if t.stsURL != config.EndpointDev && t.issuerURL != "" {
		return t, nil
	}
	ep, err := readEndpoints(stateDir)
	if err != nil {
		return nil, err
	}
	if t.issuerURL == "" {
		t.issuerURL = ep.GatehouseIssuer
	}
	if t.stsURL == config.EndpointDev {
		t.stsURL = ep.STS
	}
	if ep.CAFile != "" {
		pool, err := config.LoadCAPool(ep.CAFile, true)
		if err != nil {
			return nil, err
		}
		t.client = config.HTTPClient(pool)
	}
	return t, nil
}

func newTrustPolicyCmd(e *env) *cobra.Command {
	var configPath, stateDir, role, principal string
	cmd := &cobra.Command{
		Use:   "trust-policy --role NAME",
		Short: "Print the IAM trust policy a logical role's AWS role needs for its credentials mode",
		Long: `trust-policy prints the AssumeRolePolicyDocument of the IAM role behind a
logical role of authz.roles, for the mode creds gives it: broker (gatehouse's
issuer, audience sts.amazonaws.com, subject pinned to the role), web_identity
(the callers' Entra issuer and API audience) or assume_role (--principal, the
ARN of gatehouse's own IAM role). See docs/aws-setup.md.`,
		Example: `  gatehouse aws trust-policy --role reader
  gatehouse aws trust-policy --config gatehouse.yaml --role operator > trust.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			var r *creds.Role
			for _, cr := range f.CredsRoles() {
				if cr.Name == role {
					r = &cr
				}
			}
			if r == nil {
				return fmt.Errorf("no role %q in authz.roles", role)
			}
			doc, err := roleTrustPolicy(f, *r, stateDir, principal)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(e.stdout, string(doc))
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (default: the embedded development configuration)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of 'gatehouse dev' (for dev issuer URLs)")
	cmd.Flags().StringVar(&role, "role", "", "logical role (authz.roles[].name)")
	cmd.Flags().StringVar(&principal, "principal", "", "assume_role mode: the ARN of gatehouse's own IAM role")
	cmd.MarkFlagRequired("role")
	return cmd
}

// roleTrustPolicy is the trust policy of r's IAM role for its mode, as
// `aws trust-policy` prints it and `aws template` writes it: the account
// of r's ARN, gatehouse's issuer (broker), the callers' Entra issuer and
// audience (web_identity), or principal (assume_role).
func roleTrustPolicy(f *config.File, r creds.Role, stateDir, principal string) ([]byte, error) {
	params := creds.TrustParams{AccountID: build.ARNAccount(r.ARN), IssuerURL: f.Creds.Issuer.URL, Principal: principal}
	if r.Mode == creds.ModeBroker && params.IssuerURL == "" {
		t, err := resolveAWSTarget(f, stateDir)
		if err != nil {
			return nil, fmt.Errorf("creds.issuer.url is not set and %w", err)
		}
		params.IssuerURL = t.issuerURL
	}
	if r.Mode == creds.ModeWebIdentity {
		var err error
		params.ProviderURL, params.Audience, err = webIdentityProvider(f, stateDir)
		if err != nil {
			return nil, err
		}
	}
	return creds.TrustPolicy(r, params)
}

// webIdentityProvider is the issuer and audience of the callers' tokens: the
// first Entra issuer's v2.0 issuer and its first audience.
func webIdentityProvider(f *config.File, stateDir string) (string, string, error) {
	for _, is := range f.AuthN.Issuers {
		if is.Entra == nil || is.Entra.MultiTenant() || len(is.Audiences) == 0 {
			continue
		}
		authority := is.Entra.Authority
		if authority == config.AuthorityDev {
			dir, err := resolveStateDir(stateDir, f.Dev.StateDir)
			if err != nil {
				return "", "", err
			}
			ep, err := readEndpoints(dir)
			if err != nil {
				return "", "", err
			}
			authority = ep.IDP
		}
		return authority + "/" + is.Entra.Tenant + "/v2.0", is.Audiences[0], nil
	}
	return "", "", errors.New("web_identity needs a single-tenant Entra issuer in authn.issuers to name as the IAM OIDC provider")
}

type awsCredsOptions struct {
	configPath, stateDir string
	token                string
	action, resource     string
	role                 string
	format               string
	callerIdentity       bool
}

func newAWSCredentialsCmd(e *env) *cobra.Command {
	var o awsCredsOptions
	cmd := &cobra.Command{
		Use:   "credentials --token T --resource R",
		Short: "Run authn, authz and creds for a token and print the short-lived AWS credentials it gets",
		Long: `credentials runs the first three steps of the pipeline on a token: verify it,
decide by policy (action on resource), and get credentials for the decided
role, narrowed by a session policy to the one function. It prints them in
the AWS CLI's credential_process format (or as env exports, or JSON with the
session details). A denial exits 1 with the reason (403); an STS outage
exits 3 (503).`,
		Example: `  gatehouse aws credentials --token "$(gatehouse token --user alice)" --resource function:hello --caller-identity
  gatehouse token --user alice | gatehouse aws credentials --token - --resource function:hello --format env`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAWSCredentials(cmd.Context(), e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory of 'gatehouse dev'")
	f.StringVar(&o.token, "token", "", "the caller's access token (\"-\" reads standard input)")
	f.StringVar(&o.action, "action", authz.ActionInvoke, "the action: invoke, read or write")
	f.StringVar(&o.resource, "resource", "", "function:NAME or route:ID (a bare NAME is a function)")
	f.StringVar(&o.role, "role", "", "consider only this logical role")
	formatFlag(cmd, f, &o.format, "format", "process", "process (credential_process JSON), env (shell exports) or json (with session details)", "process", "env", formatJSON)
	f.BoolVar(&o.callerIdentity, "caller-identity", false, "also call sts:GetCallerIdentity with the credentials and print who AWS says they are")
	cmd.MarkFlagRequired("token")
	cmd.MarkFlagRequired("resource")
	return cmd
}

func runAWSCredentials(ctx context.Context, e *env, o awsCredsOptions) error {
	f, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}
	raw, err := readToken(e, o.token)
	if err != nil {
		return err
	}
	res, err := authz.ParseResource(o.resource)
	if err != nil {
		return err
	}
	// 1 authn: 401, or 503 (exit 3) when the issuer's keys cannot be fetched
	p, err := verifyToken(ctx, e, f, o.configPath, o.stateDir, raw, true)
	if err != nil {
		return err
	}
	// 2 authz
	eng, err := build.Policy(f, optionsFor(o.configPath, nil, "", e.log))
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	d := eng.Decide(p, authz.Request{Action: o.action, Resource: res, Role: o.role})
	if !d.Allow {
		fmt.Fprintf(e.stderr, "403 denied: %s\n", d.Reason)
		return exitError{code: 1}
	}
	// 3 creds
	target, err := resolveAWSTarget(f, o.stateDir)
	if err != nil {
		return err
	}
	opts := optionsFor(o.configPath, nil, target.stateDir, e.log)
	if f.Creds.STS.CAFile != "" { // as serve reaches STS
		if target.client, err = build.CAClient(f.Creds.STS.CAFile, opts); err != nil {
			return fmt.Errorf("creds.sts.ca_file: %w", err)
		}
	}
	issuer, err := build.Issuer(f, target.issuerURL, opts)
	if err != nil {
		return err
	}
	awsCfg, err := build.AWS(ctx, f)
	if err != nil {
		return err
	}
	client := build.STS(awsCfg, target.stsURL, target.client)
	broker, err := creds.New(build.Creds(f, issuer, client, opts))
	if err != nil {
		return err
	}
	req := creds.Request{Principal: p, Role: d.Role, Token: raw}
	if res.Kind == authz.ResourceFunction {
		req.SessionPolicy = creds.InvokePolicy(build.FunctionARN(f, res.Name))
	}
	s, err := broker.Credentials(ctx, req)
	if err != nil {
		var ce *creds.Error
		if errors.As(err, &ce) {
			fmt.Fprintf(e.stderr, "%d %s\n", ce.Status, ce.Reason)
			if isUnknownAuthority(err) {
				fmt.Fprintf(e.stderr, "hint: STS's certificate is signed by an authority this system does not trust: set creds.sts.ca_file in the configuration to the CA's PEM file (the CA of 'gatehouse dev' is %s)\n", devCAFile(target.stateDir))
			}
			if ce.Status == http.StatusServiceUnavailable {
				return exitError{code: exitUnavailable}
			}
			return exitError{code: 1}
		}
		return err
	}
	if err := printCredentials(e.stdout, o.format, d, s); err != nil {
		return err
	}
	if o.callerIdentity {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(opt *sts.Options) {
			opt.Credentials = aws.NewCredentialsCache(staticCreds{s.Credentials})
		})
		if err != nil {
			return fmt.Errorf("GetCallerIdentity: %w", err)
		}
		fmt.Fprintf(e.stderr, "caller identity: %s (user id %s, account %s)\n", aws.ToString(out.Arn), aws.ToString(out.UserId), aws.ToString(out.Account))
	}
	return nil
}

type staticCreds struct{ c aws.Credentials }

func (s staticCreds) Retrieve(context.Context) (aws.Credentials, error) { return s.c, nil }

func printCredentials(w io.Writer, format string, d authz.Decision, s *creds.Session) error {
	c := s.Credentials
	switch format {
	case "process":
		return json.NewEncoder(w).Encode(map[string]any{
			"Version": 1, "AccessKeyId": c.AccessKeyID, "SecretAccessKey": c.SecretAccessKey,
			"SessionToken": c.SessionToken, "Expiration": c.Expires.UTC().Format(time.RFC3339),
		})
	case "env":
		_, err := fmt.Fprintf(w, "export AWS_ACCESS_KEY_ID=%s\nexport AWS_SECRET_ACCESS_KEY=%s\nexport AWS_SESSION_TOKEN=%s\n", c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
		return err
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"role": d.Role, "policies": d.Policies, "role_arn": s.RoleARN, "assumed_role_arn": s.AssumedRoleARN,
			"session_name": s.SessionName, "source_identity": s.SourceIdentity, "tags": s.Tags,
			"access_key_id": c.AccessKeyID, "secret_access_key": c.SecretAccessKey, "session_token": c.SessionToken,
			"expiration": c.Expires.UTC().Format(time.RFC3339),
		})
	}
	return fmt.Errorf("--format %q: want process, env or json", format)
}
