package audit_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// memSink is an in-memory Sink for the Recorder's unit tests. Why a double
// and not SQLite: these tests run in a testing/synctest bubble, to control
// time (retries, flushes, checkpoint intervals) and outages exactly, and
// real database I/O does not belong there. TestMemSinkConformance holds the
// double to the same suite as the real sinks; outages against real stores
// are tested in audit/sqlite and audit/postgres.
type memSink struct {
	mu      sync.Mutex
	rows    []audit.Row
	cps     []audit.Checkpoint
	nextPos int64
	down    bool          // Append and AddCheckpoint fail
	block   chan struct{} // when set, Append waits for it to close
	appends int           // successful Append calls
}

var errDown = errors.New("memsink: down")

func (m *memSink) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

func (m *memSink) Append(ctx context.Context, evs []audit.Event) error {
	m.mu.Lock()
	block := m.block
	m.mu.Unlock()
	if block != nil {
		<-block
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	seen := map[[2]any]bool{}
	for _, r := range m.rows {
		e, _ := audit.DecodeStored(r.Data, r.Hash)
		seen[[2]any{e.Chain, e.Seq}] = true
	}
	var add []audit.Row
	for i := range evs {
		k := [2]any{evs[i].Chain, evs[i].Seq}
		if seen[k] {
			return errors.New("memsink: duplicate (chain, seq)")
		}
		seen[k] = true
		m.nextPos++
		add = append(add, audit.Row{Pos: m.nextPos, Data: evs[i].Canonical(), Hash: evs[i].Hash})
	}
	m.rows = append(m.rows, add...)
	m.appends++
	return nil
}

func (m *memSink) AddCheckpoint(ctx context.Context, cp audit.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errDown
	}
	m.cps = append(m.cps, cp)
	return nil
}

func (m *memSink) events() []audit.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Event
	for _, r := range m.rows {
		e, _ := audit.DecodeStored(r.Data, r.Hash)
		out = append(out, e)
	}
	return out
}

func (m *memSink) Query(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	var out []audit.Event
	for _, e := range m.events() {
		if f.Match(&e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b audit.Event) int {
		if f.Newest {
			return cmp.Compare(audit.FormatTime(b.Time), audit.FormatTime(a.Time))
		}
		return cmp.Compare(audit.FormatTime(a.Time), audit.FormatTime(b.Time))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

func (m *memSink) Scan(ctx context.Context, fn func(audit.Row) error) error {
	m.mu.Lock()
	rows := slices.Clone(m.rows)
	m.mu.Unlock()
	for _, r := range rows {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (m *memSink) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.cps), nil
}

func (m *memSink) DeleteThrough(ctx context.Context, chain string, seq int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	m.rows = slices.DeleteFunc(m.rows, func(r audit.Row) bool {
		e, _ := audit.DecodeStored(r.Data, r.Hash)
		if e.Chain == chain && e.Seq <= seq {
			n++
			return true
		}
		return false
	})
	m.cps = slices.DeleteFunc(m.cps, func(cp audit.Checkpoint) bool { return cp.Chain == chain && cp.Seq < seq })
	return n, nil
}

func (m *memSink) Close() error { return nil }

// Tamperer, so the conformance suite's tamper cases run on the double too.

func (m *memSink) SetRow(_ context.Context, pos int64, data []byte, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.rows {
		if m.rows[i].Pos == pos {
			m.rows[i].Data, m.rows[i].Hash = data, hash
		}
	}
	return nil
}

func (m *memSink) DeleteRow(_ context.Context, pos int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = slices.DeleteFunc(m.rows, func(r audit.Row) bool { return r.Pos == pos })
	return nil
}

func (m *memSink) InsertRow(_ context.Context, data []byte, hash string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextPos++
	m.rows = append(m.rows, audit.Row{Pos: m.nextPos, Data: data, Hash: hash})
	return m.nextPos, nil
}

func (m *memSink) SetCheckpointHash(_ context.Context, chain string, seq int64, hash string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.cps {
		if m.cps[i].Chain == chain && m.cps[i].Seq == seq {
			m.cps[i].Hash = hash
		}
	}
	return nil
}
