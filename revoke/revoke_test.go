package revoke

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/authn"
)

// testDSN creates a database for one test, dropped at its end.
func testDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if base == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	name := "gatehouse_revoke_" + strings.ToLower(rand.Text()[:10])
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	cfg, _ := pgx.ParseConfig(base)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&application_name=gatehouse-revoke-test", cfg.User, cfg.Host, cfg.Port, name)
}

func openStore(t testing.TB, dsn func() string, cfg Config) *Store {
	t.Helper()
	cfg.DSN = dsn
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	return s
}

var (
	alice = &authn.Principal{Tenant: "t1", Subject: "alice-oid", App: "cli-app", TokenID: "tok-a"}
	bob   = &authn.Principal{Tenant: "t1", Subject: "bob-oid", App: "cli-app", TokenID: "tok-b",
		Actors: []authn.Actor{{App: "agent-app"}}}
)

// waitRefused polls until check refuses p, for at most 2 s, and returns
// how long that took.
func waitRefused(t testing.TB, s *Store, p *authn.Principal) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 2*time.Second {
		if err := s.Check(p); err != nil {
			var ae *authn.Error
			if !errors.As(err, &ae) || ae.Check != CheckRevoked || ae.Kind != authn.InvalidToken {
				t.Fatalf("Check: %v, want a revoked invalid_token", err)
			}
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("still served 2 s after the revocation")
	return 0
}

// TestRevocationAcrossReplicas: a revocation stored through one replica
// refuses the caller at another within a second; each kind matches what it
// names (the user, the token, an app as caller or as an acting agent) and
// nothing else; removal and expiry end it.
func TestRevocationAcrossReplicas(t *testing.T) {
	dsn := testDSN(t)
	get := func() string { return dsn }
	a := openStore(t, get, Config{})
	b := openStore(t, get, Config{})
	ctx := context.Background()
	for _, p := range []*authn.Principal{alice, bob} {
		if err := b.Check(p); err != nil {
			t.Fatalf("before any revocation: %v", err)
		}
	}
	in := time.Hour
	r, err := a.Add(ctx, Revocation{Kind: User, Tenant: "t1", Value: "alice-oid", Reason: "left the company", By: "ops", Expires: time.Now().Add(in)})
	if err != nil {
		t.Fatal(err)
	}
	if d := waitRefused(t, b, alice); d > time.Second {
		t.Errorf("the other replica refused alice after %v, want within 1 s", d)
	}
	if err := b.Check(bob); err != nil {
		t.Errorf("bob refused by alice's revocation: %v", err)
	}
	// Another tenant's user with the same object id is someone else.
	if err := b.Check(&authn.Principal{Tenant: "t2", Subject: "alice-oid"}); err != nil {
		t.Errorf("a user of another tenant refused: %v", err)
	}
	// An agent revoked: bob acting through it is refused.
	if _, err := a.Add(ctx, Revocation{Kind: App, Value: "agent-app", Reason: "compromised agent", By: "ops", Expires: time.Now().Add(in)}); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, b, bob)
	if err := b.Check(&authn.Principal{Tenant: "t1", Subject: "carol", App: "cli-app"}); err != nil {
		t.Errorf("carol, not acting through the agent, refused: %v", err)
	}
	// One token.
	if _, err := a.Add(ctx, Revocation{Kind: Token, Value: "tok-c", Reason: "leaked", By: "ops", Expires: time.Now().Add(in)}); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, b, &authn.Principal{Tenant: "t1", Subject: "carol", TokenID: "tok-c"})
	list, err := b.List(ctx)
	if err != nil || len(list) != 3 || list[0].Reason != "left the company" {
		t.Fatalf("List: %v %v", list, err)
	}
	// Removed: alice is served again.
	if ok, err := a.Remove(ctx, r.ID); !ok || err != nil {
		t.Fatalf("Remove: %v %v", ok, err)
	}
	deadline := time.Now().Add(time.Second)
	for b.Check(alice) != nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := b.Check(alice); err != nil {
		t.Errorf("after the removal: %v", err)
	}
	// Bad input is refused before it is stored.
	for _, bad := range []Revocation{
		{Kind: "group", Value: "x", Reason: "r", Expires: time.Now().Add(in)},
		{Kind: User, Value: "x y", Reason: "r", Expires: time.Now().Add(in)},
		{Kind: App, Tenant: "t1", Value: "x", Reason: "r", Expires: time.Now().Add(in)},
		{Kind: User, Value: "x", Reason: " ", Expires: time.Now().Add(in)},
		{Kind: User, Value: "x", Reason: "r", Expires: time.Now().Add(-time.Second)},
	} {
		if _, err := a.Add(ctx, bad); err == nil {
			t.Errorf("Add(%+v) succeeded", bad)
		}
	}
}

// TestRevocationExpires: an entry stops refusing at its expiry.
func TestRevocationExpires(t *testing.T) {
	dsn := testDSN(t)
	now := &atomic.Int64{}
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := openStore(t, func() string { return dsn }, Config{Now: clock, OnStale: ServeStale})
	if _, err := s.Add(context.Background(), Revocation{Kind: User, Tenant: "t1", Value: "alice-oid", Reason: "r", By: "ops", Expires: clock().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, s, alice)
	now.Add(int64(time.Minute + time.Second))
	if err := s.Check(alice); err != nil {
		t.Errorf("after the expiry: %v", err)
	}
}

// TestRevocationStoreDown: when the store cannot be reached, the set ages;
// past MaxStaleness fail_closed refuses everyone (503) and serve_stale
// keeps the last set; when the store is back, both serve again.
func TestRevocationStoreDown(t *testing.T) {
	dsn := testDSN(t)
	var down atomic.Bool
	get := func() string {
		if down.Load() {
			return "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=1"
		}
		return dsn
	}
	closed := openStore(t, get, Config{MaxStaleness: time.Second})
	stale := openStore(t, get, Config{MaxStaleness: time.Second, OnStale: ServeStale})
	// Cut every connection; new ones go nowhere.
	down.Store(true)
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	c.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	c.Close(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for closed.Check(bob) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := closed.Check(bob); !errors.Is(err, ErrStale) {
		t.Errorf("fail_closed with the store down: %v, want ErrStale", err)
	}
	if closed.Ready() == nil {
		t.Error("Ready with a stale set")
	}
	if err := stale.Check(bob); err != nil {
		t.Errorf("serve_stale with the store down: %v", err)
	}
	down.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for closed.Check(bob) != nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := closed.Check(bob); err != nil {
		t.Errorf("after the store came back: %v", err)
	}
}

// BenchmarkPropagation measures, over real PostgreSQL, how long a
// revocation stored by one replica takes to refuse at another: the p50 and
// p99 of b.N revocations.
func BenchmarkPropagation(b *testing.B) {
	dsn := testDSN(b)
	get := func() string { return dsn }
	a := openStore(b, get, Config{})
	other := openStore(b, get, Config{})
	var ds []time.Duration
	i := 0
	for b.Loop() {
		p := &authn.Principal{Tenant: "t1", Subject: fmt.Sprint("user-", i)}
		i++
		if _, err := a.Add(context.Background(), Revocation{Kind: User, Tenant: "t1", Value: p.Subject, Reason: "bench", By: "bench", Expires: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for other.Check(p) == nil {
			if time.Since(start) > 2*time.Second {
				b.Fatal("not propagated in 2 s")
			}
			time.Sleep(50 * time.Microsecond)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}
