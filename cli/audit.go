package cli

import (
	"context"
	"crypto"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/auditview"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

func newAuditCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "audit",
		Short: "Query, verify, export and browse the audit trail",
		Example: `  gatehouse audit query --user alice@contoso.example
  gatehouse audit verify
  gatehouse audit serve`,
	})
	cmd.AddCommand(newAuditQueryCmd(e), newAuditVerifyCmd(e), newAuditExportCmd(e), newAuditServeCmd(e))
	return cmd
}

// auditSource is the store a reading command works on: the configured
// sink, or a captured JSON-lines file (--file).
type auditSource struct {
	configPath, stateDir, file string
}

func (s *auditSource) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.configPath, "config", "", "configuration file (default: the embedded development configuration)")
	cmd.Flags().StringVar(&s.stateDir, "state-dir", "", "state directory of 'gatehouse dev' (where its trail and keys live)")
	cmd.Flags().StringVar(&s.file, "file", "", "read a captured JSON-lines trail instead of the configured store")
}

// open opens the trail to read, with the configuration and the build
// options its files resolve with.
func (s *auditSource) open(ctx context.Context) (audit.Sink, *config.File, build.Options, error) {
	f, err := loadConfig(s.configPath)
	if err != nil {
		return nil, nil, build.Options{}, err
	}
	dir := ""
	if s.configPath == "" || s.stateDir != "" || f.Dev.StateDir != "" {
		if dir, err = resolveStateDir(s.stateDir, f.Dev.StateDir); err != nil {
			return nil, nil, build.Options{}, err
		}
	}
	opts := optionsFor(s.configPath, nil, dir, nil)
	if s.file != "" {
		sink, err := jsonl.ReadFile(s.file)
		return sink, f, opts, err
	}
	sink, err := build.AuditSink(ctx, f, opts, false)
	return sink, f, opts, err
}

type queryOptions struct {
	src                                   auditSource
	user, principal, tenant, agent, route string
	decision, since, until, format        string
	limit                                 int
}

func newAuditQueryCmd(e *env) *cobra.Command {
	var o queryOptions
	cmd := &cobra.Command{
		Use:   "query [filters]",
		Short: "List audit events, newest first, filtered",
		Long: `query lists events. --user finds one person's events without the trail ever
storing who they are: the user (a development user's UPN or name, or an
object id with --tenant) is turned into the same keyed pseudonyms the gateway
stored, with the pseudonym key (audit.key) and the keys it replaced
(audit.previous_keys), and the events naming any of them are listed.`,
		Example: `  gatehouse audit query --user alice@contoso.example
  gatehouse audit query --decision deny --since 1h --format json
  gatehouse audit query --config gatehouse.yaml --route api --limit 20 --format csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditQuery(cmd.Context(), e, o) },
	}
	o.src.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.user, "user", "", "a user: development UPN or name, or an object id (with --tenant)")
	f.StringVar(&o.principal, "principal", "", "a stored pseudonym (p1:…)")
	f.StringVar(&o.tenant, "tenant", "", "tenant id (or a development tenant's domain)")
	f.StringVar(&o.agent, "agent", "", "an agent in the chain (app id or pseudonym)")
	f.StringVar(&o.route, "route", "", "route id")
	f.StringVar(&o.decision, "decision", "", "allow, deny or error")
	f.StringVar(&o.since, "since", "", "events at or after: RFC 3339 time or a duration ago (1h, 30m)")
	f.StringVar(&o.until, "until", "", "events before: RFC 3339 time or a duration ago")
	f.IntVar(&o.limit, "limit", 100, "at most this many events (0: all)")
	formatFlag(cmd, f, &o.format, "format", "table", "print the events as a table, JSON lines or CSV", "table", formatJSON, "csv")
	return cmd
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or a duration such as 1h", s)
	}
	return t, nil
}

func runAuditQuery(ctx context.Context, e *env, o queryOptions) error {
	sink, f, opts, err := o.src.open(ctx)
	if err != nil {
		return err
	}
	defer sink.Close()
	flt := audit.Filter{Tenant: o.tenant, Agent: o.agent, Route: o.route, Decision: o.decision, Limit: o.limit, Newest: true}
	if o.principal != "" {
		flt.Principals = []string{o.principal}
	}
	now := time.Now()
	if flt.Since, err = parseWhen(o.since, now); err != nil {
		return err
	}
	if flt.Until, err = parseWhen(o.until, now); err != nil {
		return err
	}
	if o.user != "" {
		tenant, oid, err := f.Dev.IDP.ResolveUser(o.user, o.tenant)
		if err != nil {
			return err
		}
		// Under every key: the user's events written before a rotation
		// are found with the previous keys.
		keys, err := build.PseudonymKeys(f, opts)
		if err != nil {
			return err
		}
		flt.Principals = keys.Principals(tenant, oid)
	}
	events, err := sink.Query(ctx, flt)
	if err != nil {
		return err
	}
	return printEvents(e.stdout, o.format, events)
}

func printEvents(w io.Writer, format string, events []audit.Event) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		for i := range events {
			if err := enc.Encode(&events[i]); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"time", "request_id", "route", "principal", "kind", "tenant", "app", "agents", "decision", "role", "policies", "status", "latency_us", "check", "error_class"})
		for _, ev := range events {
			cw.Write([]string{audit.FormatTime(ev.Time), ev.RequestID, ev.Route, ev.Principal, ev.PrincipalKind, ev.Tenant, ev.App,
				agents(ev), ev.Decision, ev.Role, strings.Join(ev.Policies, " "), strconv.Itoa(ev.Status), strconv.FormatInt(ev.LatencyMicros, 10), ev.Check, ev.ErrorClass})
		}
		cw.Flush()
		return cw.Error()
	case "table":
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tROUTE\tPRINCIPAL\tKIND\tDECISION\tROLE\tSTATUS\tCHECK/ERROR\tREQUEST")
		for _, ev := range events {
			problem := ev.Check
			if problem == "" {
				problem = ev.ErrorClass
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", ev.Time.UTC().Format(time.DateTime), ev.Route, shortPseudonym(ev.Principal),
				ev.PrincipalKind, ev.Decision, ev.Role, ev.Status, problem, ev.RequestID)
		}
		return tw.Flush()
	}
	return fmt.Errorf("--format %q: want table, json or csv", format)
}

func agents(ev audit.Event) string {
	var out []string
	for _, a := range ev.Agents {
		out = append(out, a.Subject+"("+a.Via+")")
	}
	return strings.Join(out, " ")
}

func shortPseudonym(p string) string {
	if len(p) > 14 {
		return p[:14] + "…"
	}
	return p
}

func newAuditVerifyCmd(e *env) *cobra.Command {
	var src auditSource
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the trail's hash chains and signed checkpoints; name the first bad position",
		Long: `verify recomputes every event's hash and chain link and checks every
checkpoint's signature. An edited, deleted, inserted or reordered event makes
it exit 1, naming the chain, sequence number and stored position of the first
bad one.`,
		Example: `  gatehouse audit verify
  gatehouse audit verify --config gatehouse.yaml
  gatehouse audit verify --file trail.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sink, f, opts, err := src.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sink.Close()
			var pub crypto.PublicKey
			if keys, err := build.VerifyKeys(f, opts); err == nil {
				pub = keys
			} else {
				fmt.Fprintf(e.stderr, "warning: checkpoint signatures not checked: %v\n", err)
			}
			rep, err := audit.Verify(cmd.Context(), sink, pub)
			var ce *audit.ChainError
			if errors.As(err, &ce) {
				fmt.Fprintf(e.stdout, "TAMPERED: chain %s, sequence %d, stored position %d: %s\n", ce.Chain, ce.Seq, ce.Position, ce.Reason)
				return exitError{code: 1}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "ok: %d events, %d checkpoints, %d chains (signatures checked: %v)\n", rep.Events, rep.Checkpoints, len(rep.Chains), rep.Signed)
			for _, c := range rep.Chains {
				fmt.Fprintf(e.stdout, "  chain %s: events %d..%d, checkpoint at %d, %d after it, closed %v\n", c.Chain, c.First, c.Last, c.LastCheckpoint, c.Unanchored, c.Final)
			}
			return nil
		},
	}
	src.flags(cmd)
	return cmd
}

func newAuditExportCmd(e *env) *cobra.Command {
	var src auditSource
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the whole trail (events and checkpoints) as JSON lines, verifiable with --file",
		Example: `  gatehouse audit export > trail.jsonl && gatehouse audit verify --file trail.jsonl
  gatehouse audit export --config gatehouse.yaml > trail.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sink, _, _, err := src.open(cmd.Context())
			if err != nil {
				return err
			}
			defer sink.Close()
			return jsonl.Export(cmd.Context(), sink, e.stdout)
		},
	}
	src.flags(cmd)
	return cmd
}

// The auditor's view: where `audit serve` listens by default (beside
// dev's ports: IdP 9443, STS 9444, Lambda 9445, upstream 9446, admin 9447,
// Key Vault 9448), and the path it is served under, there and on dev's
// admin listener.
const (
	defaultAuditViewListen = "127.0.0.1:9449"
	auditViewPath          = "/audit/"
)

func newAuditServeCmd(e *env) *cobra.Command {
	var src auditSource
	var listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the auditor's view of the trail: a read-only web page, on loopback",
		Long: `serve runs the auditor's view: a read-only web page over the trail, with a
timeline filtered by user, agent, route, role, decision and time, charts of
decisions and denials, each event's record with its place in its chain, and
the result of verify, run in the background at start and again on request.
A user typed in the filter is turned into pseudonyms with the pseudonym keys
(audit.key and audit.previous_keys), as 'audit query --user' does; the name
itself is never shown.

The view has no sign-in yet, so it listens on a loopback address only; reach
it from another machine through an SSH tunnel. 'gatehouse dev' serves it
too, on its admin listener.`,
		Example: `  gatehouse audit serve
  gatehouse audit serve --config gatehouse.yaml --listen 127.0.0.1:9449
  gatehouse audit serve --file trail.jsonl
  ssh -L 9449:127.0.0.1:9449 gateway-host   # then open http://127.0.0.1:9449/audit/`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditServe(cmd.Context(), e, src, listen) },
	}
	src.flags(cmd)
	cmd.Flags().StringVar(&listen, "listen", defaultAuditViewListen, "host:port on a loopback address (port 0 picks a free one)")
	return cmd
}

// checkLoopbackListen refuses an address the view must not listen on.
func checkLoopbackListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopbackHost(host) {
		return fmt.Errorf("--listen %q: the auditor's view has no sign-in yet, so it listens on a loopback address only "+
			"(127.0.0.1:PORT, [::1]:PORT or localhost:PORT); from another machine, use an SSH tunnel: ssh -L 9449:127.0.0.1:9449 HOST", addr)
	}
	return nil
}

func runAuditServe(ctx context.Context, e *env, src auditSource, listen string) error {
	if err := checkLoopbackListen(listen); err != nil {
		return err
	}
	sink, f, opts, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer sink.Close()
	cfg := auditViewConfig(f, sink, e.log)
	if src.file != "" {
		cfg.StoreName = "JSON lines: " + src.file
	}
	if keys, err := build.PseudonymKeys(f, opts); err == nil {
		cfg.ResolveUser = resolveUser(f, keys)
	} else {
		e.log.Warn("audit serve: users cannot be turned into pseudonyms: filter by pseudonym", "err", err)
	}
	if keys, err := build.VerifyKeys(f, opts); err == nil {
		cfg.VerifyKey = keys
	} else {
		cfg.VerifyKeyNote = err.Error()
	}
	view, err := auditview.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	view.Start(ctx)
	mux := http.NewServeMux()
	mux.Handle(auditViewPath, view)
	mux.Handle("GET /{$}", http.RedirectHandler(auditViewPath, http.StatusFound))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10} // an export may take minutes
	fmt.Fprintf(e.stdout, "auditor's view: %s%s (read-only; Ctrl-C stops it)\n", localURL(ln.Addr(), false), auditViewPath)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	case err := <-serveErr:
		return err
	}
}

// auditViewConfig is the view's configuration from f: agents named from
// authz.agents and the development apps, routes and roles offered in the
// filters, the store's kind.
func auditViewConfig(f *config.File, sink audit.Sink, log *slog.Logger) auditview.Config {
	cfg := auditview.Config{Store: sink, Prefix: auditViewPath, Logger: log, Agents: map[string]string{}}
	switch f.Audit.Sink {
	case "postgres":
		cfg.StoreName = "PostgreSQL"
	case "jsonl":
		cfg.StoreName = "JSON lines"
	default:
		cfg.StoreName = "SQLite"
	}
	for _, t := range f.Dev.IDP.Tenants {
		for _, a := range t.Apps {
			cfg.Agents[a.ClientID] = a.Name
		}
	}
	for _, a := range f.AuthZ.Agents {
		if a.Name != "" {
			cfg.Agents[a.App] = a.Name
		}
	}
	for _, r := range f.Gateway.Routes {
		cfg.Routes = append(cfg.Routes, r.ID)
	}
	for _, r := range f.AuthZ.Roles {
		cfg.Roles = append(cfg.Roles, r.Name)
	}
	return cfg
}

// resolveUser turns a user into their pseudonyms under every key, as
// audit query --user does: a development user by UPN or name, or an object
// id with its tenant.
func resolveUser(f *config.File, keys *audit.PseudonymKeys) func(user, tenant string) ([]string, error) {
	return func(user, tenant string) ([]string, error) {
		tid, oid, err := f.Dev.IDP.ResolveUser(user, tenant)
		if err != nil {
			return nil, err
		}
		return keys.Principals(tid, oid), nil
	}
}

// withAuditView serves the auditor's view beside admin (dev's admin
// listener, on loopback) at auditViewPath, over the trail dev writes, and
// returns the view's URL; a trail that cannot be browsed (JSON lines to
// standard output) leaves admin as it is and the URL empty.
func withAuditView(ctx context.Context, f *config.File, trail *build.Trail, admin http.Handler, adminURL string, log *slog.Logger) (http.Handler, string) {
	cfg := auditViewConfig(f, trail.Sink, log)
	cfg.ResolveUser = resolveUser(f, trail.Pseudonyms)
	cfg.VerifyKey = append([]crypto.PublicKey{trail.Signer.Public()}, trail.Previous...)
	view, err := auditview.New(cfg)
	if err != nil {
		log.Info("dev: no auditor's view", "reason", err)
		return admin, ""
	}
	view.Start(ctx)
	mux := http.NewServeMux()
	mux.Handle(auditViewPath, view)
	mux.Handle("/", admin)
	return mux, adminURL + auditViewPath
}
