package cli

import (
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
	"github.com/gatehouse-dev/gatehouse/invoke"
)

func newServeCmd(e *env) *cobra.Command {
	var configPath string
	var check bool
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the gateway against real identity providers, STS and Lambda",
		Long: `serve runs the identity-aware gateway from FILE: every route's request goes
through token verification, policy, short-lived credentials from STS, the
Lambda invocation and the audit trail. gatehouse's own issuer (broker mode)
is served at creds.issuer.url's path. It refuses to start when a route's
protection cannot be honoured, and drains in-flight requests on SIGTERM.
The policy reloads when FILE or its Cedar files change, or on SIGHUP.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return errors.New("serve needs --config FILE (gatehouse init writes one; the development configuration is for 'gatehouse dev')")
			}
			f, opts, err := loadServe(e, configPath)
			if err != nil {
				return err
			}
			if check {
				fmt.Fprintf(e.stdout, "ok: %s is ready to serve %s on %s\n", configPath, plural(len(f.Gateway.Routes), "route"), f.Gateway.ListenAddr())
				return nil
			}
			return runServe(cmd.Context(), e, f, configPath, opts)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file")
	cmd.Flags().BoolVar(&check, "check", false, "check the configuration and every file it names, report every problem at once, and exit")
	return cmd
}

// loadServe reads the configuration and checks everything serve needs of
// it and of the files it names, without listening or calling anyone; every
// problem is printed, each with its file and line, and serve does not
// start.
func loadServe(e *env, configPath string) (*config.File, build.Options, error) {
	f, src, err := config.LoadSource(configPath, config.WhereServe)
	opts := optionsFor(configPath, nil, "", e.log)
	if f != nil {
		// The files a problem-free part names are checked too, so one run
		// reports everything.
		err = errors.Join(err, checkServe(f, src, opts))
	}
	if err != nil {
		printProblems(e.stderr, err)
		return nil, build.Options{}, exitError{code: 1}
	}
	return f, opts, nil
}

// checkServe reads what serve will read (CA files, Cedar files, keys, TLS
// certificates) and builds what it will build, and returns every problem.
func checkServe(f *config.File, src *config.Source, opts build.Options) error {
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
	if f.Audit.SigningKeyFile != "" {
		check("audit.signing_key_file", func() error {
			_, err := build.SigningKey(f, opts)
			return err
		})
	}
	switch {
	case f.Audit.Sink == "postgres" && f.Audit.DSNFile != "":
		check("audit.dsn_file", func() error {
			_, err := os.ReadFile(opts.Path(f.Audit.DSNFile))
			return err
		})
	case f.Audit.Sink == "sqlite" && f.Audit.Path != "":
		check("audit.path", func() error {
			dir := filepath.Dir(opts.Path(f.Audit.Path))
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return fmt.Errorf("the directory %s does not exist", dir)
			}
			return nil
		})
	}
	if f.Gateway.TLSCertFile != "" && src.Clean("gateway.tls_key_file") {
		check("gateway.tls_cert_file", func() error {
			_, err := tls.LoadX509KeyPair(opts.Path(f.Gateway.TLSCertFile), opts.Path(f.Gateway.TLSKeyFile))
			return err
		})
	}
	for i, r := range build.Routes(f) {
		if r.Function != "" && src.Clean("gateway.lambda") {
			check(fmt.Sprintf("gateway.routes[%d].function", i), func() error {
				_, err := invoke.NewLambda(invoke.LambdaConfig{Function: r.Function, Region: build.Region(f), Endpoint: f.Gateway.Lambda.Endpoint})
				return err
			})
		}
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, e *env, f *config.File, configPath string, opts build.Options) error {
	var err error
	stack := &gatewayStack{opts: opts, publicURL: f.Gateway.PublicURL, lambdaURL: f.Gateway.Lambda.Endpoint, log: e.log}
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
	awsCfg, err := build.AWS(ctx, f)
	if err != nil {
		return err
	}
	if stack.broker, err = creds.New(build.Creds(f, stack.issuer, build.STS(awsCfg, f.Creds.STS.Endpoint, stsClient), opts)); err != nil {
		return err
	}
	if stack.trail, err = build.AuditTrail(ctx, f, opts); err != nil {
		return err
	}
	defer stack.trail.Close()
	go stack.trail.Prune(ctx, f.Audit.Retention, e.log)
	gw, err := stack.newGateway(ctx, f)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}

	var tlsCfg *tls.Config
	tlsOn := f.Gateway.TLSCertFile != ""
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(opts.Path(f.Gateway.TLSCertFile), opts.Path(f.Gateway.TLSKeyFile))
		if err != nil {
			return fmt.Errorf("gateway.tls_cert_file, tls_key_file: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", f.Gateway.ListenAddr())
	if err != nil {
		return err
	}
	hs := gw.NewServer(gatewayMux(stack.issuer, gw.Handler()))
	serveErr := make(chan error, 2)
	go func() { serveErr <- hs.Serve(gw.Listener(ln, tlsCfg)) }()
	admin, err := serveAdmin(f.Gateway.AdminListen, gw.AdminHandler(), serveErr, e)
	if err != nil {
		hs.Close()
		return err
	}
	rl := &reloader{path: configPath, where: config.WhereServe, opts: opts, log: e.log, interval: time.Second,
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

// serveAdmin starts the admin listener (metrics, health) at addr: "" means
// config.DefaultAdminListen, which is skipped with a warning when its port
// is taken (an address set in the configuration must bind); "off", none.
func serveAdmin(addr string, h http.Handler, serveErr chan<- error, e *env) (*http.Server, error) {
	if addr == config.AdminOff {
		return nil, nil
	}
	explicit := addr != ""
	if !explicit {
		addr = config.DefaultAdminListen
	}
	ln, err := net.Listen("tcp", addr)
	switch {
	case err != nil && explicit:
		return nil, fmt.Errorf("gateway.admin_listen: %w", err)
	case err != nil:
		e.log.Warn("serve: no admin listener (metrics, health): its default address is taken; set gateway.admin_listen", "addr", addr, "err", err)
		return nil, nil
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != http.ErrServerClosed {
			serveErr <- err
		}
	}()
	e.log.Info("serve: admin listener", "addr", ln.Addr().String())
	return hs, nil
}

// plural is "1 route", "2 routes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
