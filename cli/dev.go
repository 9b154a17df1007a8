package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/devkit/devca"
	"github.com/gatehouse-dev/gatehouse/devkit/idp"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
	devkms "github.com/gatehouse-dev/gatehouse/devkit/kms"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
	devsm "github.com/gatehouse-dev/gatehouse/devkit/secretsmanager"
	devsts "github.com/gatehouse-dev/gatehouse/devkit/sts"
	"github.com/gatehouse-dev/gatehouse/devkit/upstream"
	"github.com/gatehouse-dev/gatehouse/gateway"
	"github.com/gatehouse-dev/gatehouse/internal/awstrace"
)

type devOptions struct {
	configPath     string
	stateDir       string
	readyFile      string
	idpListen      string
	stsListen      string
	gatewayListen  string
	lambdaListen   string
	upListen       string
	keyVaultListen string
	adminListen    string
	printConfig    bool
}

func newDevCmd(e *env) *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the local loop: development IdP, local STS, Lambda host, HTTP upstream and the gateway",
		Long: `dev runs the local loop of the embedded development configuration (or
--config), on loopback addresses:

  - the development identity provider, Entra-compatible
  - a local STS, which trusts the IdP and gatehouse's own issuer
  - a local Lambda host running the configured functions (the example
    functions of the source tree)
  - a development HTTP upstream, the target of routes whose upstream is "dev"
  - the gateway, which also serves gatehouse's issuer for AWS, and its admin
    listener (metrics and health)

It prints a banner with their URLs and sample identities, and keeps signing
keys, the local CA and the audit trail in the state directory, so tokens stay
valid across restarts. It reloads the policy, routes and issuers when the
--config file or its Cedar files change, or on SIGHUP. Stop it with Ctrl-C.

Each service listens where the configuration says (dev.idp.listen, ...),
or where its --<service>-listen flag says; port 0 picks a free port, and
--ready-file tells which.`,
		Example: `  gatehouse dev
  gatehouse dev --config gatehouse.yaml
  gatehouse dev --state-dir /tmp/gh --idp-listen 127.0.0.1:0 --sts-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0 \
      --lambda-listen 127.0.0.1:0 --upstream-listen 127.0.0.1:0 --ready-file /tmp/gh/ready.json
  gatehouse dev --print-config > gatehouse.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDev(cmd.Context(), e, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	f.StringVar(&o.stateDir, "state-dir", "", "where keys and data live (default: $XDG_STATE_HOME/gatehouse or ~/.local/state/gatehouse)")
	f.StringVar(&o.readyFile, "ready-file", "", "write a JSON object with the started URLs here once they answer")
	f.StringVar(&o.idpListen, "idp-listen", "", "override dev.idp.listen: the development IdP (host:port on loopback; port 0 picks a free port)")
	f.StringVar(&o.idpListen, "listen", "", "same as --idp-listen")
	f.MarkHidden("listen") // the flag's name before --idp-listen
	f.StringVar(&o.stsListen, "sts-listen", "", "override dev.sts.listen: the local STS")
	f.StringVar(&o.gatewayListen, "gateway-listen", "", "override dev.gateway: the development gateway")
	f.StringVar(&o.lambdaListen, "lambda-listen", "", "override dev.lambda.listen: the local Lambda host")
	f.StringVar(&o.upListen, "upstream-listen", "", "override dev.upstream: the development HTTP upstream")
	f.StringVar(&o.keyVaultListen, "keyvault-listen", "", "override dev.keyvault.listen: the local Azure Key Vault")
	f.StringVar(&o.adminListen, "admin-listen", "", "override gateway.admin_listen: metrics and health (default a free loopback port; off: none)")
	cmd.MarkFlagsMutuallyExclusive("idp-listen", "listen")
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
	var f *config.File
	var err error
	if o.configPath == "" {
		f = config.Default()
		err = f.CheckFor(config.WhereDev)
	} else {
		f, err = config.LoadFor(o.configPath, config.WhereDev)
	}
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	o.override(f)
	if o.printConfig {
		b, err := f.Marshal()
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(b)
		return err
	}
	// The policy must compile before anything starts; later changes to the
	// file (or SIGHUP) reload it without a restart.
	opts := optionsFor(o.configPath, nil, "", e.log)
	if _, err := build.Policy(f, opts); err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	if opts.StateDir, err = resolveStateDir(o.stateDir, f.Dev.StateDir); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return err
	}
	ca, err := devca.LoadOrCreate(opts.StateDir)
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	st := &devStack{ctx: ctx, ca: ca, serveErr: make(chan error, 4)}
	defer st.shutdown() // every listener and server, also after a failed start
	l := &devLoop{e: e, f: f, o: o, st: st, opts: opts,
		ep: endpoints{CAFile: filepath.Join(opts.StateDir, devca.CertFile)}}
	defer l.close()
	for _, start := range []func(context.Context) error{l.startIDP, l.startKeyVault, l.startIssuer, l.startSTS, l.startLambda, l.startUpstream, l.startGateway} {
		if err := start(ctx); err != nil {
			return err
		}
	}

	// The banner first: whoever waits for the ready file may read it.
	printBanner(e.stdout, f, l.ep, opts.StateDir, selfCommand())
	epPath := filepath.Join(opts.StateDir, endpointsFile)
	if err := writeJSONFile(epPath, l.ep); err != nil {
		return err
	}
	defer os.Remove(epPath)
	if o.readyFile != "" {
		if err := writeJSONFile(o.readyFile, l.ep); err != nil {
			return err
		}
	}
	rl := &reloader{path: o.configPath, where: config.WhereDev, opts: l.opts, log: e.log, interval: time.Second,
		apply: func(ctx context.Context, nf *config.File) error {
			o.override(nf) // the listeners stay where they are
			snap, err := l.stack.snapshot(ctx, nf)
			if err != nil {
				return err
			}
			return l.gw.Swap(snap)
		}}
	go rl.run(ctx, f)

	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "gatehouse dev: shutting down")
		return nil
	case err := <-st.serveErr:
		return err
	}
}

// override applies the command line's listen addresses to f.
func (o devOptions) override(f *config.File) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&f.Dev.IDP.Listen, o.idpListen)
	set(&f.Dev.STS.Listen, o.stsListen)
	set(&f.Dev.Gateway, o.gatewayListen)
	set(&f.Dev.Upstream, o.upListen)
	set(&f.Dev.Lambda.Listen, o.lambdaListen)
	set(&f.Dev.KeyVault.Listen, o.keyVaultListen)
	set(&f.Gateway.AdminListen, o.adminListen)
}

// devLoop is the local loop as it starts, one service after the other,
// each knowing the URLs of those before it.
type devLoop struct {
	e    *env
	f    *config.File
	o    devOptions
	st   *devStack
	opts build.Options // opts.Dev: the IdP, once it listens
	ep   endpoints

	idp        *idp.Server
	gwLn       net.Listener
	gwTLS      *tls.Config
	stsSrv     *devsts.Server
	kv         *keyvault.Server
	stsAPI     *sts.Client
	host       *runtime.Host
	stack      *gatewayStack
	gw         *gateway.Gateway
	closeFuncs []func()
}

func (l *devLoop) close() {
	for i := len(l.closeFuncs) - 1; i >= 0; i-- {
		l.closeFuncs[i]()
	}
}

// startIDP starts the development IdP, and checks that the configured
// issuers accept what it serves, so a broken dev configuration fails at
// start rather than at first use.
func (l *devLoop) startIDP(ctx context.Context) error {
	idpLn, idpURL, err := l.st.listen("development IdP", l.f.Dev.IDP.Listen, l.f.Dev.IDP.TLSEnabled())
	if err != nil {
		return err
	}
	l.opts.Dev = &config.DevAuthority{BaseURL: idpURL, CAPool: l.st.ca.CertPool()}
	if l.idp, err = idp.New(idpConfig(l.f.Dev.IDP, idpURL, filepath.Join(l.opts.StateDir, "idp"), l.e.log)); err != nil {
		return err
	}
	l.closeFuncs = append(l.closeFuncs, func() { l.idp.Close() })
	l.st.serve(l.idp.Handler(), idpLn)
	tenant := l.f.Dev.IDP.Tenants[0].ID
	l.ep.IDP, l.ep.Tenant, l.ep.Issuer = idpURL, tenant, l.idp.Issuer(tenant)
	if err := waitAnswering(ctx, devClient(l.opts.Dev), l.ep.Issuer+"/.well-known/openid-configuration", l.st.serveErr); err != nil {
		return err
	}
	v, err := build.Verifier(l.f, l.opts)
	if err != nil {
		return err
	}
	if err := v.Refresh(ctx); err != nil {
		return fmt.Errorf("the configured issuers cannot use the development IdP: %w", err)
	}
	return nil
}

// startIssuer opens the gateway's listener, whose URL is gatehouse's own
// issuer for AWS (its keys are opened by startSTS: they may be in the
// local KMS).
func (l *devLoop) startIssuer(context.Context) error {
	var gwURL string
	var err error
	if l.gwLn, l.gwTLS, gwURL, err = l.st.listenTCP("development gateway", l.f.Dev.Gateway, true); err != nil {
		return err
	}
	lambdaClient := devClient(l.opts.Dev)
	lambdaClient.Timeout = 0 // the Lambda target bounds each invocation itself
	l.stack = &gatewayStack{opts: l.opts, publicURL: gwURL, devIssuer: l.ep.Issuer,
		client: lambdaClient, log: l.e.log}
	l.ep.Gateway, l.ep.GatehouseIssuer = gwURL, gwURL
	return nil
}

// startSTS starts the local STS, trusting gatehouse's issuer and the IdP,
// with the local Secrets Manager and KMS on its endpoint; then reads the
// file's secrets and vault keys (as the dev host role when they are in
// the local services), opens gatehouse's issuer and the broker.
func (l *devLoop) startSTS(ctx context.Context) error {
	stsCfg, notes, err := devSTSConfig(l.f, l.ep.GatehouseIssuer, l.idp, devClient(l.opts.Dev), l.e.log)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(l.e.stderr, "gatehouse dev:", n)
	}
	if l.stsSrv, err = devsts.New(stsCfg); err != nil {
		return fmt.Errorf("local STS: %w", err)
	}
	stsLn, stsURL, err := l.st.listen("local STS", l.f.Dev.STS.Listen, true)
	if err != nil {
		return err
	}
	sm, err := devsm.New(devsm.Config{Account: stsCfg.AccountID, Region: stsCfg.Region, STS: l.stsSrv,
		StateFile: filepath.Join(l.opts.StateDir, "secretsmanager.json"), Logger: l.e.log})
	if err != nil {
		return fmt.Errorf("local Secrets Manager: %w", err)
	}
	km, err := devkms.New(devkms.Config{Account: stsCfg.AccountID, Region: stsCfg.Region, STS: l.stsSrv,
		StateFile: filepath.Join(l.opts.StateDir, "kms.json"), Logger: l.e.log})
	if err != nil {
		return fmt.Errorf("local KMS: %w", err)
	}
	l.st.serve(awsServices(l.stsSrv.Handler(), map[string]http.Handler{"secretsmanager": sm.Handler(), "TrentService": km.Handler()}), stsLn)
	l.ep.STS = stsURL
	if err := l.startSecrets(ctx, km, stsCfg.AccountID); err != nil {
		return err
	}
	issuer, err := build.Issuer(l.f, l.ep.GatehouseIssuer, l.opts)
	if err != nil {
		return err
	}
	l.stack.issuer = issuer
	awsCfg, err := build.AWS(ctx, l.f)
	if err != nil {
		return err
	}
	awsCfg.APIOptions = append(awsCfg.APIOptions, awstrace.Middleware(false)) // the STS call's span
	l.stsAPI = build.STS(awsCfg, stsURL, devClient(l.opts.Dev))
	l.stack.broker, err = creds.New(build.Creds(l.f, l.stack.issuer, l.stsAPI, l.opts))
	return err
}

// startLambda starts the local Lambda host with the dev functions, which
// reach the local STS and, when they verify tokens themselves (lambdaauth,
// authority "dev"), the development IdP.
func (l *devLoop) startLambda(ctx context.Context) error {
	execBroker, err := creds.New(creds.Config{Roles: execRoles(l.f), Issuer: l.stack.issuer, STS: l.stsAPI, Logger: l.e.log})
	if err != nil {
		return err
	}
	base := "."
	if l.o.configPath != "" {
		base = filepath.Dir(l.o.configPath)
	}
	fnEnv := map[string]string{"AWS_ENDPOINT_URL_STS": l.ep.STS, "AWS_CA_BUNDLE": l.ep.CAFile, "GATEHOUSE_DEV_IDP": l.ep.IDP}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("local Lambda host: the built-in functions run from this binary: %w", err)
	}
	functions, notes := devFunctions(l.f, base, fnEnv, self)
	for _, n := range notes {
		fmt.Fprintln(l.e.stderr, "gatehouse dev:", n)
	}
	l.host, err = runtime.New(runtime.Config{
		Functions: functions, Region: build.Region(l.f), AccountID: cmp.Or(build.Account(l.f), devAccount),
		StateDir: filepath.Join(l.opts.StateDir, "lambda"), STS: l.stsSrv,
		Credentials: execCredentials(execBroker, l.stack.issuer.URL()), Logger: l.e.log,
	})
	if err != nil {
		return fmt.Errorf("local Lambda host: %w", err)
	}
	l.closeFuncs = append(l.closeFuncs, func() { l.host.Close() })
	if err := l.host.Start(ctx); err != nil {
		return fmt.Errorf("local Lambda host: %w", err)
	}
	ln, url, err := l.st.listen("local Lambda host", l.f.Dev.Lambda.Listen, true)
	if err != nil {
		return err
	}
	l.st.serve(l.host.Handler(), ln, true)
	l.ep.Lambda, l.stack.lambdaURL = url, url
	return nil
}

// startUpstream starts the development HTTP upstream, verifying the
// assertions it gets with gatehouse's issuer keys as a real upstream would.
func (l *devLoop) startUpstream(context.Context) error {
	ln, url, err := l.st.listen("development upstream", l.f.Dev.Upstream, false)
	if err != nil {
		return err
	}
	v, err := authn.NewVerifier(authn.Config{Logger: l.e.log, Issuers: []authn.IssuerConfig{{
		Name: "gatehouse", Issuer: l.stack.issuer.URL(), Audiences: []string{url}, HTTPClient: devClient(l.opts.Dev),
		Algorithms: []string{"RS256", "ES256"}, // gatehouse signs ES256 with a P-256 vault key
		// A development upstream follows gatehouse's key rotations within
		// seconds (a real one within its JWKS cache time, which the issuer's
		// publish_ahead covers).
		RefreshInterval: 10 * time.Second, MinRefreshInterval: authn.MinRefreshIntervalFloor,
		Claims: authn.ClaimNames{Tenant: "tid"},
	}}})
	if err != nil {
		return err
	}
	l.st.serve(upstream.Handler(upstream.Config{Verifier: v, Logger: l.e.log}), ln)
	l.ep.Upstream, l.stack.devUpstream = url, url
	return nil
}

// startGateway opens the audit trail and starts the gateway on its
// listener, with the admin listener beside it.
func (l *devLoop) startGateway(ctx context.Context) error {
	trail, err := build.AuditTrail(ctx, l.f, l.opts)
	if err != nil {
		return err
	}
	l.stack.trail = trail
	if l.stack.revocations, err = build.Revocations(ctx, l.f, l.opts); err != nil {
		return fmt.Errorf("revocation store: %w", err)
	}
	if st := l.stack.revocations; st != nil {
		l.closeFuncs = append(l.closeFuncs, st.Close)
		go st.Run(ctx)
	}
	l.closeFuncs = append(l.closeFuncs, func() { trail.Close() })
	go trail.Prune(ctx, l.f.Audit.Retention, l.e.log)
	if l.stack.tracing, err = startTracing(ctx, l.f, l.opts, l.e); err != nil {
		return err
	}
	l.stack.trustTraces = l.f.Telemetry.Tracing.TrustIncoming
	l.closeFuncs = append(l.closeFuncs, func() { stopTracing(l.stack.tracing, l.e) })
	if l.gw, err = l.stack.newGateway(ctx, l.f); err != nil {
		return err
	}
	l.st.run(l.gw.NewServer(gatewayMux(l.stack.issuer, l.gw.Handler())), l.gw.Listener(l.gwLn, l.gwTLS))
	// Metrics and health for operators, on a listener of their own.
	if l.f.Gateway.AdminListen != config.AdminOff {
		adminLn, adminURL, err := l.st.listen("admin listener", cmp.Or(l.f.Gateway.AdminListen, "127.0.0.1:0"), false)
		if err != nil {
			return err
		}
		admin, viewURL := withAuditView(ctx, l.f, trail, l.gw.AdminHandler(), adminURL, l.e.log)
		l.st.serve(admin, adminLn)
		l.ep.Admin, l.ep.AuditView = adminURL, viewURL
	}
	return waitAnswering(ctx, devClient(l.opts.Dev), l.ep.GatehouseIssuer+"/.well-known/openid-configuration", l.st.serveErr)
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
			return fmt.Errorf("no answer at %s: %w", url, err)
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

// selfCommand is how a shell on this machine runs this program: "gatehouse"
// when that is what PATH finds, "go run ./cmd/gatehouse" under go run from
// the source tree, else the binary's absolute path.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "gatehouse"
	}
	if onPath, err := exec.LookPath("gatehouse"); err == nil && sameFile(onPath, exe) {
		return "gatehouse"
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if _, err := os.Stat(filepath.Join("cmd", "gatehouse")); err == nil {
			return "go run ./cmd/gatehouse"
		}
	}
	return exe
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// stateFlag is the --state-dir flag the banner's commands need to find a
// dev that keeps its state in stateDir: none for the default.
func stateFlag(stateDir string) string {
	if def, err := resolveStateDir("", ""); err == nil && def == stateDir {
		return ""
	}
	return " --state-dir " + shellQuote(stateDir)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printBanner says what runs, who can sign in, and how to try it; self is
// how the commands it shows run gatehouse (selfCommand).
func printBanner(w io.Writer, f *config.File, ep endpoints, stateDir, self string) {
	fmt.Fprintf(w, "gatehouse dev is running\n\n")
	fmt.Fprintf(w, "  issuer      %s\n", ep.Issuer)
	fmt.Fprintf(w, "  discovery   %s/.well-known/openid-configuration\n", ep.Issuer)
	fmt.Fprintf(w, "  tenant      %s\n", ep.Tenant)
	fmt.Fprintf(w, "  gateway     %s (also gatehouse's issuer for AWS)\n", ep.Gateway)
	fmt.Fprintf(w, "  sts         %s (also Secrets Manager and KMS)\n", ep.STS)
	if ep.KeyVault != "" {
		fmt.Fprintf(w, "  key vault   %s (Azure Key Vault: secrets and keys)\n", ep.KeyVault)
	}
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
	if ep.AuditView != "" {
		fmt.Fprintf(w, "  audit view  %s (the trail, read-only)\n", ep.AuditView)
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
	sf := stateFlag(stateDir)
	fmt.Fprintf(w, "\nTry (tokens last %s):\n", formatLifetime(f.Dev.IDP.TokenLifetime))
	if len(f.Gateway.Routes) > 0 && ep.CAFile != "" {
		rt := f.Gateway.Routes[0]
		fmt.Fprintf(w, "  curl --cacert %s -H \"Authorization: Bearer $(%s token%s --user %s)\" %s%s\n", ep.CAFile, self, sf, shortUser(t), ep.Gateway, examplePath(rt.Path))
	}
	fmt.Fprintf(w, "  %s token%s --user %s | %s verify%s -\n", self, sf, shortUser(t), self, sf)
	if c := firstConfidential(t); c != "" {
		fmt.Fprintf(w, "  %s token%s --client %s | %s verify%s -\n", self, sf, c, self, sf)
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
		Example: `  gatehouse dev rotate-keys
  gatehouse dev rotate-keys --state-dir /tmp/gh`,
		Args: noArgs,
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
