package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"gatehouse/authn"
	"gatehouse/config"
	"gatehouse/creds"
	"gatehouse/devkit/devca"
	"gatehouse/devkit/idp"
	"gatehouse/devkit/runtime"
	devsts "gatehouse/devkit/sts"
	"gatehouse/devkit/upstream"
)

type devOptions struct {
	configPath    string
	stateDir      string
	readyFile     string
	listen        string
	stsListen     string
	gatewayListen string
	lambdaListen  string
	upListen      string
	adminListen   string
	printConfig   bool
}

func newDevCmd(e *env) *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local loop: an Entra-compatible identity provider (more services follow)",
		Long: `dev starts the development identity provider from the embedded development
configuration (or --config), prints a banner with its issuer URL and sample
identities, and keeps signing keys in the state directory so tokens stay valid
across restarts. Stop it with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.stateDir, "state-dir", "", "where keys and data live (default: $XDG_STATE_HOME/gatehouse or ~/.local/state/gatehouse)")
	f.StringVar(&o.readyFile, "ready-file", "", "write a JSON object with the started URLs here once they answer")
	f.StringVar(&o.listen, "listen", "", "override dev.idp.listen (host:port on loopback; port 0 picks a free port)")
	f.StringVar(&o.stsListen, "sts-listen", "", "override dev.sts.listen")
	f.StringVar(&o.gatewayListen, "gateway-listen", "", "override dev.gateway")
	f.StringVar(&o.lambdaListen, "lambda-listen", "", "override dev.lambda.listen")
	f.StringVar(&o.upListen, "upstream-listen", "", "override dev.upstream")
	f.StringVar(&o.adminListen, "admin-listen", "", "override gateway.admin_listen (metrics and health; default a free loopback port)")
	f.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration and exit")
	cmd.AddCommand(newRotateKeysCmd(e))
	return cmd
}

func loadConfig(path string) (*config.File, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func runDev(ctx context.Context, e *env, o devOptions) error {
	f, err := loadConfig(o.configPath)
	if err != nil {
		return err
	}
	if o.listen != "" {
		f.Dev.IDP.Listen = o.listen
	}
	if o.stsListen != "" {
		f.Dev.STS.Listen = o.stsListen
	}
	if o.gatewayListen != "" {
		f.Dev.Gateway = o.gatewayListen
	}
	if o.upListen != "" {
		f.Dev.Upstream = o.upListen
	}
	if o.lambdaListen != "" {
		f.Dev.Lambda.Listen = o.lambdaListen
	}
	if o.adminListen != "" {
		f.Gateway.AdminListen = o.adminListen
	}
	if o.printConfig {
		b, err := f.Marshal()
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	if len(f.Dev.IDP.Tenants) == 0 {
		return errors.New("dev.idp has no tenants: nothing to serve")
	}
	// The policy must compile before anything starts; later changes to the
	// file (or SIGHUP) reload it without a restart.
	policy, err := buildPolicy(f, o.configPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	stateDir, err := resolveStateDir(o.stateDir, f.Dev.StateDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	ca, err := devca.LoadOrCreate(stateDir)
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	st := &devStack{ctx: ctx, ca: ca, serveErr: make(chan error, 4)}
	defer st.shutdown()
	dev := &devContext{caPool: ca.CertPool()}
	ep := endpoints{CAFile: filepath.Join(stateDir, devca.CertFile)}

	// 1. The identity provider.
	idpLn, idpURL, err := st.listen("development IdP", f.Dev.IDP.Listen, f.Dev.IDP.TLSEnabled())
	if err != nil {
		return err
	}
	dev.baseURL = idpURL
	srv, err := idp.New(idpConfig(f.Dev.IDP, dev.baseURL, filepath.Join(stateDir, "idp"), e.log))
	if err != nil {
		return err
	}
	defer srv.Close()
	st.serve(srv.Handler(), idpLn)
	tenant := f.Dev.IDP.Tenants[0].ID
	ep.IDP, ep.Tenant, ep.Issuer = dev.baseURL, tenant, srv.Issuer(tenant)
	if err := waitAnswering(ctx, clientFor(dev), ep.Issuer+"/.well-known/openid-configuration", st.serveErr); err != nil {
		return err
	}
	// The configuration's own issuers must work against what we serve: check
	// now, so a broken dev configuration fails at start, not at first use.
	v, err := buildVerifier(f, dev, e.log)
	if err != nil {
		return err
	}
	if err := v.Refresh(ctx); err != nil {
		return fmt.Errorf("the configured issuers cannot use the development IdP: %w", err)
	}

	// 2. The gateway's listener: its URL is gatehouse's own issuer for AWS.
	gwLn, gwTLS, gwURL, err := st.listenTCP("development gateway", f.Dev.Gateway, true)
	if err != nil {
		return err
	}
	issuer, err := buildIssuer(f, gwURL, stateDir, e.log)
	if err != nil {
		return err
	}
	ep.Gateway, ep.GatehouseIssuer = gwURL, issuer.URL()

	// 3. The local STS, trusting gatehouse's issuer and the IdP.
	stsCfg, notes, err := devSTSConfig(f, issuer.URL(), srv, clientFor(dev), e.log)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(e.stderr, "gatehouse dev:", n)
	}
	stsSrv, err := devsts.New(stsCfg)
	if err != nil {
		return fmt.Errorf("local STS: %w", err)
	}
	stsLn, stsURL, err := st.listen("local STS", f.Dev.STS.Listen, true)
	if err != nil {
		return err
	}
	st.serve(stsSrv.Handler(), stsLn)
	ep.STS = stsURL
	stsAPI, err := stsClient(ctx, f, stsURL, clientFor(dev))
	if err != nil {
		return err
	}
	broker, err := buildBroker(f, issuer, stsAPI, e.log)
	if err != nil {
		return err
	}
	execBroker, err := creds.New(creds.Config{Roles: execRoles(f), Issuer: issuer, STS: stsAPI, Logger: e.log})
	if err != nil {
		return err
	}

	// 4. The local Lambda host.
	base := "."
	if o.configPath != "" {
		base = filepath.Dir(o.configPath)
	}
	// Functions reach the local STS, and functions that verify tokens
	// themselves (lambdaauth, authority "dev") the development IdP.
	fnEnv := map[string]string{"AWS_ENDPOINT_URL_STS": stsURL, "AWS_CA_BUNDLE": ep.CAFile, "GATEHOUSE_DEV_IDP": dev.baseURL}
	functions, fnNotes := devFunctions(f, base, fnEnv)
	for _, n := range fnNotes {
		fmt.Fprintln(e.stderr, "gatehouse dev:", n)
	}
	host, err := runtime.New(runtime.Config{
		Functions: functions, Region: region(f), AccountID: account(f), StateDir: filepath.Join(stateDir, "lambda"),
		STS: stsSrv, Credentials: execCredentials(execBroker, issuer.URL()), Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("local Lambda host: %w", err)
	}
	defer host.Close()
	if err := host.Start(ctx); err != nil {
		return fmt.Errorf("local Lambda host: %w", err)
	}
	lambdaLn, lambdaURL, err := st.listen("local Lambda host", f.Dev.Lambda.Listen, true)
	if err != nil {
		return err
	}
	st.serve(host.Handler(), lambdaLn, true)
	ep.Lambda = lambdaURL

	// 5. The audit trail and the gateway itself.
	rec, sink, pseudo, err := buildRecorder(ctx, f, stateDir, e.log)
	if err != nil {
		return err
	}
	defer func() {
		rec.Close()
		sink.Close()
	}()
	if f.Audit.Retention > 0 {
		go pruneAudit(ctx, sink, f.Audit.Retention, resolveAuditFiles(f, stateDir).signingKey, e.log)
	}
	// 6. The development HTTP upstream, verifying the assertions it gets
	// with gatehouse's issuer keys as a real upstream would.
	upLn, upURL, err := st.listen("development upstream", f.Dev.Upstream, false)
	if err != nil {
		return err
	}
	upVerifier, err := authn.NewVerifier(authn.Config{Logger: e.log, Issuers: []authn.IssuerConfig{{
		Name: "gatehouse", Issuer: issuer.URL(), Audiences: []string{upURL}, HTTPClient: clientFor(dev),
		Claims: authn.ClaimNames{Tenant: "tid"},
	}}})
	if err != nil {
		return err
	}
	st.serve(upstream.Handler(upstream.Config{Verifier: upVerifier, Logger: e.log}), upLn)
	ep.Upstream = upURL

	parts := gatewayParts{
		verifier: v, policy: policy, broker: broker, recorder: rec, pseudo: pseudo,
		lambdaURL: lambdaURL, client: clientFor(dev), publicURL: gwURL, log: e.log,
		issuer: issuer, devUpstream: upURL,
	}
	parts.issuerURL, parts.issuers = issuerURLs(f, ep.Issuer)
	gw, err := buildGateway(f, parts)
	if err != nil {
		return err
	}
	st.run(gw.NewServer(gatewayMux(issuer, gw.Handler())), gw.Listener(gwLn, gwTLS))
	// Metrics and health for operators, on a listener of their own.
	if f.Gateway.AdminListen != config.AdminOff {
		addr := f.Gateway.AdminListen
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		adminLn, adminURL, err := st.listen("admin listener", addr, false)
		if err != nil {
			return err
		}
		st.serve(gw.AdminHandler(), adminLn)
		ep.Admin = adminURL
	}
	if err := waitAnswering(ctx, clientFor(dev), ep.GatehouseIssuer+"/.well-known/openid-configuration", st.serveErr); err != nil {
		return err
	}

	// The banner first: whoever waits for the ready file may read it.
	printBanner(e.stdout, f, ep, stateDir, bannerToken(ctx, f, ep, clientFor(dev), e))
	epPath := filepath.Join(stateDir, endpointsFile)
	if err := writeJSONFile(epPath, ep); err != nil {
		return err
	}
	defer os.Remove(epPath)
	if o.readyFile != "" {
		if err := writeJSONFile(o.readyFile, ep); err != nil {
			return err
		}
	}
	watcher := &policyWatcher{path: o.configPath, eng: policy, gw: gw, parts: parts, log: e.log, interval: time.Second}
	go watcher.run(ctx, f)

	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "gatehouse dev: shutting down")
		return nil
	case err := <-st.serveErr:
		return err
	}
}

func clientFor(dev *devContext) *http.Client {
	if dev.caPool != nil {
		return clientWithPool(dev.caPool)
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// waitAnswering polls url until it answers 200, for at most 10 s.
func waitAnswering(ctx context.Context, c *http.Client, url string, serveErr <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("development IdP does not answer at %s: %w", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-serveErr:
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bannerToken gets a token for the first development user through the
// IdP's token endpoint, for the banner's curl line ("" if it cannot).
func bannerToken(ctx context.Context, f *config.File, ep endpoints, c *http.Client, e *env) string {
	t := f.Dev.IDP.Tenants[0]
	if len(t.Users) == 0 || len(f.Gateway.Routes) == 0 {
		return ""
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c)
	tokenURL, err := discoverTokenEndpoint(ctx, c, ep.Issuer)
	if err == nil {
		var tok *oauth2.Token
		if tok, err = userToken(ctx, tokenURL, t, t.Users[0].UPN, "", "", nil); err == nil {
			return tok.AccessToken
		}
	}
	e.log.Warn("dev: no token for the banner", "err", err)
	return ""
}

func printBanner(w io.Writer, f *config.File, ep endpoints, stateDir, token string) {
	fmt.Fprintf(w, "gatehouse dev is running\n\n")
	fmt.Fprintf(w, "  issuer      %s\n", ep.Issuer)
	fmt.Fprintf(w, "  discovery   %s/.well-known/openid-configuration\n", ep.Issuer)
	fmt.Fprintf(w, "  tenant      %s\n", ep.Tenant)
	fmt.Fprintf(w, "  gateway     %s (also gatehouse's issuer for AWS)\n", ep.Gateway)
	fmt.Fprintf(w, "  sts         %s\n", ep.STS)
	fmt.Fprintf(w, "  lambda      %s\n", ep.Lambda)
	for _, fn := range f.Dev.Lambda.Functions {
		if fn.URL {
			fmt.Fprintf(w, "  %-11s %s%s%s/ (function URL)\n", fn.Name, ep.Lambda, runtime.FunctionURLPrefix, fn.Name)
		}
	}
	fmt.Fprintf(w, "  upstream    %s (an HTTP service behind the gateway)\n", ep.Upstream)
	if ep.Admin != "" {
		fmt.Fprintf(w, "  metrics     %s/metrics (admin listener: also /healthz, /readyz)\n", ep.Admin)
	}
	if ep.CAFile != "" {
		fmt.Fprintf(w, "  local CA    %s\n", ep.CAFile)
	}
	fmt.Fprintf(w, "  state       %s\n\n", stateDir)
	t := f.Dev.IDP.Tenants[0]
	groupName := map[string]string{}
	for _, g := range t.Groups {
		groupName[g.ID] = g.Name
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  users\tobject id\tgroups")
	for _, u := range t.Users {
		var gs []string
		for _, g := range u.Groups {
			if n := groupName[g]; n != "" {
				g = n
			}
			gs = append(gs, g)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.UPN, u.ID, strings.Join(gs, ","))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  apps\tclient id\tkind")
	for _, a := range t.Apps {
		kind := "api"
		switch {
		case a.PublicClient:
			kind = "public client"
		case len(a.Secrets) > 0 || len(a.Certificates) > 0:
			kind = "confidential client"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", a.Name, a.ClientID, kind)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nTry:\n")
	if len(f.Gateway.Routes) > 0 && ep.CAFile != "" {
		rt := f.Gateway.Routes[0]
		if token != "" {
			fmt.Fprintf(w, "  # %s's token, valid for %s:\n", shortUser(t), formatLifetime(f.Dev.IDP.TokenLifetime))
			fmt.Fprintf(w, "  curl --cacert %s -H 'Authorization: Bearer %s' %s%s\n", ep.CAFile, token, ep.Gateway, examplePath(rt.Path))
			fmt.Fprintf(w, "  # with a fresh token each time (gatehouse on PATH):\n")
		}
		fmt.Fprintf(w, "  curl --cacert %s -H \"Authorization: Bearer $(gatehouse token --user %s)\" %s%s\n", ep.CAFile, shortUser(t), ep.Gateway, examplePath(rt.Path))
	}
	fmt.Fprintf(w, "  gatehouse token --user %s | gatehouse verify -\n", shortUser(t))
	if c := firstConfidential(t); c != "" {
		fmt.Fprintf(w, "  gatehouse token --client %s | gatehouse verify -\n", c)
	}
	if ep.CAFile != "" {
		fmt.Fprintf(w, "  curl --cacert %s %s/.well-known/openid-configuration\n", ep.CAFile, ep.Issuer)
	}
	fmt.Fprintln(w)
}

// examplePath fills a route pattern's wildcards with sample values.
func examplePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "hello"
		}
	}
	return strings.Join(segs, "/")
}

func formatLifetime(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return d.Round(time.Second).String()
}

func shortUser(t config.Tenant) string {
	if len(t.Users) == 0 {
		return "alice"
	}
	name, _, _ := strings.Cut(t.Users[0].UPN, "@")
	return name
}

func firstConfidential(t config.Tenant) string {
	for _, a := range t.Apps {
		if len(a.Secrets) > 0 {
			return a.Name
		}
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func uniq(items ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range items {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func newRotateKeysCmd(e *env) *cobra.Command {
	var stateDir, configPath string
	cmd := &cobra.Command{
		Use:   "rotate-keys",
		Short: "Roll the development IdP's signing keys (the next key signs, the old one stays published until its tokens expire)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			dir, err := resolveStateDir(stateDir, f.Dev.StateDir)
			if err != nil {
				return err
			}
			if err := idp.RotateKeys(filepath.Join(dir, "idp"), time.Now()); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "signing keys rotated; a running 'gatehouse dev' picks them up within a second")
			return nil
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory of 'gatehouse dev'")
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (for dev.state_dir)")
	return cmd
}
