package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/creds"
	"github.com/gatehouse-dev/gatehouse/internal/awstrace"
	"github.com/gatehouse-dev/gatehouse/invoke"
)

type serveOptions struct {
	configPath    string
	check         bool
	gatewayListen string
	adminListen   string
	readyFile     string
}

func newServeCmd(e *env) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway against real identity providers, STS and Lambda",
		Long: `serve runs the identity-aware gateway from FILE: every route's request goes
through token verification, policy, short-lived credentials from STS, the
Lambda invocation and the audit trail. gatehouse's own issuer (broker mode)
is served at creds.issuer.url's path. It refuses to start when a route's
protection cannot be honoured, and drains in-flight requests on SIGTERM.
The policy reloads when FILE or its Cedar files change, or on SIGHUP.

--gateway-listen and --admin-listen replace gateway.listen and
gateway.admin_listen, and are held to the same rules: plain HTTP only on a
loopback address unless gateway.tls_key (or tls_key_file) is set.`,
		Example: `  gatehouse serve --check --config gatehouse.yaml
  gatehouse serve --config gatehouse.yaml
  gatehouse serve --config gatehouse.yaml --gateway-listen 127.0.0.1:0 --admin-listen off --ready-file ready.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.configPath == "" {
				return errors.New("serve needs --config FILE (gatehouse init writes one; the development configuration is for 'gatehouse dev')")
			}
			f, opts, err := loadServe(e, o)
			if err != nil {
				return err
			}
			if o.check {
				fmt.Fprintf(e.stdout, "ok: %s is ready to serve %s on %s\n", o.configPath, plural(len(f.Gateway.Routes), "route"), f.Gateway.ListenAddr())
				return nil
			}
			return runServe(cmd.Context(), e, f, o, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.configPath, "config", "", "configuration file")
	fl.BoolVar(&o.check, "check", false, "check the configuration and every file it names, report every problem at once, and exit")
	fl.StringVar(&o.gatewayListen, "gateway-listen", "", "override gateway.listen: the gateway's host:port (port 0 picks a free port)")
	fl.StringVar(&o.adminListen, "admin-listen", "", "override gateway.admin_listen: metrics and health (host:port, or off)")
	fl.StringVar(&o.readyFile, "ready-file", "", "write a JSON object with the gateway's and the admin listener's URLs here once they answer")
	return cmd
}

// loadServe reads the configuration, with the command line's listen
// addresses, and checks everything serve needs of it and of the files it
// names, without listening or calling anyone but the secret stores (the
// secrets it reads stay in the returned Options for serve to use); every
// problem is printed, each with its file and line (or flag), and serve
// does not start.
func loadServe(e *env, o serveOptions) (*config.File, build.Options, error) {
	f, src, err := config.LoadSource(o.configPath, config.WhereServe)
	opts := optionsFor(o.configPath, nil, "", e.log)
	if f != nil {
		err = o.override(f, err)
		// The files a problem-free part names are checked too, so one run
		// reports everything.
		var checked error
		opts.Secrets, checked = checkServe(f, src, opts)
		err = errors.Join(err, checked)
	}
	if err != nil {
		printProblems(e.stderr, err)
		return nil, build.Options{}, exitError{code: 1}
	}
	return f, opts, nil
}

// override sets the fields the listen flags replace, and returns the
// file's problems without those of the replaced fields, and with those
// of the flags: found by the configuration's own checks, as if the file
// said what the flags say.
func (o serveOptions) override(f *config.File, fileErr error) error {
	flags := map[string]string{}
	if o.gatewayListen != "" {
		f.Gateway.Listen, flags["gateway.listen"] = o.gatewayListen, "--gateway-listen"
	}
	if o.adminListen != "" {
		f.Gateway.AdminListen, flags["gateway.admin_listen"] = o.adminListen, "--admin-listen"
	}
	if len(flags) == 0 {
		return fileErr
	}
	var errs []error
	for _, err := range leaves(fileErr) {
		if p, ok := err.(*config.Problem); !ok || flags[p.Field] == "" {
			errs = append(errs, err)
		}
	}
	for _, p := range config.Problems(errors.Join(f.Validate(), f.CheckFor(config.WhereServe))) {
		if name := flags[p.Field]; name != "" {
			errs = append(errs, fmt.Errorf("%s: %s", name, p.Msg))
		}
	}
	return errors.Join(errs...)
}

// checkServe reads what serve will read (CA files, Cedar files, keys, TLS
// certificates) and builds what it will build, and returns every problem.
func checkServe(f *config.File, src *config.Source, opts build.Options) (*build.Secrets, error) {
	var errs []error
	// check runs fn when the file has no problem of its own at field (one
	// problem is not reported twice) and records what fn returns.
	check := func(field string, fn func() error) {
		if !src.Clean(field) {
			return
		}
		if err := fn(); err != nil {
			errs = append(errs, src.Problem(field, "%v", err))
		}
	}
	for i, is := range f.AuthN.Issuers {
		if is.CAFile != "" {
			check(fmt.Sprintf("authn.issuers[%d].ca_file", i), func() error {
				_, err := config.LoadCAPool(opts.Path(is.CAFile), true)
				return err
			})
		}
	}
	check("creds.sts.ca_file", func() error {
		_, err := build.CAClient(f.Creds.STS.CAFile, opts)
		return err
	})
	check("gateway.lambda.ca_file", func() error {
		_, err := build.CAClient(f.Gateway.Lambda.CAFile, opts)
		return err
	})
	if ca := f.Telemetry.Tracing.CAFile; ca != "" {
		check("telemetry.tracing.ca_file", func() error {
			_, err := config.LoadCAPool(opts.Path(ca), true)
			return err
		})
	}
	if src.Clean("authz") && src.Clean("creds.roles") {
		if _, err := build.Policy(f, opts); err != nil {
			errs = append(errs, err) // Cedar problems name their own file and line
		}
	}
	if f.NeedsIssuer() && f.Creds.Issuer.KeyDir != "" {
		check("creds.issuer.key_dir", func() error { return build.CheckIssuerKeys(f, opts) })
	}
	if f.Audit.KeyFile != "" {
		check("audit.key_file", func() error {
			_, err := build.Pseudonymizer(f, opts)
			return err
		})
	}
	// Every secret reference is read, from its store: a secret serve could
	// not read would refuse its start.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secrets, err := build.NewSecrets(ctx, f, opts, nil)
	if err != nil {
		errs = append(errs, err)
	}
	for _, nr := range f.SecretRefs() {
		field := nr.Field
		if field == "audit.dsn" && f.Audit.DSN.IsZero() {
			field = "audit.dsn_file"
		}
		field = tlsField(f, field)
		check(field, func() error {
			if secrets == nil {
				return nil // its client could not be built: said above
			}
			if err := secrets.Field(nr.Field).Refresh(ctx); err != nil {
				return err
			}
			if nr.Field == "audit.key" {
				_, err := build.Pseudonymizer(f, build.Options{Secrets: secrets}) // at least 32 bytes
				return err
			}
			return nil
		})
	}
	// Every vault key is read too: its public key, a key of a kind that
	// signs RS256 or ES256 (the sign permission shows at the first
	// signature; `gatehouse secrets check` signs a test digest).
	for _, nr := range f.KeyRefs() {
		check(nr.Field, func() error {
			if secrets == nil {
				return nil
			}
			return secrets.Key(nr.Field).Secret.Refresh(ctx)
		})
	}
	if f.Audit.SigningKeyFile != "" {
		check("audit.signing_key_file", func() error {
			_, err := build.SigningKey(f, opts)
			return err
		})
	}
	switch {
	case f.Audit.Sink == "sqlite" && f.Audit.Path != "":
		check("audit.path", func() error {
			dir := filepath.Dir(opts.Path(f.Audit.Path))
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return fmt.Errorf("the directory %s does not exist", dir)
			}
			return nil
		})
	}
	// The TLS key and certificate, read above: one pair that matches.
	if f.Gateway.TLSEnabled() && secrets != nil {
		var te *build.TLSError
		if err := build.CheckTLS(f, secrets); errors.As(err, &te) {
			check(te.Written, func() error { return errors.New(te.Reason) })
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	for i, r := range build.Routes(f) {
		if r.Function != "" && src.Clean("gateway.lambda") {
			check(fmt.Sprintf("gateway.routes[%d].function", i), func() error {
				_, err := invoke.NewLambda(invoke.LambdaConfig{Function: r.Function, Region: build.Region(f), Endpoint: f.Gateway.Lambda.Endpoint})
				return err
			})
		}
	}
	return secrets, errors.Join(errs...)
}

// tlsField is the field of a TLS reference (File.SecretRefs) as the file
// writes it: gateway.tls_key_file counts as gateway.tls_key,
// gateway.tls_cert_file as gateway.tls_cert.
func tlsField(f *config.File, field string) string {
	switch field {
	case "gateway.tls_key":
		return f.Gateway.TLSKeyField()
	case "gateway.tls_cert":
		return "gateway.tls_cert_file"
	}
	return field
}

func runServe(ctx context.Context, e *env, f *config.File, o serveOptions, opts build.Options) error {
	// Every secret was read by loadServe, before anything starts; from
	// now on they are kept fresh.
	var err error
	sec := opts.Secrets
	go sec.Set.Run(ctx)
	stack := &gatewayStack{opts: opts, secrets: sec, publicURL: f.Gateway.PublicURL, lambdaURL: f.Gateway.Lambda.Endpoint, log: e.log}
	if stack.client, err = build.CAClient(f.Gateway.Lambda.CAFile, opts); err != nil {
		return fmt.Errorf("gateway.lambda.ca_file: %w", err)
	}
	stsClient, err := build.CAClient(f.Creds.STS.CAFile, opts)
	if err != nil {
		return fmt.Errorf("creds.sts.ca_file: %w", err)
	}
	if f.NeedsIssuer() {
		if stack.issuer, err = build.Issuer(f, f.Creds.Issuer.URL, opts); err != nil {
			return err
		}
	}
	if stack.tracing, err = startTracing(ctx, f, opts, e); err != nil {
		return err
	}
	defer stopTracing(stack.tracing, e)
	stack.trustTraces = f.Telemetry.Tracing.TrustIncoming
	awsCfg, err := build.AWS(ctx, f)
	if err != nil {
		return err
	}
	awsCfg.APIOptions = append(awsCfg.APIOptions, awstrace.Middleware(false)) // the STS call's span
	if stack.broker, err = creds.New(build.Creds(f, stack.issuer, build.STS(awsCfg, f.Creds.STS.Endpoint, stsClient), opts)); err != nil {
		return err
	}
	if stack.trail, err = build.AuditTrail(ctx, f, opts); err != nil {
		return err
	}
	defer stack.trail.Close()
	if stack.revocations, err = build.Revocations(ctx, f, opts); err != nil {
		return fmt.Errorf("revocation store: %w", err)
	}
	if stack.revocations != nil {
		defer stack.revocations.Close()
		go stack.revocations.Run(ctx)
	}
	go stack.trail.Prune(ctx, f.Audit.Retention, e.log)
	gw, err := stack.newGateway(ctx, f)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}

	var tlsCfg *tls.Config
	tlsOn := f.Gateway.TLSEnabled()
	if tlsOn {
		// The key and certificate loadServe read, from their references:
		// a rotation is served to new connections from the refresh that
		// finds it on.
		cert, err := build.NewGatewayTLS(f, opts)
		if err != nil {
			return err
		}
		tlsCfg = cert.Config()
	}
	ln, err := net.Listen("tcp", f.Gateway.ListenAddr())
	if err != nil {
		return listenError("gateway.listen", o.gatewayListen, "--gateway-listen", err)
	}
	hs := gw.NewServer(gatewayMux(stack.issuer, gw.Handler()))
	serveErr := make(chan error, 2)
	go func() { serveErr <- hs.Serve(gw.Listener(ln, tlsCfg)) }()
	admin, adminURL, err := serveAdmin(f.Gateway.AdminListen, o.adminListen != "", gw.AdminHandler(), serveErr, e)
	if err != nil {
		hs.Close()
		return err
	}
	rl := &reloader{path: o.configPath, where: config.WhereServe, opts: opts, log: e.log, interval: time.Second,
		override: o.override, // the listeners stay where they are
		hup:      func(ctx context.Context) { sec.Set.Refresh(ctx) },
		apply: func(ctx context.Context, f *config.File) error {
			snap, err := stack.snapshot(ctx, f)
			if err != nil {
				return err
			}
			return gw.Swap(snap)
		}}
	go rl.run(ctx, f)
	e.log.Info("serve: gateway listening", "addr", ln.Addr().String(), "tls", tlsOn, "routes", len(f.Gateway.Routes))
	fmt.Fprintf(e.stderr, "gatehouse serving %s on %s\n", plural(len(f.Gateway.Routes), "route"), ln.Addr())
	if o.readyFile != "" {
		ready := endpoints{Gateway: localURL(ln.Addr(), tlsOn), Admin: adminURL}
		if err := writeReady(ctx, o.readyFile, ready, serveClient(tlsCfg), serveErr); err != nil {
			hs.Close()
			if admin != nil {
				admin.Close()
			}
			return err
		}
	}
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Drain in-flight requests (their audit events are written before
	// their responses), then close the trail.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if admin != nil {
		admin.Shutdown(sctx)
	}
	return hs.Shutdown(sctx)
}

// listenError names where a refused address came from: the flag, or the
// configuration's field.
func listenError(field, flagValue, flag string, err error) error {
	if flagValue != "" {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return fmt.Errorf("%s: %w", field, err)
}

// writeReady waits until the gateway and the admin listener answer
// /healthz, then writes their URLs to path, as dev's --ready-file does.
func writeReady(ctx context.Context, path string, ep endpoints, gwClient *http.Client, serveErr <-chan error) error {
	if err := waitAnswering(ctx, gwClient, ep.Gateway+"/healthz", serveErr); err != nil {
		return err
	}
	if ep.Admin != "" {
		if err := waitAnswering(ctx, &http.Client{Timeout: 5 * time.Second}, ep.Admin+"/healthz", serveErr); err != nil {
			return err
		}
	}
	return writeJSONFile(path, ep)
}

// localURL is the URL this host reaches a listener at: a wildcard address
// (":8443") as 127.0.0.1.
func localURL(addr net.Addr, tlsOn bool) string {
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// serveClient reaches serve's own gateway to see it answer: with TLS, it
// accepts exactly the certificate serve presents now, whatever names it
// holds.
func serveClient(cfg *tls.Config) *http.Client {
	c := &http.Client{Timeout: 5 * time.Second}
	if cfg == nil || cfg.GetCertificate == nil {
		return c
	}
	c.Transport = &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain and names are not checked; the certificate is, below:
		// the peer must present serve's own.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			own, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
			if err != nil || own == nil || len(own.Certificate) == 0 || len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, own.Certificate[0]) {
				return errors.New("not serve's own certificate")
			}
			return nil
		},
	}}
	return c
}

// serveAdmin starts the admin listener (metrics, health) at addr, and
// returns it with its URL: "" means config.DefaultAdminListen, which is
// skipped with a warning when its port is taken (an address set in the
// configuration or by flag must bind); "off", none.
func serveAdmin(addr string, byFlag bool, h http.Handler, serveErr chan<- error, e *env) (*http.Server, string, error) {
	if addr == config.AdminOff {
		return nil, "", nil
	}
	explicit := addr != ""
	if !explicit {
		addr = config.DefaultAdminListen
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case err != nil && byFlag:
		return nil, "", fmt.Errorf("--admin-listen: %w", err)
	case err != nil && explicit:
		return nil, "", fmt.Errorf("gateway.admin_listen: %w", err)
	case err != nil:
		e.log.Warn("serve: no admin listener (metrics, health): its default address is taken; set gateway.admin_listen", "addr", addr, "err", err)
		return nil, "", nil
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != http.ErrServerClosed {
			serveErr <- err
		}
	}()
	e.log.Info("serve: admin listener", "addr", ln.Addr().String())
	return hs, localURL(ln.Addr(), false), nil
}

// plural is "1 route", "2 routes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
