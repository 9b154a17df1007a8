package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// Expressions over data that the browse index holds; queries use them
// verbatim, so that SQLite reads their values from the index instead of
// parsing the row.
const (
	colRole      = `json_extract(data, '$.role')`
	colAgent0App = `json_extract(data, '$.agents[0].app')`
	colAgent0Sub = `json_extract(data, '$.agents[0].subject')`
	colAgents    = `json_array_length(data, '$.agents')`
)

// browseIndex serves the Browser: one range per decision, in time order,
// holding every column a view filters or groups on, so that a page, a
// histogram or a top list reads index entries only and fetches just the
// rows it returns. Tenant is left out (a view filters by pseudonym, which
// names the tenant too).
const browseIndex = `CREATE INDEX IF NOT EXISTS audit_events_decision ON audit_events (decision, time, principal, route, ` +
	colRole + `, ` + colAgent0App + `, ` + colAgent0Sub + `, ` + colAgents + `)`

// addBrowseIndex creates browseIndex in a database made before it existed
// when the sink may write (a gateway, as it starts: a few seconds per
// million events); a reader uses it when it is there, and answers without
// it, more slowly, when it is not.
func (s *Sink) addBrowseIndex(ctx context.Context, create bool) error {
	if create {
		if _, err := s.w.ExecContext(ctx, browseIndex); err != nil {
			return fmt.Errorf("sqlite: creating the browse index: %w", err)
		}
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'audit_events_decision'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	s.browseIndexed = n > 0
	return nil
}

// where builds a query's conditions, each with its bound values.
type where struct {
	sql  strings.Builder
	args []any
}

func (w *where) and(cond string, args ...any) {
	w.sql.WriteString(" AND " + cond)
	w.args = append(w.args, args...)
}

// filters adds f's conditions other than principals and decision. The
// agent matches the first link from the index; only a chain of several
// links needs its row read.
func (w *where) filters(f audit.Filter) {
	if f.Tenant != "" {
		w.and("tenant = ?", f.Tenant)
	}
	if f.Route != "" {
		w.and("route = ?", f.Route)
	}
	if f.Role != "" {
		w.and(colRole+" = ?", f.Role)
	}
	if f.Agent != "" {
		w.and(`(`+colAgent0App+` = ? OR `+colAgent0Sub+` = ? OR `+colAgents+` > 1 AND EXISTS (SELECT 1 FROM json_each(audit_events.data, '$.agents') AS a
			WHERE json_extract(a.value, '$.subject') = ? OR json_extract(a.value, '$.app') = ?))`, f.Agent, f.Agent, f.Agent, f.Agent)
	}
	if !f.Since.IsZero() {
		w.and("time >= ?", audit.FilterTime(f.Since))
	}
	if !f.Until.IsZero() {
		w.and("time < ?", audit.FilterTime(f.Until))
	}
}

func (w *where) principals(ps []string) {
	w.and("principal IN (?"+strings.Repeat(", ?", len(ps)-1)+")", anys(ps)...)
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Index hints: SQLite's planner, without statistics, may prefer the time
// index and read every row of the window.
const (
	byDecision  = ` INDEXED BY audit_events_decision`
	byPrincipal = ` INDEXED BY audit_events_principal`
	byTime      = ` INDEXED BY audit_events_time`
)

// decisions are the decisions f asks for, one index range each.
func decisions(f audit.Filter) []string {
	if f.Decision != "" {
		return []string{f.Decision}
	}
	return []string{audit.DecisionAllow, audit.DecisionDeny, audit.DecisionError}
}

// readTx is a read-only transaction: the queries of one answer see one
// snapshot.
func (s *Sink) readTx(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return tx, nil
}

// Page reads one index range per pseudonym (the principal index) or per
// decision (the browse index) from the cursor on, newest first, and
// merges them: keyset pagination, whatever the trail's size.
func (s *Sink) Page(ctx context.Context, f audit.Filter, after audit.Cursor, limit int) ([]audit.Entry, error) {
	if limit <= 0 || f.Unmatchable() {
		return nil, nil
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// Each sub-page is one index range, already in the page's order.
	type sub struct {
		hint, cond string
		args       []any
	}
	var subs []sub
	switch ps := f.MatchablePrincipals(); {
	case len(ps) > 0:
		for _, p := range ps {
			subs = append(subs, sub{byPrincipal, "principal = ?", []any{p}})
		}
	case s.browseIndexed:
		for _, d := range decisions(f) {
			subs = append(subs, sub{byDecision, "decision = ?", []any{d}})
		}
	default:
		subs = append(subs, sub{cond: "1"})
	}
	var pages [][]audit.Entry
	for _, sb := range subs {
		var w where
		w.args = sb.args
		if sb.hint != byDecision && f.Decision != "" {
			w.and("decision = ?", f.Decision)
		}
		w.filters(f)
		if !after.IsZero() {
			t := audit.FormatTime(after.Time)
			w.and("time <= ? AND (time < ? OR pos < ?)", t, t, after.Pos)
		}
		q := `SELECT pos, data, hash FROM audit_events` + sb.hint + ` WHERE ` + sb.cond + w.sql.String() + ` ORDER BY time DESC, pos DESC LIMIT ?`
		rows, err := tx.QueryContext(ctx, q, append(w.args, limit)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: page: %w", err)
		}
		page, err := audit.ReadEntries(rows)
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sqlite: page: %w", err)
		}
		pages = append(pages, page)
	}
	return audit.MergePages(limit, pages...), nil
}

// Entry reads the event at pos.
func (s *Sink) Entry(ctx context.Context, pos int64) (*audit.Entry, error) {
	return s.entry(ctx, `SELECT pos, data, hash FROM audit_events WHERE pos = ?`, pos)
}

// ChainEntry reads the event at (chain, seq), by the unique index.
func (s *Sink) ChainEntry(ctx context.Context, chain string, seq int64) (*audit.Entry, error) {
	if chain == "" || !audit.Storable(chain) {
		return nil, nil
	}
	return s.entry(ctx, `SELECT pos, data, hash FROM audit_events WHERE chain = ? AND seq = ?`, chain, seq)
}

func (s *Sink) entry(ctx context.Context, q string, args ...any) (*audit.Entry, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: entry: %w", err)
	}
	defer rows.Close()
	got, err := audit.ReadEntries(rows)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	return &got[0], nil
}

// Histogram counts each bucket with an index range count. Without other
// filters than pseudonyms and time, it counts all events (principal or
// time index) and the denied and failed ones (browse index), and allows
// are the rest: the few denials are all the browse index is read for.
func (s *Sink) Histogram(ctx context.Context, f audit.Filter, edges []time.Time) ([]audit.DecisionCounts, error) {
	if len(edges) < 2 {
		return nil, nil
	}
	out := make([]audit.DecisionCounts, len(edges)-1)
	if f.Unmatchable() {
		return out, nil
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// The buckets, as a table: (i, lo, hi).
	var cte strings.Builder
	var bucketArgs []any
	cte.WriteString(`WITH b(i, lo, hi) AS (VALUES `)
	for i := range out {
		if i > 0 {
			cte.WriteString(", ")
		}
		cte.WriteString("(?, ?, ?)")
		bucketArgs = append(bucketArgs, i, audit.FilterTime(edges[i]), audit.FilterTime(edges[i+1]))
	}
	cte.WriteString(`) `)
	ps := f.MatchablePrincipals()
	// count returns, per bucket, the events that match f (and decision,
	// unless it is ""), read through hint.
	count := func(hint, decision string) ([]int64, error) {
		var w where
		if decision != "" {
			w.and("decision = ?", decision)
		}
		if len(ps) > 0 {
			w.principals(ps)
		}
		w.filters(f)
		q := cte.String() + `SELECT b.i, (SELECT count(*) FROM audit_events` + hint +
			` WHERE time >= b.lo AND time < b.hi` + w.sql.String() + `) FROM b ORDER BY b.i`
		rows, err := tx.QueryContext(ctx, q, append(slices.Clone(bucketArgs), w.args...)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: histogram: %w", err)
		}
		defer rows.Close()
		n := make([]int64, len(out))
		for rows.Next() {
			var i int
			var c int64
			if err := rows.Scan(&i, &c); err != nil {
				return nil, fmt.Errorf("sqlite: histogram: %w", err)
			}
			n[i] = c
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: histogram: %w", err)
		}
		return n, nil
	}
	if !s.browseIndexed {
		for _, d := range decisions(f) {
			n, err := count("", d)
			if err != nil {
				return nil, err
			}
			for i := range out {
				out[i].Add(d, n[i])
			}
		}
		return out, nil
	}
	onlyWho := f.Tenant == "" && f.Agent == "" && f.Route == "" && f.Role == ""
	switch {
	case f.Decision == "" && (len(ps) > 0 || onlyWho):
		hint := byTime
		if len(ps) > 0 {
			hint = byPrincipal
		}
		total, err := count(hint, "")
		if err != nil {
			return nil, err
		}
		deny, err := count(byDecision, audit.DecisionDeny)
		if err != nil {
			return nil, err
		}
		failed, err := count(byDecision, audit.DecisionError)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i] = audit.DecisionCounts{Allow: total[i] - deny[i] - failed[i], Deny: deny[i], Error: failed[i]}
		}
	case len(ps) > 0 && f.Decision == audit.DecisionAllow:
		// A person's allows: their own events, rather than every allow.
		n, err := count(byPrincipal, f.Decision)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i].Allow = n[i]
		}
	default:
		for _, d := range decisions(f) {
			n, err := count(byDecision, d)
			if err != nil {
				return nil, err
			}
			for i := range out {
				out[i].Add(d, n[i])
			}
		}
	}
	return out, nil
}

// TopDenied groups the denied range of the browse index.
func (s *Sink) TopDenied(ctx context.Context, f audit.Filter, n int) (*audit.Top, error) {
	top := &audit.Top{}
	if n <= 0 || f.Unmatchable() || f.Decision != "" && f.Decision != audit.DecisionDeny {
		return top, nil
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	hint := byDecision
	if !s.browseIndexed {
		hint = ""
	}
	group := func(key string) ([]audit.Count, error) {
		var w where
		w.args = []any{audit.DecisionDeny}
		if ps := f.MatchablePrincipals(); len(ps) > 0 {
			w.principals(ps)
		}
		w.filters(f)
		q := `SELECT ` + key + ` AS k, count(*) AS n FROM audit_events` + hint + ` WHERE decision = ? AND ` + key + ` IS NOT NULL` +
			w.sql.String() + ` GROUP BY k ORDER BY n DESC, k LIMIT ?`
		rows, err := tx.QueryContext(ctx, q, append(w.args, n)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: top denied: %w", err)
		}
		defer rows.Close()
		var out []audit.Count
		for rows.Next() {
			var c audit.Count
			if err := rows.Scan(&c.Key, &c.N); err != nil {
				return nil, fmt.Errorf("sqlite: top denied: %w", err)
			}
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: top denied: %w", err)
		}
		return out, nil
	}
	if top.Principals, err = group("principal"); err != nil {
		return nil, err
	}
	if top.Agents, err = group(`coalesce(` + colAgent0App + `, ` + colAgent0Sub + `)`); err != nil {
		return nil, err
	}
	return top, nil
}
