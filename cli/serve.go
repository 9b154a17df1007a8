package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/build"
	"gatehouse/config"
	"gatehouse/creds"
)

func newServeCmd(e *env) *cobra.Command {
	var configPath string
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
				return errors.New("serve needs --config (the development configuration is for 'gatehouse dev')")
			}
			return runServe(cmd.Context(), e, configPath)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file")
	return cmd
}

func runServe(ctx context.Context, e *env, configPath string) error {
	f, err := config.LoadFor(configPath, config.WhereServe)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	opts := optionsFor(configPath, nil, "", e.log)
	stack := &gatewayStack{opts: opts, publicURL: f.Gateway.PublicURL, log: e.log}
	if f.NeedsIssuer() {
		if stack.issuer, err = build.Issuer(f, f.Creds.Issuer.URL, opts); err != nil {
			return err
		}
	}
	awsCfg, err := build.AWS(ctx, f)
	if err != nil {
		return err
	}
	if stack.broker, err = creds.New(build.Creds(f, stack.issuer, build.STS(awsCfg, f.Creds.STS.Endpoint, nil), opts)); err != nil {
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
	fmt.Fprintf(e.stderr, "gatehouse serving %d routes on %s\n", len(f.Gateway.Routes), ln.Addr())
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
