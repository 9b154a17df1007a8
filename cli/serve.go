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

// needsIssuer reports whether gatehouse's own issuer is needed: for broker
// mode credentials, and to sign the identity assertions upstreams receive.
func needsIssuer(f *config.File) bool {
	for _, r := range f.CredsRoles() {
		if r.Mode == creds.ModeBroker {
			return true
		}
	}
	for _, rt := range f.Gateway.Routes {
		if rt.Upstream != nil {
			return true
		}
	}
	return false
}

func runServe(ctx context.Context, e *env, configPath string) error {
	f, err := config.Load(configPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	if f.Creds.STS.Endpoint == config.EndpointDev {
		return errors.New(`creds.sts.endpoint "dev" names the local STS of 'gatehouse dev'`)
	}
	if len(f.Gateway.Routes) == 0 {
		return errors.New("gateway.routes is empty: nothing to serve")
	}
	v, err := buildVerifier(f, nil, e.log)
	if err != nil {
		return err
	}
	if err := v.Refresh(ctx); err != nil {
		// Not fatal: /readyz says not ready and tokens get 503 until keys load.
		e.log.Error("serve: issuer keys not loaded yet", "err", err)
	}
	policy, err := buildPolicy(f, configPath)
	if err != nil {
		printProblems(e.stderr, err)
		return exitError{code: 1}
	}
	var issuer *creds.Issuer
	if needsIssuer(f) {
		if issuer, err = buildIssuer(f, f.Creds.Issuer.URL, "", e.log); err != nil {
			return err
		}
	}
	stsAPI, err := stsClient(ctx, f, f.Creds.STS.Endpoint, nil)
	if err != nil {
		return err
	}
	broker, err := buildBroker(f, issuer, stsAPI, e.log)
	if err != nil {
		return err
	}
	rec, sink, pseudo, err := buildRecorder(ctx, f, "", e.log)
	if err != nil {
		return err
	}
	defer func() {
		rec.Close()
		sink.Close()
	}()
	if f.Audit.Retention > 0 {
		go pruneAudit(ctx, sink, f.Audit.Retention, resolveAuditFiles(f, "").signingKey, e.log)
	}
	issuerURL, issuers := issuerURLs(f, "")
	parts := gatewayParts{
		verifier: v, policy: policy, broker: broker, recorder: rec, pseudo: pseudo,
		publicURL: f.Gateway.PublicURL, issuers: issuers, issuerURL: issuerURL, log: e.log, issuer: issuer,
	}
	gw, err := buildGateway(f, parts)
	if err != nil {
		return err
	}

	listen := f.Gateway.Listen
	if listen == "" {
		listen = ":8443"
	}
	tlsOn := f.Gateway.TLSCertFile != ""
	if !tlsOn {
		host, _, err := net.SplitHostPort(listen)
		if err != nil || !isLoopbackHost(host) {
			return fmt.Errorf("gateway.listen %q: without tls_cert_file and tls_key_file, serve listens only on a loopback address (bearer tokens never cross a network in clear)", listen)
		}
	}
	var tlsCfg *tls.Config
	if tlsOn {
		cert, err := tls.LoadX509KeyPair(f.Gateway.TLSCertFile, f.Gateway.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("gateway.tls_cert_file, tls_key_file: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := gw.NewServer(gatewayMux(issuer, gw.Handler()))
	serveErr := make(chan error, 2)
	go func() { serveErr <- hs.Serve(gw.Listener(ln, tlsCfg)) }()
	admin, err := serveAdmin(f.Gateway.AdminListen, gw.AdminHandler(), serveErr, e)
	if err != nil {
		hs.Close()
		return err
	}
	watcher := &policyWatcher{path: configPath, eng: policy, gw: gw, parts: parts, log: e.log, interval: time.Second}
	go watcher.run(ctx, f)
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
