package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"

	"github.com/jackc/pgx/v5"
)

var _ audit.Browser = (*Sink)(nil)

// Expressions of the browse index; queries use them verbatim, so the
// planner can match them.
const (
	colDecision  = `(doc ->> 'decision')`
	colAgent0App = `(doc -> 'agents' -> 0 ->> 'app')`
	colAgent0Sub = `(doc -> 'agents' -> 0 ->> 'subject')`
	colAgents    = `(CASE WHEN jsonb_typeof(doc -> 'agents') = 'array' THEN jsonb_array_length(doc -> 'agents') END)`
)

// browseIndex serves the Browser: one range per decision in time order,
// holding what a view filters and groups on. New stores get it; a store
// made before it existed gets it with the statement docs/audit.md gives
// (CREATE INDEX CONCURRENTLY, which does not hold up the gateways'
// writes), and is browsed without it, more slowly, until then.
func browseIndex(ev string) string {
	return `CREATE INDEX IF NOT EXISTS audit_events_decision ON ` + ev + ` (` + colDecision + `, ` + colTime + `, ` +
		col("principal") + `, ` + col("route") + `, ` + col("role") + `, ` + colAgent0App + `, ` + colAgent0Sub + `, ` + colAgents + `)`
}

// where builds a query's conditions with numbered parameters.
type where struct {
	sql  strings.Builder
	args []any
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) and(cond string) { w.sql.WriteString(" AND " + cond) }

// filters adds f's conditions other than principals and decision.
func (w *where) filters(f audit.Filter) {
	for _, c := range []struct{ col, val string }{
		{col("tenant"), f.Tenant}, {col("route"), f.Route}, {col("role"), f.Role},
	} {
		if c.val != "" {
			w.and(c.col + " = " + w.arg(c.val)) // c.col is one of the constants above
		}
	}
	if f.Agent != "" {
		a := w.arg(f.Agent)
		bySubject, _ := json.Marshal([]map[string]string{{"subject": f.Agent}})
		byApp, _ := json.Marshal([]map[string]string{{"app": f.Agent}})
		w.and(`(` + colAgent0App + ` = ` + a + ` OR ` + colAgent0Sub + ` = ` + a + ` OR ` + colAgents + ` > 1 AND ((doc -> 'agents') @> ` +
			w.arg(string(bySubject)) + `::jsonb OR (doc -> 'agents') @> ` + w.arg(string(byApp)) + `::jsonb))`)
	}
	if !f.Since.IsZero() {
		w.and(colTime + " >= " + w.arg(audit.FilterTime(f.Since)))
	}
	if !f.Until.IsZero() {
		w.and(colTime + " < " + w.arg(audit.FilterTime(f.Until)))
	}
}

func (w *where) principals(ps []string) {
	in := make([]string, len(ps))
	for i, p := range ps {
		in[i] = w.arg(p)
	}
	w.and(col("principal") + " IN (" + strings.Join(in, ", ") + ")")
}

// readTx runs fn in a read-only snapshot: the queries of one answer agree.
func (s *Sink) readTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Page reads one index range per pseudonym or per decision from the
// cursor on, newest first, and merges them: keyset pagination.
func (s *Sink) Page(ctx context.Context, f audit.Filter, after audit.Cursor, limit int) ([]audit.Entry, error) {
	if limit <= 0 || f.Unmatchable() {
		return nil, nil
	}
	var leads [][2]string // column, value: one sub-page each
	if ps := f.MatchablePrincipals(); len(ps) > 0 {
		for _, p := range ps {
			leads = append(leads, [2]string{col("principal"), p})
		}
	} else if f.Decision != "" {
		leads = append(leads, [2]string{colDecision, f.Decision})
	} else {
		for _, d := range []string{audit.DecisionAllow, audit.DecisionDeny, audit.DecisionError} {
			leads = append(leads, [2]string{colDecision, d})
		}
	}
	var pages [][]audit.Entry
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		for _, lead := range leads {
			var w where
			w.sql.WriteString(lead[0] + " = " + w.arg(lead[1]))
			if lead[0] != colDecision && f.Decision != "" {
				w.and(colDecision + " = " + w.arg(f.Decision))
			}
			w.filters(f)
			if !after.IsZero() {
				t := w.arg(audit.FormatTime(after.Time))
				w.and(colTime + " <= " + t + " AND (" + colTime + " < " + t + " OR pos < " + w.arg(after.Pos) + ")")
			}
			q := `SELECT pos, data, hash FROM ` + s.ev + ` WHERE ` + w.sql.String() + ` ORDER BY ` + colTime + ` DESC, pos DESC LIMIT ` + w.arg(limit)
			rows, err := tx.Query(ctx, q, w.args...)
			if err != nil {
				return err
			}
			page, err := audit.ReadEntries(rows)
			rows.Close()
			if err != nil {
				return err
			}
			pages = append(pages, page)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: page: %w", err)
	}
	return audit.MergePages(limit, pages...), nil
}

// Entry reads the event at pos.
func (s *Sink) Entry(ctx context.Context, pos int64) (*audit.Entry, error) {
	return s.entry(ctx, `SELECT pos, data, hash FROM `+s.ev+` WHERE pos = $1`, pos)
}

// ChainEntry reads the event at (chain, seq), by the unique index.
func (s *Sink) ChainEntry(ctx context.Context, chain string, seq int64) (*audit.Entry, error) {
	if chain == "" || !audit.Storable(chain) {
		return nil, nil
	}
	return s.entry(ctx, `SELECT pos, data, hash FROM `+s.ev+` WHERE `+colChain+` = $1 AND `+colSeq+` = $2`, chain, seq)
}

func (s *Sink) entry(ctx context.Context, q string, args ...any) (*audit.Entry, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: entry: %w", err)
	}
	defer rows.Close()
	got, err := audit.ReadEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: entry: %w", err)
	}
	if len(got) == 0 {
		return nil, nil
	}
	return &got[0], nil
}

// Histogram counts in one pass: width_bucket places each event of the
// window between the edges.
func (s *Sink) Histogram(ctx context.Context, f audit.Filter, edges []time.Time) ([]audit.DecisionCounts, error) {
	if len(edges) < 2 {
		return nil, nil
	}
	out := make([]audit.DecisionCounts, len(edges)-1)
	if f.Unmatchable() {
		return out, nil
	}
	bounds := make([]string, len(edges))
	for i, t := range edges {
		bounds[i] = audit.FilterTime(t)
	}
	var w where
	w.sql.WriteString(colTime + " >= " + w.arg(bounds[0]) + " AND " + colTime + " < " + w.arg(bounds[len(bounds)-1]))
	if f.Decision != "" {
		w.and(colDecision + " = " + w.arg(f.Decision))
	}
	if ps := f.MatchablePrincipals(); len(ps) > 0 {
		w.principals(ps)
	}
	w.filters(f)
	q := `SELECT width_bucket(` + colTime + `, ` + w.arg(bounds) + `::text[] COLLATE "C") AS b, ` + colDecision + `, count(*) FROM ` + s.ev +
		` WHERE ` + w.sql.String() + ` GROUP BY 1, 2`
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b int
			var d *string
			var n int64
			if err := rows.Scan(&b, &d, &n); err != nil {
				return err
			}
			// width_bucket numbers the bucket [bounds[i-1], bounds[i]) i.
			if b >= 1 && b <= len(out) && d != nil {
				out[b-1].Add(*d, n)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: histogram: %w", err)
	}
	return out, nil
}

// TopDenied groups the denied events of the window.
func (s *Sink) TopDenied(ctx context.Context, f audit.Filter, n int) (*audit.Top, error) {
	top := &audit.Top{}
	if n <= 0 || f.Unmatchable() || f.Decision != "" && f.Decision != audit.DecisionDeny {
		return top, nil
	}
	group := func(tx pgx.Tx, key string) ([]audit.Count, error) {
		var w where
		w.sql.WriteString(colDecision + " = " + w.arg(audit.DecisionDeny) + " AND " + key + " IS NOT NULL")
		if ps := f.MatchablePrincipals(); len(ps) > 0 {
			w.principals(ps)
		}
		w.filters(f)
		q := `SELECT ` + key + ` COLLATE "C" AS k, count(*) AS n FROM ` + s.ev + ` WHERE ` + w.sql.String() +
			` GROUP BY k ORDER BY n DESC, k LIMIT ` + w.arg(n)
		rows, err := tx.Query(ctx, q, w.args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []audit.Count
		for rows.Next() {
			var c audit.Count
			if err := rows.Scan(&c.Key, &c.N); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, rows.Err()
	}
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		if top.Principals, err = group(tx, col("principal")); err != nil {
			return err
		}
		top.Agents, err = group(tx, `coalesce(`+colAgent0App+`, `+colAgent0Sub+`)`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: top denied: %w", err)
	}
	return top, nil
}
