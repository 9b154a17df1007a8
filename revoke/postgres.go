package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// Channel is the NOTIFY channel a change is announced on.
const Channel = "gatehouse_revocations"

// OnStale choices.
const (
	FailClosed = "fail_closed" // refuse every request until the set is fresh again
	ServeStale = "serve_stale" // keep checking against the last set
)

// Config configures a Store.
type Config struct {
	// DSN returns the PostgreSQL connection string in use now (a secret
	// reference's current value); required.
	DSN func() string
	// MaxStaleness is how old the set may grow while the store cannot be
	// reached before OnStale applies; 0 means 10 s.
	MaxStaleness time.Duration
	// OnStale is FailClosed ("" means it) or ServeStale.
	OnStale string
	// Now is the clock; nil means time.Now. Logger gets outages and
	// changes (who and why are in the store, never a token); nil means
	// slog.Default().
	Now    func() time.Time
	Logger *slog.Logger
}

// Store keeps revocations in PostgreSQL and, once Run, an up-to-date copy
// in memory that Check reads without locks.
type Store struct {
	cfg    Config
	pool   *pgxpool.Pool
	snap   atomic.Pointer[set]
	synced atomic.Int64 // unix ns when the set was last known to be current
	loaded atomic.Int64 // unix ns of the last reload
}

const schema = `CREATE TABLE IF NOT EXISTS gatehouse_revocations (
	id         bigserial PRIMARY KEY,
	kind       text        NOT NULL,
	tenant     text        NOT NULL DEFAULT '',
	value      text        NOT NULL,
	reason     text        NOT NULL,
	created_by text        NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS gatehouse_revocations_expires ON gatehouse_revocations (expires_at)`

// Open connects, creates the table if need be and loads the active
// revocations: a store that cannot be read refuses the start.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DSN == nil {
		return nil, errors.New("revoke: no connection string")
	}
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = 10 * time.Second
	}
	switch cfg.OnStale {
	case "":
		cfg.OnStale = FailClosed
	case FailClosed, ServeStale:
	default:
		return nil, fmt.Errorf("revoke: on_stale %q: want fail_closed or serve_stale", cfg.OnStale)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN())
	if err != nil {
		return nil, errors.New("revoke: the connection string does not parse") // it may hold a password: not repeated
	}
	pc.MaxConns = 4
	pc.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		// A rotated connection string is used from the next connection on.
		next, err := pgx.ParseConfig(cfg.DSN())
		if err != nil {
			return errors.New("revoke: the connection string does not parse")
		}
		*cc = *next
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	s := &Store{cfg: cfg, pool: pool}
	if _, err := pool.Exec(ctx, schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("revoke: creating the table: %w", err)
	}
	if err := s.reload(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Check returns nil when p may be served: a revoked user, app, agent or
// token gets an *authn.Error (401 invalid_token, check "revoked"); a set
// staler than MaxStaleness under FailClosed gets ErrStale (503).
func (s *Store) Check(p *authn.Principal) error {
	now := s.cfg.Now()
	if what := s.snap.Load().match(p, now); what != "" {
		return errRevoked(what)
	}
	if s.cfg.OnStale == FailClosed && now.UnixNano()-s.synced.Load() > int64(s.cfg.MaxStaleness) {
		return ErrStale
	}
	return nil
}

// Ready reports whether the set is fresh enough to serve with.
func (s *Store) Ready() error {
	if age := time.Duration(s.cfg.Now().UnixNano() - s.synced.Load()); age > s.cfg.MaxStaleness {
		return fmt.Errorf("revocations not confirmed for %s", age.Round(time.Second))
	}
	return nil
}

// reload reads every active revocation.
func (s *Store) reload(ctx context.Context) error {
	rs, err := s.query(ctx, `SELECT id, kind, tenant, value, reason, created_by, created_at, expires_at
		FROM gatehouse_revocations WHERE expires_at > now() ORDER BY id`)
	if err != nil {
		return err
	}
	s.snap.Store(newSet(rs))
	now := s.cfg.Now().UnixNano()
	s.loaded.Store(now)
	s.synced.Store(now)
	return nil
}

// Run keeps the set current until ctx ends: it LISTENs on Channel and
// reloads at every notification, confirms the connection every
// MaxStaleness/4 (which keeps the set fresh), and reconnects after a
// failure, reloading what it may have missed.
func (s *Store) Run(ctx context.Context) {
	tick := max(s.cfg.MaxStaleness/4, 250*time.Millisecond)
	for ctx.Err() == nil {
		err := s.listen(ctx, tick)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.Warn("revoke: the revocation store cannot be reached; retrying", "err", err,
			"stale_for", time.Duration(s.cfg.Now().UnixNano()-s.synced.Load()).Round(time.Millisecond), "on_stale", s.cfg.OnStale)
		select {
		case <-ctx.Done():
		case <-time.After(tick):
		}
	}
}

func (s *Store) listen(ctx context.Context, tick time.Duration) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		conn.Conn().Close(context.Background()) // do not give a listening connection back to the pool
		return err
	}
	defer conn.Conn().Close(context.Background())
	if err := s.reload(ctx); err != nil {
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, tick)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			// One reload covers every notification queued behind this one.
			if err := s.reload(ctx); err != nil {
				return err
			}
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet: confirm the connection still answers (a half-open
			// TCP connection would wait forever), then the set is current.
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				return err
			}
			s.synced.Store(s.cfg.Now().UnixNano())
			if time.Duration(s.cfg.Now().UnixNano()-s.loaded.Load()) > time.Minute {
				if err := s.reload(ctx); err != nil { // expiries
					return err
				}
			}
		default:
			return err
		}
	}
}

// Add stores r and announces it to every replica in the same transaction;
// it returns r with its id and creation time.
func (s *Store) Add(ctx context.Context, r Revocation) (Revocation, error) {
	if err := r.Check(s.cfg.Now()); err != nil {
		return r, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO gatehouse_revocations (kind, tenant, value, reason, created_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
			string(r.Kind), r.Tenant, r.Value, r.Reason, r.By, r.Expires).Scan(&r.ID, &r.Created); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strconv.FormatInt(r.ID, 10))
		return err
	})
	if err != nil {
		return r, fmt.Errorf("revoke: %w", err)
	}
	return r, nil
}

// Remove deletes revocation id (it no longer refuses anyone) and announces
// it; it reports whether there was one.
func (s *Store) Remove(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM gatehouse_revocations WHERE id = $1", id)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strconv.FormatInt(id, 10))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revoke: %w", err)
	}
	return n > 0, nil
}

// List returns the active revocations, oldest first.
func (s *Store) List(ctx context.Context) ([]Revocation, error) {
	return s.query(ctx, `SELECT id, kind, tenant, value, reason, created_by, created_at, expires_at
		FROM gatehouse_revocations WHERE expires_at > now() ORDER BY id`)
}

func (s *Store) query(ctx context.Context, sql string) ([]Revocation, error) {
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Revocation, error) {
		var r Revocation
		var kind string
		err := row.Scan(&r.ID, &kind, &r.Tenant, &r.Value, &r.Reason, &r.By, &r.Created, &r.Expires)
		r.Kind = Kind(kind)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke: %w", err)
	}
	return out, nil
}
