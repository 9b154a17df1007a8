package cli

import (
	"context"
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
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           gatewayMux(issuer, gw.Handler()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      16 * time.Minute, // a function may run 15 minutes
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	watcher := &policyWatcher{path: configPath, eng: policy, gw: gw, parts: parts, log: e.log, interval: time.Second}
	go watcher.run(ctx, f)
	serveErr := make(chan error, 1)
	go func() {
		if tlsOn {
			serveErr <- hs.ServeTLS(ln, f.Gateway.TLSCertFile, f.Gateway.TLSKeyFile)
		} else {
			serveErr <- hs.Serve(ln)
		}
	}()
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
	return hs.Shutdown(sctx)
}
