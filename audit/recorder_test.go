package audit_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestMemSinkConformance(t *testing.T) {
	audittest.Run(t, func(t *testing.T) audit.Sink { return &memSink{} })
}

func newRecorder(t *testing.T, cfg audit.Config) *audit.Recorder {
	t.Helper()
	if cfg.Signer == nil {
		cfg.Signer = audittest.Key(t)
	}
	if cfg.Replica == "" {
		cfg.Replica = "test"
	}
	r, err := audit.NewRecorder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func ev(id string) *audit.Event {
	return &audit.Event{ID: id, Decision: audit.DecisionAllow, Route: "r"}
}

func ids(evs []audit.Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, e.ID)
	}
	return strings.Join(b, ",")
}

func mustVerify(t *testing.T, sink audit.Sink, cfg audit.Config) *audit.Report {
	t.Helper()
	rep, err := audit.Verify(t.Context(), sink, cfg.Signer.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// TestGroupCommit: 64 concurrent writers in Sync mode share transactions,
// and every Record that returned nil is stored once, chained.
func TestGroupCommit(t *testing.T) {
	sink := &memSink{}
	cfg := audit.Config{Sink: sink, Signer: audittest.Key(t)}
	r := newRecorder(t, cfg)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			for i := range 20 {
				if err := r.Record(t.Context(), ev(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	r.Close()
	if n := len(sink.events()); n != 64*20 {
		t.Fatalf("%d events stored, want %d", n, 64*20)
	}
	if sink.appends >= 64*20/2 {
		t.Errorf("%d transactions for %d events: no group commit", sink.appends, 64*20)
	}
	t.Logf("%d events in %d transactions", 64*20, sink.appends)
	mustVerify(t, sink, cfg)
}

// TestRecordFillsAndCleans: Record fills ID, Time, Version and Replica in
// the caller's event and leaves its strings and chain fields alone; it
// stores a cleaned copy, first in a new chain of the replica.
func TestRecordFillsAndCleans(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		r := newRecorder(t, audit.Config{Sink: sink, Replica: "gw-7"})
		e := &audit.Event{Decision: "deny", Resource: "/a\nb", Chain: "mine", Seq: 99, Hash: "x"}
		if err := r.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		if e.ID == "" {
			t.Error("Record left the event's ID empty")
		}
		want := audit.Event{Version: audit.SchemaVersion, ID: e.ID, Time: time.Now(), Replica: "gw-7",
			Decision: "deny", Resource: "/a\nb", Chain: "mine", Seq: 99, Hash: "x"}
		if diff := testkit.DiffEvent(want, *e, everyField...); diff != "" {
			t.Errorf("the caller's event after Record (-want +got):\n%s", diff)
		}
		got := sink.events()[0]
		want.Resource = `/a\u000Ab`
		want.Chain, want.Seq, want.PrevHash, want.Hash = got.Chain, 1, "", got.ChainHash()
		if diff := testkit.DiffEvent(want, got, everyField...); diff != "" {
			t.Errorf("stored event (-want +got):\n%s", diff)
		}
		if !strings.HasPrefix(got.Chain, "gw-7/") {
			t.Errorf("stored in chain %q; want a chain of replica gw-7", got.Chain)
		}
	})
}

// everyField names every field testkit.DiffEvent leaves out unless asked:
// a test that controls the clock and reads back the chain knows them all.
var everyField = []string{"Version", "ID", "Time", "Replica", "LatencyMicros", "Chain", "Seq", "PrevHash", "Hash"}

func TestRecordRejectsBadDecision(t *testing.T) {
	r := newRecorder(t, audit.Config{Sink: &memSink{}})
	err := r.Record(t.Context(), &audit.Event{Decision: "maybe"})
	if err == nil || errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Record(decision maybe) = %v; want a plain error", err)
	}
}

func TestRecordAfterClose(t *testing.T) {
	r := newRecorder(t, audit.Config{Sink: &memSink{}})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := r.Record(t.Context(), ev("late")); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Record after Close = %v; want ErrClosed", err)
	}
}

func TestNewRecorderRejects(t *testing.T) {
	_, rsaKey := otherKeys(t)
	tests := []struct {
		name string
		cfg  audit.Config
		want string
	}{
		{"no sink", audit.Config{}, "Sink is required"},
		{"bad mode", audit.Config{Sink: &memSink{}, Mode: "later"}, `mode "later"`},
		{"bad fallback", audit.Config{Sink: &memSink{}, OnUnavailable: "ignore"}, `on_unavailable "ignore"`},
		{"spool without dir", audit.Config{Sink: &memSink{}, OnUnavailable: audit.Spool}, "spool directory"},
		{"unsupported signer", audit.Config{Sink: &memSink{}, Signer: badSigner{rsaKey}}, "want Ed25519, ECDSA or RSA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.NewRecorder(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewRecorder = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestSyncFailClosed: with the sink down, Sync Records fail with
// ErrUnavailable; when it returns, recording resumes in a new chain and the
// store verifies.
func TestSyncFailClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		cfg := audit.Config{Sink: sink, Signer: audittest.Key(t)}
		r := newRecorder(t, cfg)
		if err := r.Record(t.Context(), ev("before")); err != nil {
			t.Fatal(err)
		}
		sink.setDown(true)
		if err := r.Record(t.Context(), ev("during")); !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, errDown) {
			t.Fatalf("Record with the sink down = %v; want ErrUnavailable wrapping the cause", err)
		}
		sink.setDown(false)
		if err := r.Record(t.Context(), ev("after")); err != nil {
			t.Fatalf("Record after the sink returned: %v", err)
		}
		r.Close()
		if got := ids(sink.events()); got != "before,after" {
			t.Errorf("stored %s; want before,after", got)
		}
		if rep := mustVerify(t, sink, cfg); len(rep.Chains) != 2 {
			t.Errorf("%d chains; want 2 (a new one after the failure)", len(rep.Chains))
		}
	})
}

// TestAsyncFailClosed: in Async mode the failing batch is kept and retried;
// meanwhile Record fails fast; nothing accepted is lost once the sink is
// back.
func TestAsyncFailClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		sink.setDown(true)
		cfg := audit.Config{Sink: sink, Mode: audit.Async, Signer: audittest.Key(t), RetryInterval: time.Second}
		r := newRecorder(t, cfg)
		if err := r.Record(t.Context(), ev("accepted")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // FlushInterval: the writer tries, fails and waits to retry
		synctest.Wait()
		if err := r.Record(t.Context(), ev("refused")); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("Record while the sink is down = %v; want ErrUnavailable", err)
		}
		if r.Pending() != 1 {
			t.Errorf("Pending = %d; want 1", r.Pending())
		}
		sink.setDown(false)
		time.Sleep(time.Second) // fake time: the retry
		synctest.Wait()
		if err := r.Record(t.Context(), ev("later")); err != nil {
			t.Fatalf("Record after recovery: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if got := ids(sink.events()); got != "accepted,later" {
			t.Errorf("stored %s; want accepted,later", got)
		}
		mustVerify(t, sink, cfg)
	})
}

// TestAsyncCloseDropsWhatCannotBeWritten: Close does not hang on a dead
// sink; it reports the events it had to drop.
func TestAsyncCloseDropsWhatCannotBeWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		sink.setDown(true)
		r := newRecorder(t, audit.Config{Sink: sink, Mode: audit.Async})
		for i := range 3 {
			if err := r.Record(t.Context(), ev(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		err := r.Close()
		if !errors.Is(err, audit.ErrUnavailable) || !strings.Contains(err.Error(), "3 queued events dropped") {
			t.Errorf("Close = %v; want 3 events reported dropped", err)
		}
	})
}

// TestAsyncLossWindow: with the sink stalled, Async accepts at most
// QueueSize + BatchSize events (what a crash would lose, Pending), then
// applies backpressure; once the sink moves, all of them are stored.
func TestAsyncLossWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{block: make(chan struct{})}
		cfg := audit.Config{Sink: sink, Mode: audit.Async, QueueSize: 16, BatchSize: 4, FlushInterval: time.Millisecond, Signer: audittest.Key(t)}
		r := newRecorder(t, cfg)
		// The genesis checkpoint does not block; the first Append does.
		accepted := 0
		for i := range 30 {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			err := r.Record(ctx, ev(fmt.Sprint(i)))
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			accepted++
			synctest.Wait()
		}
		if accepted != 20 || r.Pending() != 20 {
			t.Errorf("accepted %d, pending %d; want 20 = QueueSize 16 + BatchSize 4", accepted, r.Pending())
		}
		close(sink.block)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(sink.events()); n != 20 || r.Pending() != 0 {
			t.Errorf("after the stall: %d stored, %d pending; want 20, 0", n, r.Pending())
		}
		mustVerify(t, sink, cfg)
	})
}

// TestAsyncFlushInterval: a lone event waits at most FlushInterval.
func TestAsyncFlushInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		r := newRecorder(t, audit.Config{Sink: sink, Mode: audit.Async, FlushInterval: 50 * time.Millisecond})
		if err := r.Record(t.Context(), ev("lone")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if n := len(sink.events()); n != 0 {
			t.Fatalf("stored after 49ms: %d; want 0", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if n := len(sink.events()); n != 1 {
			t.Fatalf("stored after 50ms: %d; want 1", n)
		}
	})
}

// TestSpoolReplay: with the sink down, Sync Records succeed into the spool;
// when the sink returns, the spool is replayed in order before newer events.
func TestSpoolReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		dir := t.TempDir()
		cfg := audit.Config{Sink: sink, OnUnavailable: audit.Spool, SpoolDir: dir, Signer: audittest.Key(t), RetryInterval: time.Second}
		r := newRecorder(t, cfg)
		if err := r.Record(t.Context(), ev("a")); err != nil {
			t.Fatal(err)
		}
		sink.setDown(true)
		for _, id := range []string{"b", "c", "d"} {
			if err := r.Record(t.Context(), ev(id)); err != nil {
				t.Fatalf("Record with the sink down and a spool = %v; want nil", err)
			}
		}
		spooled, err := os.ReadFile(filepath.Join(dir, "audit-spool.jsonl"))
		if err != nil || strings.Count(string(spooled), "\n") != 3 {
			t.Fatalf("spool file: %d lines, %v; want 3", strings.Count(string(spooled), "\n"), err)
		}
		sink.setDown(false)
		if err := r.Record(t.Context(), ev("e")); err != nil { // still spooled: behind b, c, d
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := ids(sink.events()); got != "a,b,c,d,e" {
			t.Fatalf("after replay: %s; want a,b,c,d,e", got)
		}
		if err := r.Record(t.Context(), ev("f")); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if got := ids(sink.events()); got != "a,b,c,d,e,f" {
			t.Errorf("stored %s; want a,b,c,d,e,f", got)
		}
		if fi, err := os.Stat(filepath.Join(dir, "audit-spool.jsonl")); err != nil || fi.Size() != 0 {
			t.Errorf("spool after replay: %v, %v; want empty", fi, err)
		}
		mustVerify(t, sink, cfg)
	})
}

// TestSpoolSurvivesRestart: events spooled by a process that stopped while
// the sink was down are replayed by the next one, before its own, and a
// torn last line (a crash mid-write) is dropped.
func TestSpoolSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		sink.setDown(true)
		dir := t.TempDir()
		key := audittest.Key(t)
		cfg := audit.Config{Sink: sink, OnUnavailable: audit.Spool, SpoolDir: dir, Signer: key}
		r1 := newRecorder(t, cfg)
		for _, id := range []string{"a", "b"} {
			if err := r1.Record(t.Context(), ev(id)); err != nil {
				t.Fatal(err)
			}
		}
		r1.Close()
		f, err := os.OpenFile(filepath.Join(dir, "audit-spool.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"version":1,"id":"torn"`)
		f.Close()

		sink.setDown(false)
		r2 := newRecorder(t, cfg)
		synctest.Wait()
		if err := r2.Record(t.Context(), ev("c")); err != nil {
			t.Fatal(err)
		}
		r2.Close()
		if got := ids(sink.events()); got != "a,b,c" {
			t.Errorf("stored %s; want a,b,c", got)
		}
		mustVerify(t, sink, cfg)
	})
}

// TestCheckpointCadence: a genesis checkpoint, one every CheckpointEvery
// events, one per CheckpointInterval when events trickle, a final at Close.
func TestCheckpointCadence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &memSink{}
		cfg := audit.Config{Sink: sink, CheckpointEvery: 3, CheckpointInterval: time.Minute}
		r := newRecorder(t, cfg)
		for i := range 7 {
			if err := r.Record(t.Context(), ev(fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		r.Close()
		cps, _ := sink.Checkpoints(t.Context())
		var got []string
		for _, cp := range cps {
			got = append(got, fmt.Sprintf("%d%s", cp.Seq, map[bool]string{true: "F"}[cp.Final]))
		}
		if strings.Join(got, " ") != "0 3 6 7 7F" {
			t.Errorf("checkpoints at %v; want 0 3 6 7 7F", got)
		}
	})
}

type badSigner struct{ *rsa.PrivateKey }

func (badSigner) Public() crypto.PublicKey { return "not a key" }

func otherKeys(t *testing.T) (*ecdsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return ec, rk
}

// TestSignerKinds: checkpoints signed with ECDSA and RSA verify; a key of
// another kind is refused.
func TestSignerKinds(t *testing.T) {
	ec, rk := otherKeys(t)
	for name, key := range map[string]crypto.Signer{"ecdsa": ec, "rsa": rk} {
		t.Run(name, func(t *testing.T) {
			sink := &memSink{}
			r := newRecorder(t, audit.Config{Sink: sink, Signer: key})
			if err := r.Record(t.Context(), ev("x")); err != nil {
				t.Fatal(err)
			}
			r.Close()
			if _, err := audit.Verify(t.Context(), sink, key.Public()); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if _, err := audit.Verify(t.Context(), sink, audittest.Key(t).Public()); !errors.Is(err, audit.ErrChainBroken) {
				t.Errorf("Verify with another key = %v; want ErrChainBroken", err)
			}
		})
	}
}
