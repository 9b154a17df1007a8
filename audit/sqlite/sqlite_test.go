package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
)

// tamperSink is the sink plus raw SQL access to its file, as someone with
// the sqlite3 shell would have.
type tamperSink struct {
	*sqlite.Sink
	raw *sql.DB
}

func (s *tamperSink) SetRow(ctx context.Context, pos int64, data []byte, hash string) error {
	_, err := s.raw.ExecContext(ctx, `UPDATE audit_events SET data = ?, hash = ? WHERE pos = ?`, string(data), hash, pos)
	return err
}

func (s *tamperSink) DeleteRow(ctx context.Context, pos int64) error {
	_, err := s.raw.ExecContext(ctx, `DELETE FROM audit_events WHERE pos = ?`, pos)
	return err
}

func (s *tamperSink) InsertRow(ctx context.Context, data []byte, hash string) (int64, error) {
	res, err := s.raw.ExecContext(ctx, `INSERT INTO audit_events (data, hash) VALUES (?, ?)`, string(data), hash)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *tamperSink) SetCheckpointHash(ctx context.Context, chain string, seq int64, hash string) error {
	_, err := s.raw.ExecContext(ctx, `UPDATE audit_checkpoints SET hash = ? WHERE chain = ? AND seq = ?`, hash, chain, seq)
	return err
}

func open(t testing.TB, path string) *sqlite.Sink {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sqliteOpen(t testing.TB, path string, create bool) (*sqlite.Sink, error) {
	s, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Create: create})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func newTamperSink(t *testing.T) audit.Sink {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := open(t, path)
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return &tamperSink{Sink: s, raw: raw}
}

func TestConformance(t *testing.T) {
	audittest.Run(t, newTamperSink)
}
