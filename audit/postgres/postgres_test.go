package postgres_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
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
