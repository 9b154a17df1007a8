package cli

import (
	"context"
	"crypto/tls"
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

	"gatehouse/config"
	"gatehouse/devkit/devca"
	"gatehouse/devkit/idp"
)

type devOptions struct {
	configPath  string
	stateDir    string
	readyFile   string
	listen      string
	printConfig bool
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

	listen := f.Dev.IDP.Listen
	if listen == "" {
		listen = "127.0.0.1:9443"
	}
	if host, _, err := net.SplitHostPort(listen); err != nil || !isLoopbackHost(host) {
		return fmt.Errorf("dev.idp.listen %q: want host:port on a loopback address", listen)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("development IdP: %w (is another 'gatehouse dev' running? use --listen)", err)
	}
	scheme := "http"
	dev := &devContext{}
	ep := endpoints{}
	if f.Dev.IDP.TLSEnabled() {
		ca, err := devca.LoadOrCreate(stateDir)
		if err != nil {
			ln.Close()
			return fmt.Errorf("local CA: %w", err)
		}
		host, _, _ := net.SplitHostPort(listen)
		tlsCfg, err := ca.ServerTLSConfig(uniq("127.0.0.1", "localhost", "::1", host)...)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
		dev.caPool = ca.CertPool()
		ep.CAFile = filepath.Join(stateDir, "ca.pem")
	}
	dev.baseURL = scheme + "://" + ln.Addr().String()

	srv, err := idp.New(idpConfig(f.Dev.IDP, dev.baseURL, filepath.Join(stateDir, "idp"), e.log))
	if err != nil {
		ln.Close()
		return err
	}
	defer srv.Close()
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()

	tenant := f.Dev.IDP.Tenants[0].ID
	ep.IDP, ep.Tenant, ep.Issuer = dev.baseURL, tenant, srv.Issuer(tenant)
	if err := waitAnswering(ctx, clientFor(dev), ep.Issuer+"/.well-known/openid-configuration", serveErr); err != nil {
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
	printBanner(e.stdout, f, ep, stateDir)
	watcher := &policyWatcher{path: o.configPath, eng: policy, log: e.log, interval: time.Second}
	go watcher.run(ctx, f)

	select {
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "gatehouse dev: shutting down")
		return nil
	case err := <-serveErr:
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

func printBanner(w io.Writer, f *config.File, ep endpoints, stateDir string) {
	fmt.Fprintf(w, "gatehouse dev is running\n\n")
	fmt.Fprintf(w, "  issuer      %s\n", ep.Issuer)
	fmt.Fprintf(w, "  discovery   %s/.well-known/openid-configuration\n", ep.Issuer)
	fmt.Fprintf(w, "  tenant      %s\n", ep.Tenant)
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
	fmt.Fprintf(w, "\nTry:\n  gatehouse token --user %s | gatehouse verify -\n", shortUser(t))
	if c := firstConfidential(t); c != "" {
		fmt.Fprintf(w, "  gatehouse token --client %s | gatehouse verify -\n", c)
	}
	if ep.CAFile != "" {
		fmt.Fprintf(w, "  curl --cacert %s %s/.well-known/openid-configuration\n", ep.CAFile, ep.Issuer)
	}
	fmt.Fprintln(w)
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
