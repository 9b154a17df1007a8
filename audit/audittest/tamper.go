package audittest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// stored re-encodes e the way row was stored: canonical data with the hash
// apart, or the full JSON with the hash inside.
func stored(row audit.Row, e audit.Event) (data []byte, hash string) {
	if row.Hash != "" {
		return e.Canonical(), e.Hash
	}
	data, _ = e.MarshalJSON()
	return data, ""
}

func decode(t *testing.T, row audit.Row) audit.Event {
	t.Helper()
	e, err := audit.DecodeStored(row.Data, row.Hash)
	if err != nil {
		t.Fatalf("decoding the row at %d: %v", row.Pos, err)
	}
	return e
}

func rows(t *testing.T, sink audit.Sink) []audit.Row {
	t.Helper()
	var out []audit.Row
	if err := sink.Scan(t.Context(), func(r audit.Row) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

type tamperCase struct {
	name string
	// tamper changes the store behind the sink's back and returns the seq
	// and position Verify must name.
	tamper     func(t *testing.T, ctx context.Context, tp Tamperer, rows []audit.Row) (seq, pos int64)
	wantReason string
	// noKeyPasses is true when the tampering is only visible with the key.
	noKeyPasses bool
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
}

// edit returns row's event changed by fn (flip the decision by default),
// keeping or recomputing the hash.
func edit(t *testing.T, row audit.Row, rehash bool, fn func(*audit.Event)) ([]byte, string) {
	e := decode(t, row)
	fn(&e)
	if rehash {
		e.Hash = e.ChainHash()
	}
	return stored(row, e)
}

func flip(e *audit.Event) { e.Decision = audit.DecisionDeny }

var tamperCases = []tamperCase{
	{
		name: "edit one field",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			data, hash := edit(t, rs[6], false, flip)
			must(t, tp.SetRow(ctx, rs[6].Pos, data, hash))
			return 7, rs[6].Pos
		},
		wantReason: "event edited",
	},
	{
		name: "edit a claim",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			data, hash := edit(t, rs[2], false, func(e *audit.Event) { e.Claims = map[string]string{"scp": "orders.write"} })
			must(t, tp.SetRow(ctx, rs[2].Pos, data, hash))
			return 3, rs[2].Pos
		},
		wantReason: "event edited",
	},
	{
		name: "edit the encoding only",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			data := []byte(strings.Replace(string(rs[3].Data), `{"version"`, `{ "version"`, 1))
			must(t, tp.SetRow(ctx, rs[3].Pos, data, rs[3].Hash))
			return 4, rs[3].Pos
		},
		wantReason: "not in canonical form",
	},
	{
		name: "edit and recompute the hash",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			data, hash := edit(t, rs[6], true, flip)
			must(t, tp.SetRow(ctx, rs[6].Pos, data, hash))
			return 8, rs[7].Pos // the link from seq 8 breaks
		},
		wantReason: "prev_hash does not match the hash of seq 7",
	},
	{
		name: "edit and recompute the hash of a checkpointed event",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			data, hash := edit(t, rs[19], true, flip)
			must(t, tp.SetRow(ctx, rs[19].Pos, data, hash))
			return 20, rs[19].Pos
		},
		wantReason: "differs from the signed checkpoint",
		// Without the key checkpoints are still compared, so this shows too.
	},
	{
		name: "delete one event",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			must(t, tp.DeleteRow(ctx, rs[6].Pos))
			return 7, rs[7].Pos
		},
		wantReason: "event 7 deleted",
	},
	{
		name: "delete the first event",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			must(t, tp.DeleteRow(ctx, rs[0].Pos))
			return 1, rs[1].Pos
		},
		wantReason: "events 1 to 1 deleted",
	},
	{
		name: "delete the last event",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			must(t, tp.DeleteRow(ctx, rs[19].Pos))
			return 20, rs[18].Pos
		},
		wantReason: "events 20 to 20 deleted",
	},
	{
		name: "reorder two events",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			a, b := rs[6], rs[7]
			// Through a placeholder, as a unique (chain, seq) index requires.
			tmp, tmpHash := edit(t, a, false, func(e *audit.Event) { e.Seq = -1 })
			must(t, tp.SetRow(ctx, a.Pos, tmp, tmpHash))
			must(t, tp.SetRow(ctx, b.Pos, a.Data, a.Hash))
			must(t, tp.SetRow(ctx, a.Pos, b.Data, b.Hash))
			return 7, a.Pos
		},
		wantReason: "seq 8 follows seq 6",
	},
	{
		name: "insert a well-linked event after the final checkpoint",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			last := decode(t, rs[19])
			forged := last
			forged.ID, forged.Seq, forged.PrevHash, forged.Decision = "forged", 21, last.Hash, audit.DecisionAllow
			forged.Hash = forged.ChainHash()
			data, hash := stored(rs[19], forged)
			pos, err := tp.InsertRow(ctx, data, hash)
			must(t, err)
			return 21, pos
		},
		wantReason: "after the chain's final checkpoint",
	},
	{
		name: "insert a forged chain",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			forged := decode(t, rs[0])
			forged.Chain, forged.Seq, forged.PrevHash = "forged/1", 1, ""
			forged.Hash = forged.ChainHash()
			data, hash := stored(rs[0], forged)
			pos, err := tp.InsertRow(ctx, data, hash)
			must(t, err)
			return 1, pos
		},
		wantReason:  "no signed checkpoint",
		noKeyPasses: true,
	},
	{
		name: "insert an unlinked event",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			forged := decode(t, rs[19])
			forged.Seq, forged.PrevHash = 21, strings.Repeat("0", 64)
			forged.Hash = forged.ChainHash()
			data, hash := stored(rs[19], forged)
			pos, err := tp.InsertRow(ctx, data, hash)
			must(t, err)
			return 21, pos
		},
		wantReason: "final checkpoint",
	},
	{
		name: "edit a checkpoint",
		tamper: func(t *testing.T, ctx context.Context, tp Tamperer, rs []audit.Row) (int64, int64) {
			e := decode(t, rs[9])
			must(t, tp.SetCheckpointHash(ctx, e.Chain, 10, strings.Repeat("0", 64)))
			return 10, 0
		},
		wantReason:  "bad signature",
		noKeyPasses: false, // without the key, the checkpoint disagrees with the event
	},
}

func (s *suite) tamper(t *testing.T) {
	s.needScan(t)
	if _, ok := s.newSink(t).(Tamperer); !ok {
		t.Skip("the sink's test wrapper does not implement audittest.Tamperer")
	}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			sink := s.newSink(t)
			clock := NewClock(T0)
			r := s.recorder(t, sink, clock, 5)
			for i := range 20 {
				record(t, r, clock, event(i))
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			rs := rows(t, sink)
			if len(rs) != 20 {
				t.Fatalf("%d rows, want 20", len(rs))
			}
			wantSeq, wantPos := tc.tamper(t, t.Context(), sink.(Tamperer), rs)

			_, err := audit.Verify(t.Context(), sink, s.key.Public())
			var ce *audit.ChainError
			if !errors.As(err, &ce) || !errors.Is(err, audit.ErrChainBroken) {
				t.Fatalf("Verify after tampering = %v; want a *ChainError", err)
			}
			if ce.Seq != wantSeq || ce.Position != wantPos || !strings.Contains(ce.Reason, tc.wantReason) {
				t.Errorf("Verify = %v\nwant seq %d at position %d, reason containing %q", err, wantSeq, wantPos, tc.wantReason)
			}
			_, err = audit.Verify(t.Context(), sink, nil)
			if tc.noKeyPasses && err != nil {
				t.Errorf("Verify without a key = %v; want nil (only the key shows this)", err)
			}
			if !tc.noKeyPasses && err == nil {
				t.Error("Verify without a key passed; the hash chain alone should show this")
			}
		})
	}
}
