package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/revoke"
)

// longestLifetime is how long a revocation lasts unless --for says: the
// longest lifetime a token of the file's issuers may have (their
// max_lifetime), so no token it refuses outlives it.
func longestLifetime(f *config.File) time.Duration {
	d := config.DefaultMaxLifetime
	for _, is := range f.AuthN.Issuers {
		d = max(d, is.MaxLifetime)
	}
	return d
}

type revokeOptions struct {
	configPath, tenant, reason, by, format string
	duration                               time.Duration
}

func newRevokeCmd(e *env) *cobra.Command {
	var o revokeOptions
	cmd := group(&cobra.Command{
		Use:   "revoke",
		Short: "Refuse a user, an app or agent, or one token before it expires, at every replica",
		Long: `revoke stores a revocation in the configuration's revocation store (revocation:
in the file); every replica refuses the revoked caller within a second, with
401 invalid_token, whatever its caches hold. A revocation lasts --for (the
longest token lifetime by default) and is recorded in the audit trail: who
revoked whom, as pseudonyms.`,
		Example: `  gatehouse revoke user alice@contoso.example --reason "left the company" --config gatehouse.yaml
  gatehouse revoke app 8f5c3767-7276-4be0-b5db-808ab516452c --reason "agent compromised" --config gatehouse.yaml
  gatehouse revoke token 9vTY1qOqQkWXh1pDk5VQAA --reason "leaked in a log" --config gatehouse.yaml
  gatehouse revoke list --config gatehouse.yaml
  gatehouse revoke remove 12 --config gatehouse.yaml`,
	})
	add := func(kind revoke.Kind, use, short, example string) *cobra.Command {
		c := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: example,
			Args:    oneArg(strings.ToUpper(string(kind)), ""),
			RunE: func(cmd *cobra.Command, args []string) error {
				return runRevoke(cmd.Context(), e, o, kind, args[0])
			},
		}
		c.Flags().StringVar(&o.reason, "reason", "", "why (stored with the revocation; required)")
		c.Flags().DurationVar(&o.duration, "for", 0, "how long the revocation lasts (default: the longest max_lifetime of the configured issuers, 24h unless raised)")
		c.Flags().StringVar(&o.by, "by", "", "who revokes (default: the operating system user)")
		if kind == revoke.User {
			c.Flags().StringVar(&o.tenant, "tenant", "", "tenant id (with an object id; a development UPN or name finds its own)")
		}
		c.MarkFlagRequired("reason")
		return c
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the active revocations",
		Example: "  gatehouse revoke list --config gatehouse.yaml\n  gatehouse revoke list --config gatehouse.yaml --format json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, _, _, err := openRevocations(cmd.Context(), o.configPath)
			if err != nil {
				return err
			}
			defer st.Close()
			rs, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			return printRevocations(e.stdout, o.format, rs)
		},
	}
	outputFormat(list, &o.format, "print the revocations as text or JSON")
	remove := &cobra.Command{
		Use:     "remove ID",
		Short:   "End a revocation (by its id, as list shows it)",
		Example: "  gatehouse revoke remove 12 --config gatehouse.yaml",
		Args:    oneArg("ID", ": the revocation's id, as 'gatehouse revoke list' shows it"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("%q is not a revocation id", args[0])
			}
			st, _, _, err := openRevocations(cmd.Context(), o.configPath)
			if err != nil {
				return err
			}
			defer st.Close()
			ok, err := st.Remove(cmd.Context(), id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no revocation %d", id)
			}
			fmt.Fprintf(e.stdout, "revocation %d removed\n", id)
			return nil
		},
	}
	cmd.AddCommand(
		add(revoke.User, "user NAME|OBJECT-ID", "Revoke a user (a development UPN or name, or an object id with --tenant)",
			`  gatehouse revoke user alice@contoso.example --reason "left the company" --config gatehouse.yaml
  gatehouse revoke user 2d4acc68-9d83-4609-a6f0-96e989303d16 --tenant 2e3fd419-1fb6-41f4-a9a1-60531a867149 --reason "..." --for 2h --config gatehouse.yaml`),
		add(revoke.App, "app NAME|CLIENT-ID", "Revoke an app or agent, as caller and as actor for users",
			`  gatehouse revoke app 8f5c3767-7276-4be0-b5db-808ab516452c --reason "agent compromised" --config gatehouse.yaml`),
		add(revoke.Token, "token TOKEN-ID", "Revoke one token (its uti or jti)",
			`  gatehouse revoke token 9vTY1qOqQkWXh1pDk5VQAA --reason "leaked in a log" --config gatehouse.yaml`),
		list, remove)
	cmd.PersistentFlags().StringVar(&o.configPath, "config", "", "configuration file (its revocation section names the store)")
	return cmd
}

// openRevocations opens the configuration's revocation store.
func openRevocations(ctx context.Context, path string) (*revoke.Store, *config.File, build.Options, error) {
	f, err := loadConfig(path)
	if err != nil {
		return nil, nil, build.Options{}, err
	}
	if !f.Revocation.Enabled() {
		return nil, nil, build.Options{}, errors.New("the configuration keeps no revocations: set revocation.store: postgres (see docs/revocation.md)")
	}
	opts := optionsFor(path, nil, "", nil)
	st, err := build.Revocations(ctx, f, opts)
	return st, f, opts, err
}

func runRevoke(ctx context.Context, e *env, o revokeOptions, kind revoke.Kind, who string) error {
	st, f, opts, err := openRevocations(ctx, o.configPath)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.duration == 0 {
		o.duration = longestLifetime(f)
	}
	r := revoke.Revocation{Kind: kind, Value: who, Reason: o.reason, By: o.by, Expires: time.Now().Add(o.duration)}
	if r.By == "" {
		if u, err := user.Current(); err == nil {
			r.By = u.Username
		}
	}
	switch kind {
	case revoke.User:
		if r.Tenant, r.Value, err = f.Dev.IDP.ResolveUser(who, o.tenant); err != nil {
			return err
		}
	case revoke.App:
		for _, t := range f.Dev.IDP.Tenants {
			for _, a := range t.Apps {
				if a.Name == who {
					r.Value = a.ClientID
				}
			}
		}
	}
	if r, err = st.Add(ctx, r); err != nil {
		return err
	}
	if err := auditRevocation(ctx, f, opts, r); err != nil {
		return fmt.Errorf("revocation %d is in force, but recording it in the audit trail failed: %w", r.ID, err)
	}
	fmt.Fprintf(e.stdout, "revocation %d: %s %s refused until %s\n", r.ID, r.Kind, r.Value, r.Expires.UTC().Format(time.RFC3339))
	return nil
}

// auditRevocation records r in the trail, in a chain of its own (the
// command is not a gateway replica): who revoked whom, each a pseudonym
// (an app or token id as it is); the reason stays in the store.
func auditRevocation(ctx context.Context, f *config.File, opts build.Options, r revoke.Revocation) error {
	g := *f
	host, _ := os.Hostname()
	g.Audit.Replica = "gatehouse-revoke@" + host
	g.Audit.Mode = string(audit.Sync)
	trail, err := build.AuditTrail(ctx, &g, opts)
	if err != nil {
		return err
	}
	target := r.Value
	if r.Kind == revoke.User {
		target = trail.Pseudonyms.Principal(r.Tenant, r.Value)
	}
	ev := &audit.Event{
		Time: time.Now(), RequestID: "revoke-" + strings.ToLower(rand.Text()[:16]), Route: "gatehouse revoke",
		Action: "revoke", Resource: string(r.Kind) + ":" + target, Tenant: r.Tenant,
		Principal: trail.Pseudonyms.Principal("", "operator:"+r.By), PrincipalKind: "operator",
		Decision: audit.DecisionAllow, Status: 200, Policies: []string{"revocation:" + strconv.FormatInt(r.ID, 10)},
	}
	return errors.Join(trail.Recorder.Record(ctx, ev), trail.Close())
}

func printRevocations(w io.Writer, format string, rs []revoke.Revocation) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		for _, r := range rs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tWHO\tUNTIL\tBY\tREASON")
	for _, r := range rs {
		who := r.Value
		if r.Tenant != "" {
			who = r.Tenant + "/" + r.Value
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, who, r.Expires.UTC().Format(time.RFC3339), r.By, r.Reason)
	}
	return tw.Flush()
}
