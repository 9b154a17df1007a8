package jsonl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// TestConformanceStream: the writer as a gateway uses it (stdout): append
// only.
func TestConformanceStream(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Sink { return jsonl.New(&bytes.Buffer{}) })
}

// fileSink writes with the stream writer and reads back with Load, so the
// suite checks the line format round trip and Verify over files; its
// Tamperer edits lines as someone with a text editor would. DeleteRow blanks
// the line, so line numbers (positions) stay put.
type fileSink struct {
	*jsonl.Sink
	mu  sync.Mutex
	buf *bytes.Buffer
}

func newFileSink(t *testing.T) audit.Sink {
	buf := &bytes.Buffer{}
	return &fileSink{Sink: jsonl.New(lockedWriter{&sync.Mutex{}, buf}), buf: buf}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fileSink) load() (*jsonl.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return jsonl.Load(bytes.NewReader(bytes.Clone(f.buf.Bytes())))
}

func (f *fileSink) Query(ctx context.Context, flt audit.Filter) ([]audit.Event, error) {
	file, err := f.load()
	if err != nil {
		return nil, err
	}
	return file.Query(ctx, flt)
}

func (f *fileSink) Scan(ctx context.Context, fn func(audit.Row) error) error {
	file, err := f.load()
	if err != nil {
		return err
	}
	return file.Scan(ctx, fn)
}

func (f *fileSink) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	file, err := f.load()
	if err != nil {
		return nil, err
	}
	return file.Checkpoints(ctx)
}

func (f *fileSink) lines(edit func(lines []string) []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(f.buf.String(), "\n"), "\n")
	lines = edit(lines)
	f.buf.Reset()
	f.buf.WriteString(strings.Join(lines, "\n") + "\n")
}

func (f *fileSink) SetRow(_ context.Context, pos int64, data []byte, hash string) error {
	if hash != "" {
		return errors.New("a line carries its hash inside")
	}
	f.lines(func(l []string) []string { l[pos-1] = string(data); return l })
	return nil
}

func (f *fileSink) DeleteRow(_ context.Context, pos int64) error {
	f.lines(func(l []string) []string { l[pos-1] = ""; return l })
	return nil
}

func (f *fileSink) InsertRow(_ context.Context, data []byte, hash string) (int64, error) {
	var n int
	f.lines(func(l []string) []string { l = append(l, string(data)); n = len(l); return l })
	return int64(n), nil
}

func (f *fileSink) SetCheckpointHash(_ context.Context, chain string, seq int64, hash string) error {
	var err error
	f.lines(func(l []string) []string {
		for i, line := range l {
			var cl struct{ Checkpoint audit.Checkpoint }
			if !strings.HasPrefix(line, `{"checkpoint":`) || json.Unmarshal([]byte(line), &cl) != nil {
				continue
			}
			if cl.Checkpoint.Chain == chain && cl.Checkpoint.Seq == seq {
				cl.Checkpoint.Hash = hash
				b, merr := json.Marshal(map[string]audit.Checkpoint{"checkpoint": cl.Checkpoint})
				err = errors.Join(err, merr)
				l[i] = string(b)
			}
		}
		return l
	})
	return err
}

func TestConformanceFile(t *testing.T) {
	audittest.Run(t, newFileSink)
}

// TestLineFormat: one event per line, exactly its JSON; a checkpoint line
// is {"checkpoint":{...}}; hostile values cannot start a line.
func TestLineFormat(t *testing.T) {
	var buf bytes.Buffer
	r, err := audit.NewRecorder(audit.Config{Sink: jsonl.New(&buf), Replica: "gw", Signer: audittest.Key(t)})
	if err != nil {
		t.Fatal(err)
	}
	ev := &audit.Event{Decision: "deny", Resource: "/x\n{\"decision\":\"allow\"}", Check: "exp"}
	if err := r.Record(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (genesis checkpoint, event, final checkpoint):\n%s", len(lines), buf.String())
	}
	if !strings.HasPrefix(lines[0], `{"checkpoint":{"chain":"gw/`) || !strings.Contains(lines[2], `"final":true`) {
		t.Errorf("checkpoint lines:\n%s\n%s", lines[0], lines[2])
	}
	var e audit.Event
	if err := e.UnmarshalJSON([]byte(lines[1])); err != nil {
		t.Fatal(err)
	}
	want := audit.Event{Version: audit.SchemaVersion, ID: ev.ID, Time: ev.Time.Truncate(time.Microsecond), Replica: "gw",
		Decision: "deny", Resource: `/x\u000A{"decision":"allow"}`, Check: "exp",
		Chain: e.Chain, Seq: 1, Hash: e.ChainHash()}
	if diff := testkit.DiffEvent(want, e, "Version", "ID", "Time", "Replica", "Chain", "Seq", "PrevHash", "Hash"); diff != "" {
		t.Errorf("event line (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(e.Chain, "gw/") || !strings.HasPrefix(lines[0], `{"checkpoint":{"chain":"`+e.Chain+`"`) {
		t.Errorf("event in chain %q; want the replica's chain of the genesis checkpoint %s", e.Chain, lines[0])
	}
}

// TestExportVerify: an export of a SQLite trail verifies like the store,
// and an edit in the store shows in the export at the same seq.
func TestExportVerify(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "audit.db")
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := audittest.Key(t)
	r, err := audit.NewRecorder(audit.Config{Sink: db, Signer: key, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := r.Record(ctx, &audit.Event{Decision: "allow", RequestID: fmt.Sprint(i), Claims: map[string]string{"scp": "a b"}}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()

	export := func() *jsonl.File {
		var buf bytes.Buffer
		if err := jsonl.Export(ctx, db, &buf); err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(t.TempDir(), "export.jsonl")
		if err := os.WriteFile(name, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := jsonl.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	rep, err := audit.Verify(ctx, export(), key.Public())
	if err != nil || rep.Events != 10 {
		t.Fatalf("Verify(export) = %+v, %v; want 10 events, nil", rep, err)
	}
	if got, err := export().Query(ctx, audit.Filter{Newest: true, Limit: 1}); err != nil || len(got) != 1 || got[0].RequestID != "9" {
		t.Errorf("Query(export, newest) = %+v, %v", got, err)
	}

	// Edit seq 3 in the store, with a raw newline for good measure.
	tamper(t, path, `UPDATE audit_events SET data = replace(data, '"request_id":"2"', '"request_id":
"2"') WHERE pos = 3`)
	var ce *audit.ChainError
	if _, err := audit.Verify(ctx, db, key.Public()); !errors.As(err, &ce) || ce.Seq != 3 || ce.Position != 3 {
		t.Fatalf("Verify(store) = %v; want seq 3 at position 3", err)
	}
	// The export keeps one line per row (the newline escaped), so the
	// break shows at line 3, whose event no longer decodes.
	if _, err := audit.Verify(ctx, export(), key.Public()); !errors.As(err, &ce) || ce.Position != 3 {
		t.Errorf("Verify(export) = %v; want line 3", err)
	}
}
