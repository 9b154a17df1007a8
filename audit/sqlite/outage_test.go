package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
)

// TestFailClosedWhenDatabaseGone: once the database is unusable, Sync
// Records fail with ErrUnavailable, and the gateway answers 503.
func TestFailClosedWhenDatabaseGone(t *testing.T) {
	sink := open(t, filepath.Join(t.TempDir(), "audit.db"))
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Signer: audittest.Key(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Record(t.Context(), &audit.Event{Decision: "allow"}); err != nil {
		t.Fatal(err)
	}
	sink.Close()
	if err := r.Record(t.Context(), &audit.Event{Decision: "allow"}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Record with the database closed = %v; want ErrUnavailable", err)
	}
}

// TestOpenRefusesMissingFile: without Create, a mistyped path is an error,
// not a new empty trail.
func TestOpenRefusesMissingFile(t *testing.T) {
	_, err := sqliteOpen(t, filepath.Join(t.TempDir(), "nope.db"), false)
	if err == nil {
		t.Error("Open of a missing file without Create succeeded")
	}
	if _, err := sqliteOpen(t, filepath.Join(t.TempDir(), "a?b.db"), true); err == nil {
		t.Error("Open of a path with '?' succeeded")
	}
}
