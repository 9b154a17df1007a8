package jsonl

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// checkpointLine is how a checkpoint line starts.
const checkpointPrefix = `{"checkpoint":`

type checkpointLine struct {
	Checkpoint audit.Checkpoint `json:"checkpoint"`
}

// Sink is the append-only writer.
type Sink struct {
	mu sync.Mutex
	w  io.Writer
}

var _ audit.Sink = (*Sink)(nil)

// New returns a Sink writing to w (os.Stdout, a file). Each Append is one
// Write call; if w has a Sync method (an *os.File) it is called after each
// write, except where the target cannot sync (a pipe, a terminal). The Sink
// does not close w.
func New(w io.Writer) *Sink { return &Sink{w: w} }

func (s *Sink) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	if f, ok := s.w.(interface{ Sync() error }); ok {
		if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
			return fmt.Errorf("jsonl: %w", err)
		}
	}
	return nil
}

// Append writes one line per event.
func (s *Sink) Append(ctx context.Context, events []audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	for i := range events {
		b, _ := events[i].MarshalJSON()
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return s.write(buf.Bytes())
}

// AddCheckpoint writes one checkpoint line.
func (s *Sink) AddCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(checkpointLine{cp})
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return s.write(append(b, '\n'))
}

var errWriteOnly = fmt.Errorf("jsonl: the stream writer cannot read back (use Load on the captured stream): %w", audit.ErrUnsupported)

// Query is unsupported: it returns an error wrapping audit.ErrUnsupported.
func (s *Sink) Query(context.Context, audit.Filter) ([]audit.Event, error) {
	return nil, errWriteOnly
}

// Scan is unsupported.
func (s *Sink) Scan(context.Context, func(audit.Row) error) error { return errWriteOnly }

// Checkpoints is unsupported.
func (s *Sink) Checkpoints(context.Context) ([]audit.Checkpoint, error) { return nil, errWriteOnly }

// DeleteThrough is unsupported: retention belongs to the log pipeline.
func (s *Sink) DeleteThrough(context.Context, string, int64) (int64, error) { return 0, errWriteOnly }

// Close does nothing: the Sink does not own its writer.
func (s *Sink) Close() error { return nil }

// File is a JSON-lines trail read into memory: read-only.
type File struct {
	rows []audit.Row
	cps  []audit.Checkpoint
}

var _ audit.Sink = (*File)(nil)

// ReadFile loads the JSON-lines trail in the named file.
func ReadFile(name string) (*File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	defer f.Close()
	return Load(f)
}

// Load reads a JSON-lines trail. Blank lines are skipped; a checkpoint line
// that does not decode is an error naming its line; event lines are kept as
// they are, for Verify to judge.
func Load(r io.Reader) (*File, error) {
	f := &File{}
	br := bufio.NewReader(r)
	for n := int64(1); ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("jsonl: line %d: %w", n, err)
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case len(bytes.TrimSpace(line)) == 0:
		case bytes.HasPrefix(line, []byte(checkpointPrefix)):
			var cl checkpointLine
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&cl); derr != nil {
				return nil, fmt.Errorf("jsonl: line %d: %w", n, derr)
			}
			f.cps = append(f.cps, cl.Checkpoint)
		default:
			f.rows = append(f.rows, audit.Row{Pos: n, Data: bytes.Clone(line)})
		}
		if err == io.EOF {
			return f, nil
		}
	}
}

var errReadOnly = fmt.Errorf("jsonl: a loaded file is read-only: %w", audit.ErrUnsupported)

// Append is unsupported: a File is read-only.
func (f *File) Append(context.Context, []audit.Event) error { return errReadOnly }

// AddCheckpoint is unsupported.
func (f *File) AddCheckpoint(context.Context, audit.Checkpoint) error { return errReadOnly }

// DeleteThrough is unsupported.
func (f *File) DeleteThrough(context.Context, string, int64) (int64, error) { return 0, errReadOnly }

// Query filters the file's events in memory (audit.Filter.Match).
func (f *File) Query(ctx context.Context, flt audit.Filter) ([]audit.Event, error) {
	type hit struct {
		e   audit.Event
		pos int64
	}
	var hits []hit
	for _, row := range f.rows {
		var e audit.Event
		if err := e.UnmarshalJSON(row.Data); err != nil {
			return nil, fmt.Errorf("jsonl: line %d: %w", row.Pos, err)
		}
		if flt.Match(&e) {
			hits = append(hits, hit{e, row.Pos})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		c := cmp.Or(a.e.Time.Compare(b.e.Time), cmp.Compare(a.pos, b.pos))
		if flt.Newest {
			return -c
		}
		return c
	})
	if flt.Limit > 0 && len(hits) > flt.Limit {
		hits = hits[:flt.Limit]
	}
	out := make([]audit.Event, len(hits))
	for i := range hits {
		out[i] = hits[i].e
	}
	return out, nil
}

// Scan passes the event lines in file order; Pos is the line number.
func (f *File) Scan(ctx context.Context, fn func(audit.Row) error) error {
	for _, row := range f.rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// Checkpoints returns the file's checkpoints in file order.
func (f *File) Checkpoints(context.Context) ([]audit.Checkpoint, error) {
	return slices.Clone(f.cps), nil
}

// Close does nothing.
func (f *File) Close() error { return nil }

// Export writes src's events, in position order, then its checkpoints, as
// JSON lines that Load reads. The stored bytes are kept: an event stored
// with its hash apart gets the hash appended as the last field, which is
// exactly its MarshalJSON when it is untouched, so Verify on the export
// fails where Verify on src fails.
func Export(ctx context.Context, src audit.Sink, w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := src.Scan(ctx, func(row audit.Row) error {
		data := row.Data
		if row.Hash != "" {
			h, _ := json.Marshal(row.Hash)
			data = bytes.TrimSuffix(data, []byte("}"))
			data = append(append(append(bytes.Clone(data), `,"hash":`...), h...), '}')
		}
		// Canonical JSON has no raw line breaks; an edited row might. Escaped,
		// they keep one line per row and still fail Verify at this row.
		data = bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r"), []byte(`\r`)), []byte("\n"), []byte(`\n`))
		bw.Write(data)
		return bw.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	cps, err := src.Checkpoints(ctx)
	if err != nil {
		return err
	}
	for _, cp := range cps {
		b, err := json.Marshal(checkpointLine{cp})
		if err != nil {
			return fmt.Errorf("jsonl: export: %w", err)
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("jsonl: export: %w", err)
	}
	return nil
}

// The File is browsed by reading it whole for each call (audit.ScanBrowser):
// fine for a captured file, which is in memory anyway.
var _ audit.Browser = (*File)(nil)

// Page filters the file's events in memory.
func (f *File) Page(ctx context.Context, flt audit.Filter, after audit.Cursor, limit int) ([]audit.Entry, error) {
	return audit.ScanBrowser{Sink: f}.Page(ctx, flt, after, limit)
}

// Entry returns the event on line pos.
func (f *File) Entry(ctx context.Context, pos int64) (*audit.Entry, error) {
	return audit.ScanBrowser{Sink: f}.Entry(ctx, pos)
}

// ChainEntry finds the event at seq in chain.
func (f *File) ChainEntry(ctx context.Context, chain string, seq int64) (*audit.Entry, error) {
	return audit.ScanBrowser{Sink: f}.ChainEntry(ctx, chain, seq)
}

// Histogram counts the file's events in memory.
func (f *File) Histogram(ctx context.Context, flt audit.Filter, edges []time.Time) ([]audit.DecisionCounts, error) {
	return audit.ScanBrowser{Sink: f}.Histogram(ctx, flt, edges)
}

// TopDenied counts the file's denied events in memory.
func (f *File) TopDenied(ctx context.Context, flt audit.Filter, n int) (*audit.Top, error) {
	return audit.ScanBrowser{Sink: f}.TopDenied(ctx, flt, n)
}
