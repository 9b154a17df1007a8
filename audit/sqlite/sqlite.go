package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Config says which database file to open.
type Config struct {
	// Path is the database file. It must not contain '?'.
	Path string
	// Create allows Open to create the file and its tables. false means the
	// file must already exist (query, verify and export should not conjure
	// an empty trail from a mistyped path).
	Create bool
	// BusyTimeout is how long a statement waits for another process's lock;
	// 0 means 5s.
	BusyTimeout time.Duration
}

// Sink stores events in a SQLite database. See the package documentation.
type Sink struct {
	w, r      *sql.DB
	insert    *sql.Stmt // one row
	insertN   *sql.Stmt // insertRows rows
	closeOnce sync.Once
	closeErr  error
	// browseIndexed: the database has browseIndex (a file made before it
	// existed, opened by a reader, has not).
	browseIndexed bool
}

var (
	_ audit.Sink    = (*Sink)(nil)
	_ audit.Browser = (*Sink)(nil)
)

// insertRows is how many events one multi-row INSERT carries: fewer
// statements per batch, well under SQLite's limit on bound parameters.
const insertRows = 64

// schemaVersion is kept in PRAGMA user_version.
const schemaVersion = 1

// The event columns other than pos, data and hash are generated from data:
// they cannot be written, so a query never sees a value the chain does not
// cover.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS audit_events (
		pos INTEGER PRIMARY KEY AUTOINCREMENT,
		data TEXT NOT NULL,
		hash TEXT NOT NULL,
		chain TEXT GENERATED ALWAYS AS (json_extract(data, '$.chain')) VIRTUAL,
		seq INTEGER GENERATED ALWAYS AS (json_extract(data, '$.seq')) VIRTUAL,
		time TEXT GENERATED ALWAYS AS (json_extract(data, '$.time')) VIRTUAL,
		request_id TEXT GENERATED ALWAYS AS (json_extract(data, '$.request_id')) VIRTUAL,
		tenant TEXT GENERATED ALWAYS AS (json_extract(data, '$.tenant')) VIRTUAL,
		principal TEXT GENERATED ALWAYS AS (json_extract(data, '$.principal')) VIRTUAL,
		app TEXT GENERATED ALWAYS AS (json_extract(data, '$.app')) VIRTUAL,
		route TEXT GENERATED ALWAYS AS (json_extract(data, '$.route')) VIRTUAL,
		decision TEXT GENERATED ALWAYS AS (json_extract(data, '$.decision')) VIRTUAL,
		status INTEGER GENERATED ALWAYS AS (json_extract(data, '$.status')) VIRTUAL
	)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS audit_events_chain_seq ON audit_events (chain, seq)`,
	`CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time)`,
	`CREATE INDEX IF NOT EXISTS audit_events_principal ON audit_events (principal, time)`,
	browseIndex,
	`CREATE TABLE IF NOT EXISTS audit_checkpoints (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		chain TEXT NOT NULL,
		seq INTEGER NOT NULL,
		hash TEXT NOT NULL,
		time TEXT NOT NULL,
		final INTEGER NOT NULL,
		key_id TEXT NOT NULL,
		sig BLOB NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS audit_checkpoints_chain ON audit_checkpoints (chain, seq)`,
	fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion),
}

// Open opens (with cfg.Create, creates) the database: WAL journal,
// synchronous=FULL so a commit survives power loss, busy timeout, one
// writing connection and a few read-only ones.
func Open(ctx context.Context, cfg Config) (*Sink, error) {
	if cfg.Path == "" || strings.ContainsRune(cfg.Path, '?') || strings.HasPrefix(cfg.Path, "file:") {
		return nil, fmt.Errorf("sqlite: unusable database path %q", cfg.Path)
	}
	if !cfg.Create {
		if _, err := os.Stat(cfg.Path); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	if cfg.BusyTimeout <= 0 {
		cfg.BusyTimeout = 5 * time.Second
	}
	params := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds()))
		for _, p := range extra {
			q.Add("_pragma", p)
		}
		return cfg.Path + "?" + q.Encode()
	}
	s := &Sink{}
	var err error
	if s.w, err = sql.Open("sqlite", params("journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)")+"&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.w.SetMaxOpenConns(1) // a single writer; the Recorder groups commits
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.addBrowseIndex(ctx, cfg.Create); err != nil {
		s.Close()
		return nil, err
	}
	// Readers keep up to 64 MiB of pages each (SQLite's default is 2 MiB):
	// a day of a busy gateway's browse index, which the auditor's view
	// reads on every page, stays in memory instead of being read again.
	if s.r, err = sql.Open("sqlite", params("query_only(1)", "cache_size(-65536)")); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4) // an idle connection keeps its page cache; database/sql would close all but two
	if s.insert, err = s.w.PrepareContext(ctx, `INSERT INTO audit_events (data, hash) VALUES (?, ?)`); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	many := `INSERT INTO audit_events (data, hash) VALUES (?, ?)` + strings.Repeat(`, (?, ?)`, insertRows-1)
	if s.insertN, err = s.w.PrepareContext(ctx, many); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}

func (s *Sink) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	switch v {
	case schemaVersion:
		return nil
	case 0:
	default:
		return fmt.Errorf("sqlite: database schema version %d is not %d: written by another gatehouse version", v, schemaVersion)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: creating tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: creating tables: %w", err)
	}
	return nil
}

// Append inserts the events in one transaction.
func (s *Sink) Append(ctx context.Context, events []audit.Event) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer tx.Rollback()
	// Rows go in slice order (a multi-row VALUES inserts in order), so
	// positions follow the chain. data is bound as TEXT: a BLOB would be
	// read as SQLite's JSONB.
	args := make([]any, 0, 2*insertRows)
	one, many := tx.StmtContext(ctx, s.insert), tx.StmtContext(ctx, s.insertN)
	for rest := events; len(rest) > 0; {
		stmt, n := one, 1
		if len(rest) >= insertRows {
			stmt, n = many, insertRows
		}
		args = args[:0]
		for i := range n {
			args = append(args, string(rest[i].Canonical()), rest[i].Hash)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("sqlite: append: %w", err)
		}
		rest = rest[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	return nil
}

// AddCheckpoint stores cp.
func (s *Sink) AddCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	final := 0
	if cp.Final {
		final = 1
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit_checkpoints (chain, seq, hash, time, final, key_id, sig) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		cp.Chain, cp.Seq, cp.Hash, audit.FormatTime(cp.Time), final, cp.KeyID, cp.Sig)
	if err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
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
	q.WriteString(`SELECT pos, data, hash FROM audit_events WHERE 1 = 1`)
	if ps := f.MatchablePrincipals(); len(ps) > 0 {
		// One lookup per pseudonym in the (principal, time) index.
		q.WriteString(" AND principal IN (?" + strings.Repeat(", ?", len(ps)-1) + ")")
		for _, p := range ps {
			args = append(args, p)
		}
	}
	for _, c := range []struct{ col, val string }{
		{"tenant", f.Tenant}, {"route", f.Route}, {colRole, f.Role}, {"decision", f.Decision},
	} {
		if c.val != "" {
			q.WriteString(" AND " + c.col + " = ?") // c.col is one of the constants above
			args = append(args, c.val)
		}
	}
	if f.Agent != "" {
		q.WriteString(` AND EXISTS (SELECT 1 FROM json_each(audit_events.data, '$.agents') AS a
			WHERE json_extract(a.value, '$.subject') = ? OR json_extract(a.value, '$.app') = ?)`)
		args = append(args, f.Agent, f.Agent)
	}
	if !f.Since.IsZero() {
		q.WriteString(" AND time >= ?")
		args = append(args, audit.FilterTime(f.Since))
	}
	if !f.Until.IsZero() {
		q.WriteString(" AND time < ?")
		args = append(args, audit.FilterTime(f.Until))
	}
	if f.Newest {
		q.WriteString(" ORDER BY time DESC, pos DESC")
	} else {
		q.WriteString(" ORDER BY time, pos")
	}
	if f.Limit > 0 {
		q.WriteString(" LIMIT ?")
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query: %w", err)
	}
	defer rows.Close()
	out, err := audit.ReadEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query: %w", err)
	}
	return out, nil
}

// Scan reads all events in position order from one snapshot.
func (s *Sink) Scan(ctx context.Context, fn func(audit.Row) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT pos, data, hash FROM audit_events ORDER BY pos`)
	if err != nil {
		return fmt.Errorf("sqlite: scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var row audit.Row
		var data string
		if err := rows.Scan(&row.Pos, &data, &row.Hash); err != nil {
			return fmt.Errorf("sqlite: scan: %w", err)
		}
		row.Data = []byte(data)
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: scan: %w", err)
	}
	return nil
}

// Checkpoints returns all checkpoints in insertion order.
func (s *Sink) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT chain, seq, hash, time, final, key_id, sig FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	defer rows.Close()
	out, err := audit.ReadCheckpoints(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints: %w", err)
	}
	return out, nil
}

// DeleteThrough deletes chain's events up to seq and its checkpoints below
// seq, in one transaction.
func (s *Sink) DeleteThrough(ctx context.Context, chain string, seq int64) (int64, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM audit_events WHERE chain = ? AND seq <= ?`, chain, seq)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM audit_checkpoints WHERE chain = ? AND seq < ?`, chain, seq); err != nil {
		return 0, fmt.Errorf("sqlite: delete: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: delete: %w", err)
	}
	return n, nil
}

// Close closes the database. It may be called after a failed Open and more
// than once.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, st := range []*sql.Stmt{s.insert, s.insertN} {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		for _, db := range []*sql.DB{s.r, s.w} {
			if db != nil {
				errs = append(errs, db.Close())
			}
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
