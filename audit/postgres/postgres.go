package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/audit"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says which database and schema to use.
type Config struct {
	// DSN is a PostgreSQL connection string (URL or key=value), as pgx
	// parses it: postgres://user@host:5432/db?sslmode=verify-full.
	DSN string
	// CurrentDSN, if set, is asked for the connection string before each
	// new connection: a rotated password (a secret refreshed in its
	// store) is used from the next connection on, while connections
	// already open finish their work. An error fails that connection.
	CurrentDSN func() (string, error)
	// Schema holds the tables; "" means "public". Open creates it if needed.
	Schema string
}

// Sink stores events in PostgreSQL. See the package documentation.
type Sink struct {
	pool        *pgxpool.Pool
	events      pgx.Identifier
	checkpoints pgx.Identifier
	ev, cp      string // sanitized, quoted table names
}

var _ audit.Sink = (*Sink)(nil)

const schemaVersion = 1

// Expressions over the generated doc column; queries use them exactly as
// the indexes do, so the planner can match them.
const (
	colChain = `(doc ->> 'chain')`
	colSeq   = `((doc ->> 'seq')::bigint)`
	colTime  = `((doc ->> 'time') COLLATE "C")` // fixed-width UTC: text order is time order
)

// col is the expression for a text field of the event; field is always one
// of this file's constants.
func col(field string) string { return "(doc ->> '" + field + "')" }

// Open connects, and creates the schema's tables when they are missing.
func Open(ctx context.Context, cfg Config) (*Sink, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.Schema == "" {
		cfg.Schema = "public"
	}
	if cfg.CurrentDSN != nil {
		pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
			dsn, err := cfg.CurrentDSN()
			if err != nil {
				return fmt.Errorf("postgres: connection string: %w", err)
			}
			if dsn == cfg.DSN {
				return nil
			}
			// Parse errors of a connection string may quote it: say only
			// that it is unreadable.
			next, err := pgx.ParseConfig(dsn)
			if err != nil {
				return errors.New("postgres: the rotated connection string cannot be parsed")
			}
			*cc = *next
			return nil
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Sink{
		pool:        pool,
		events:      pgx.Identifier{cfg.Schema, "audit_events"},
		checkpoints: pgx.Identifier{cfg.Schema, "audit_checkpoints"},
	}
	s.ev, s.cp = s.events.Sanitize(), s.checkpoints.Sanitize()
	if err := s.migrate(ctx, cfg.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Reconnect moves the pool to the current connection string (Config's
// CurrentDSN): idle connections close now, busy ones when their work is
// done, and every new one is opened with the rotated string. Nothing in
// flight fails.
func (s *Sink) Reconnect() { s.pool.Reset() }

func (s *Sink) migrate(ctx context.Context, schema string) error {
	sc := pgx.Identifier{schema}.Sanitize()
	meta := pgx.Identifier{schema, "audit_schema"}.Sanitize()
	stmts := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + sc,
		// doc parses data once per row; the indexes and queries read it.
		`CREATE TABLE IF NOT EXISTS ` + s.ev + ` (
			pos bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			data text NOT NULL,
			hash text NOT NULL,
			doc jsonb GENERATED ALWAYS AS (data::jsonb) STORED)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS audit_events_chain_seq ON ` + s.ev + ` (` + colChain + `, ` + colSeq + `)`,
		`CREATE INDEX IF NOT EXISTS audit_events_time ON ` + s.ev + ` (` + colTime + `)`,
		`CREATE INDEX IF NOT EXISTS audit_events_principal ON ` + s.ev + ` (` + col("principal") + `, ` + colTime + `)`,
		`CREATE INDEX IF NOT EXISTS audit_events_agents ON ` + s.ev + ` USING gin ((doc -> 'agents') jsonb_path_ops)`,
		browseIndex(s.ev),
		`CREATE TABLE IF NOT EXISTS ` + s.cp + ` (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			chain text NOT NULL,
			seq bigint NOT NULL,
			hash text NOT NULL,
			time text NOT NULL,
			final boolean NOT NULL,
			key_id text NOT NULL,
			sig bytea NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS audit_checkpoints_chain ON ` + s.cp + ` (chain, seq)`,
		`CREATE TABLE IF NOT EXISTS ` + meta + ` (version integer NOT NULL)`,
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Gateways starting together: one creates, the others wait and see.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('gatehouse/audit/schema'))`); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, meta).Scan(&exists); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		if exists {
			var v int
			err := tx.QueryRow(ctx, `SELECT version FROM `+meta).Scan(&v)
			if err == nil && v == schemaVersion {
				return nil
			}
			if err == nil {
				return fmt.Errorf("postgres: audit schema version %d is not %d: written by another gatehouse version", v, schemaVersion)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("postgres: %w", err)
			}
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("postgres: creating tables: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+meta+` (version) VALUES ($1)`, schemaVersion); err != nil {
			return fmt.Errorf("postgres: creating tables: %w", err)
		}
		return nil
	})
}

// Append copies the events in one transaction.
func (s *Sink) Append(ctx context.Context, events []audit.Event) error {
	rows := make([][]any, len(events))
	for i := range events {
		rows[i] = []any{string(events[i].Canonical()), events[i].Hash}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, s.events, []string{"data", "hash"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres: append: %w", err)
	}
	return nil
}

// AddCheckpoint stores cp.
func (s *Sink) AddCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.cp+` (chain, seq, hash, time, final, key_id, sig) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		cp.Chain, cp.Seq, cp.Hash, audit.FormatTime(cp.Time), cp.Final, cp.KeyID, cp.Sig)
	if err != nil {
		return fmt.Errorf("postgres: checkpoint: %w", err)
	}
	return nil
}

// Query returns matching events; every filter value is a bound parameter.
func (s *Sink) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	if f.Unmatchable() {
		return nil, nil
	}
	var q strings.Builder
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q.WriteString(`SELECT pos, data, hash FROM ` + s.ev + ` WHERE true`)
	if ps := f.MatchablePrincipals(); len(ps) > 0 {
		// The expression of the (principal, time) index, so each pseudonym
		// is one index lookup.
		in := make([]string, len(ps))
		for i, p := range ps {
			in[i] = arg(p)
		}
		q.WriteString(" AND " + col("principal") + " IN (" + strings.Join(in, ", ") + ")")
	}
	for _, c := range []struct{ col, val string }{
		{"tenant", f.Tenant}, {"route", f.Route}, {"role", f.Role}, {"decision", f.Decision},
	} {
		if c.val != "" {
			q.WriteString(" AND " + col(c.col) + " = " + arg(c.val)) // c.col is one of the constants above
		}
	}
	if f.Agent != "" {
		bySubject, _ := json.Marshal([]map[string]string{{"subject": f.Agent}})
		byApp, _ := json.Marshal([]map[string]string{{"app": f.Agent}})
		q.WriteString(" AND ((doc -> 'agents') @> " + arg(string(bySubject)) + "::jsonb OR (doc -> 'agents') @> " + arg(string(byApp)) + "::jsonb)")
	}
	if !f.Since.IsZero() {
		q.WriteString(" AND " + colTime + " >= " + arg(audit.FilterTime(f.Since)))
	}
	if !f.Until.IsZero() {
		q.WriteString(" AND " + colTime + " < " + arg(audit.FilterTime(f.Until)))
	}
	if f.Newest {
		q.WriteString(" ORDER BY " + colTime + " DESC, pos DESC")
	} else {
		q.WriteString(" ORDER BY " + colTime + ", pos")
	}
	if f.Limit > 0 {
		q.WriteString(" LIMIT " + arg(f.Limit))
	}
	rows, err := s.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: query: %w", err)
	}
	defer rows.Close()
	out, err := audit.ReadEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: query: %w", err)
	}
	return out, nil
}

// Scan reads all events in position order from one snapshot.
func (s *Sink) Scan(ctx context.Context, fn func(audit.Row) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT pos, data, hash FROM `+s.ev+` ORDER BY pos`)
	if err != nil {
		return fmt.Errorf("postgres: scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row audit.Row
		var data string
		if err := rows.Scan(&row.Pos, &data, &row.Hash); err != nil {
			return fmt.Errorf("postgres: scan: %w", err)
		}
		row.Data = []byte(data)
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: scan: %w", err)
	}
	return nil
}

// Checkpoints returns all checkpoints in insertion order.
func (s *Sink) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT chain, seq, hash, time, final, key_id, sig FROM `+s.cp+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	defer rows.Close()
	out, err := audit.ReadCheckpoints(rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints: %w", err)
	}
	return out, nil
}

// DeleteThrough deletes chain's events up to seq and its checkpoints below
// seq, in one transaction.
func (s *Sink) DeleteThrough(ctx context.Context, chain string, seq int64) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM `+s.ev+` WHERE `+colChain+` = $1 AND `+colSeq+` <= $2`, chain, seq)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM `+s.cp+` WHERE chain = $1 AND seq < $2`, chain, seq)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: delete: %w", err)
	}
	return n, nil
}

// Close closes the connection pool. It may be called more than once.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}
