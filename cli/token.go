package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/config"
)

type tokenOptions struct {
	user, password, app  string
	client, secret       string
	scopes               []string
	tenant, issuer       string
	stateDir, configPath string
	caFile               string
	format               string
}

func newTokenCmd(e *env) *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:   "token (--user NAME | --client APP)",
		Short: "Get a real token from the running development IdP through its token endpoint",
		Long: `token asks the development IdP's token endpoint for an access token, the way
any OAuth client would: the password grant for a development user (--user),
client credentials for an app (--client). Passwords and secrets come from the
configuration's development directory unless given. Prints the access token,
or with --format json the whole token response.`,
		Example: `  gatehouse token --user alice
  gatehouse token --user bob --scope api://gatehouse-api/access_as_user
  gatehouse token --client report-agent | gatehouse verify -
  gatehouse token --user alice --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runToken(cmd.Context(), e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.user, "user", "", "development user: UPN, the part before '@', or object id")
	f.StringVar(&o.password, "password", "", "the user's password (default: from the configuration)")
	f.StringVar(&o.app, "app", "", "client app for --user: name or client id (default: the first public client)")
	f.StringVar(&o.client, "client", "", "app for client credentials: name or client id")
	f.StringVar(&o.secret, "secret", "", "client secret for --client (default: from the configuration)")
	f.StringSliceVar(&o.scopes, "scope", nil, "scopes to request (default: what the app was granted on its first API)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id or domain (default: the first development tenant)")
	f.StringVar(&o.issuer, "issuer", "", "v2.0 issuer URL of the IdP (default: found through the state directory)")
	f.StringVar(&o.stateDir, "state-dir", "", "state directory of 'gatehouse dev'")
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM CA to trust for the IdP (default: the local CA in the state directory)")
	outputFormat(cmd, &o.format, "text: the access token alone; json: the whole token response")
	cmd.MarkFlagsMutuallyExclusive("user", "client")
	cmd.MarkFlagsOneRequired("user", "client")
	return cmd
}

func runToken(ctx context.Context, e *env, o tokenOptions) error {
	f, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}
	stateDir, err := resolveStateDir(o.stateDir, f.Dev.StateDir)
	if err != nil {
		return err
	}
	issuer, caFile := o.issuer, o.caFile
	tenantRef := o.tenant
	if issuer == "" {
		ep, err := readEndpoints(stateDir)
		if err != nil {
			var nd *noDevError
			if errors.As(err, &nd) {
				err = fmt.Errorf("%w, or --issuer", err)
			}
			return err
		}
		if tenantRef == "" {
			tenantRef = ep.Tenant
		}
		issuer = ep.IDP + "/" + tenantRef + "/v2.0"
		if caFile == "" {
			caFile = ep.CAFile
		}
	}
	t, err := f.Dev.IDP.Tenant(tenantRef, issuer)
	if err != nil {
		return err
	}
	// Who signs in is looked up first: a misspelt name fails before the IdP
	// is asked, with the names there are.
	var u config.User
	var a config.App
	if o.user != "" {
		if u, err = t.User(o.user); err != nil {
			return withKnown(err, "users", knownUsers(t))
		}
		if a, err = t.App(o.app, func(a config.App) bool { return a.PublicClient }); err != nil {
			if o.app == "" {
				return fmt.Errorf("%w: pass --app", err)
			}
			return withKnown(err, "apps", knownApps(t))
		}
	} else if a, err = t.App(o.client, nil); err != nil {
		return withKnown(err, "apps", knownApps(t))
	}
	client := &http.Client{}
	if caFile != "" {
		pool, err := config.LoadCAPool(caFile, false)
		if err != nil {
			return err
		}
		client = config.HTTPClient(pool)
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	tokenURL, err := discoverTokenEndpoint(ctx, client, issuer)
	if err != nil {
		if isUnknownAuthority(err) {
			return withHint(err, caHintFlag(stateDir))
		}
		return err
	}

	var tok *oauth2.Token
	if o.user != "" {
		if tok, err = userToken(ctx, tokenURL, t, u, a, o.password, o.scopes); err != nil {
			return err
		}
	} else {
		secret := o.secret
		if secret == "" && len(a.Secrets) > 0 {
			secret = string(a.Secrets[0])
		}
		if secret == "" {
			return fmt.Errorf("app %s has no client secret: pass --secret", a.Name)
		}
		scopes := o.scopes
		if len(scopes) == 0 {
			if s := t.DefaultScope(a); s != "" {
				scopes = []string{s}
			}
		}
		cc := clientcredentials.Config{ClientID: a.ClientID, ClientSecret: secret, TokenURL: tokenURL, Scopes: scopes}
		if tok, err = cc.Token(ctx); err != nil {
			return tokenError(err)
		}
	}
	if o.format == formatJSON {
		out := map[string]any{"access_token": tok.AccessToken, "token_type": tok.TokenType, "expiry": tok.Expiry}
		for _, k := range []string{"id_token", "scope", "refresh_token"} {
			if v := tok.Extra(k); v != nil {
				out[k] = v
			}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	_, err = fmt.Fprintln(e.stdout, tok.AccessToken)
	return err
}

// userToken gets a development user's token through the IdP's token
// endpoint (password grant) for app; ctx carries the HTTP client
// (oauth2.HTTPClient). Empty password and scopes mean the configuration's.
func userToken(ctx context.Context, tokenURL string, t config.Tenant, u config.User, a config.App, password string, scopes []string) (*oauth2.Token, error) {
	if password == "" {
		password = string(u.Password)
	}
	if len(scopes) == 0 {
		scopes = t.GrantedScopes(a)
	}
	cfg := oauth2.Config{ClientID: a.ClientID, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}, Scopes: scopes}
	if len(a.Secrets) > 0 && !a.PublicClient {
		cfg.ClientSecret = string(a.Secrets[0])
	}
	tok, err := cfg.PasswordCredentialsToken(ctx, u.UPN, password)
	if err != nil {
		return nil, tokenError(err)
	}
	return tok, nil
}

// tokenError shows the IdP's error code and description, not the raw body.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		desc, _, _ := strings.Cut(re.ErrorDescription, "\r\n")
		return fmt.Errorf("token endpoint refused: %s: %s", re.ErrorCode, desc)
	}
	return err
}

func discoverTokenEndpoint(ctx context.Context, c *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		if isUnknownAuthority(err) {
			return "", fmt.Errorf("discovery: %w", err)
		}
		return "", fmt.Errorf("discovery: %w (is 'gatehouse dev' running?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery %s: status %d", u, resp.StatusCode)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if doc.TokenEndpoint == "" {
		return "", errors.New("discovery: no token_endpoint")
	}
	return doc.TokenEndpoint, nil
}
