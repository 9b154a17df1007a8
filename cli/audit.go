package cli

import (
	"context"
	"crypto"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

func newAuditCmd(e *env) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "audit",
		Short: "Query, verify and export the audit trail",
		Example: `  gatehouse audit query --user alice@contoso.example
  gatehouse audit verify`,
	})
	cmd.AddCommand(newAuditQueryCmd(e), newAuditVerifyCmd(e), newAuditExportCmd(e))
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
