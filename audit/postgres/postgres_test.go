package postgres_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/postgres"

	"github.com/jackc/pgx/v5"
)

// envDSN names the variable holding the test database's address.
const envDSN = "GATEHOUSE_TEST_POSTGRES"

func dsn(t testing.TB) string {
	t.Helper()
	v := os.Getenv(envDSN)
	if v == "" {
		t.Skipf("%s is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envDSN)
	}
	return v
}

// newSchema returns a schema name unique to this test run, dropped at
// cleanup, so parallel runs do not collide.
func newSchema(t testing.TB) string {
	t.Helper()
	name := "audittest_" + strings.ToLower(rand.Text()[:12])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), dsn(t))
		if err != nil {
			t.Log(err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Log(err)
		}
	})
	return name
}

func open(t testing.TB, schema string) *postgres.Sink {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Config{DSN: dsn(t), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tamperSink is the sink plus a raw connection, as someone with psql would
// have.
type tamperSink struct {
	*postgres.Sink
	raw    *pgx.Conn
	ev, cp string
}

func (s *tamperSink) SetRow(ctx context.Context, pos int64, data []byte, hash string) error {
	_, err := s.raw.Exec(ctx, `UPDATE `+s.ev+` SET data = $1, hash = $2 WHERE pos = $3`, string(data), hash, pos)
	return err
}

func (s *tamperSink) DeleteRow(ctx context.Context, pos int64) error {
	_, err := s.raw.Exec(ctx, `DELETE FROM `+s.ev+` WHERE pos = $1`, pos)
	return err
}

func (s *tamperSink) InsertRow(ctx context.Context, data []byte, hash string) (int64, error) {
	var pos int64
	err := s.raw.QueryRow(ctx, `INSERT INTO `+s.ev+` (data, hash) VALUES ($1, $2) RETURNING pos`, string(data), hash).Scan(&pos)
	return pos, err
}

func (s *tamperSink) SetCheckpointHash(ctx context.Context, chain string, seq int64, hash string) error {
	_, err := s.raw.Exec(ctx, `UPDATE `+s.cp+` SET hash = $1 WHERE chain = $2 AND seq = $3`, hash, chain, seq)
	return err
}

func newTamperSink(t *testing.T) audit.Sink {
	schema := newSchema(t)
	s := open(t, schema)
	raw, err := pgx.Connect(t.Context(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close(context.Background()) })
	return &tamperSink{Sink: s, raw: raw,
		ev: pgx.Identifier{schema, "audit_events"}.Sanitize(), cp: pgx.Identifier{schema, "audit_checkpoints"}.Sanitize()}
}

func TestConformance(t *testing.T) {
	dsn(t)
	audittest.Run(t, newTamperSink)
}

// TestOpenTwice: a second gateway opening the same store finds the tables;
// both write their own chains and the store verifies.
func TestOpenTwice(t *testing.T) {
	schema := newSchema(t)
	key := audittest.Key(t)
	var recs []*audit.Recorder
	for _, replica := range []string{"gw-1", "gw-2"} {
		r, err := audit.NewRecorder(audit.Config{Sink: open(t, schema), Replica: replica, Signer: key})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	for i := range 10 {
		if err := recs[i%2].Record(t.Context(), &audit.Event{Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		r.Close()
	}
	rep, err := audit.Verify(t.Context(), open(t, schema), key.Public())
	if err != nil || len(rep.Chains) != 2 || rep.Events != 10 {
		t.Fatalf("Verify = %+v, %v; want 10 events in 2 chains", rep, err)
	}
}

// TestRotatedDSN: after the connection string changes (a rotated password
// in a secret store; here the application name, which the trust-auth test
// database shows), Reconnect moves the pool to it without failing work.
func TestRotatedDSN(t *testing.T) {
	base := dsn(t)
	with := func(app string) string {
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		return base + sep + "application_name=" + app
	}
	schema := newSchema(t)
	var current atomic.Value
	current.Store(with("gatehouse-first"))
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: current.Load().(string), Schema: schema,
		CurrentDSN: func() (string, error) { return current.Load().(string), nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())
	count := func(app string) int {
		var n int
		if err := raw.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if _, err := s.Checkpoints(t.Context()); err != nil {
		t.Fatal(err)
	}
	if count("gatehouse-first") == 0 {
		t.Fatal("no connection under the first string")
	}
	current.Store(with("gatehouse-second"))
	s.Reconnect()
	if _, err := s.Checkpoints(t.Context()); err != nil {
		t.Fatalf("first use after the rotation: %v", err)
	}
	if count("gatehouse-second") == 0 || count("gatehouse-first") != 0 {
		t.Errorf("after Reconnect: %d connections under the new string, %d under the old", count("gatehouse-second"), count("gatehouse-first"))
	}
	// A string that no longer parses fails new connections, and says so
	// without quoting it.
	current.Store("postgres://u:hunter2@[bad")
	s.Reconnect()
	if _, err := s.Checkpoints(t.Context()); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("unparseable rotated string: %v", err)
	}
}
