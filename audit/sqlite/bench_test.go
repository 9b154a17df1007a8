package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
)

// countingSink counts transactions, to report events per transaction.
type countingSink struct {
	audit.Sink
	appends atomic.Int64
}

func (c *countingSink) Append(ctx context.Context, evs []audit.Event) error {
	c.appends.Add(1)
	return c.Sink.Append(ctx, evs)
}

// benchEvent is a realistic event: about 900 bytes of JSON, as the gateway
// writes for an allowed call through an agent.
func benchEvent(i int) *audit.Event {
	return &audit.Event{
		RequestID: fmt.Sprintf("01JD%022d", i), Tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		Principal: "p1:Zqo9-5yV-zmmD9JjuZZCoLCBZ2p-fmg4FTvuPY4460g", PrincipalKind: "user", App: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
		Agents: []audit.Agent{{Subject: "p1:Wd2f4B9Qz2n0b0y2bq3o1rj2a6Zr0mNnqfQ1c3P0xQk", App: "app-agent", Via: "obo"}},
		Action: "invoke", Resource: "/orders/12345", Route: "orders", Decision: audit.DecisionAllow,
		Policies: []string{"allow-orders-readers"}, Role: "orders-reader", STSSession: "gh-5f0c1e2a9b",
		Target: "arn:aws:lambda:eu-west-1:123456789012:function:orders", TargetRequestID: "8f5c2a1e-7d3b-4c9a-9e2f-1a2b3c4d5e6f",
		Status: 200, LatencyMicros: 12345, Claims: map[string]string{"scp": "orders.read", "ver": "2.0"},
	}
}

// runSustained records b.N events with the given number of concurrent
// writers and reports events/s including the final flush (Close), and
// events per transaction.
func runSustained(b *testing.B, sink audit.Sink, mode audit.Mode, writers int) {
	cs := &countingSink{Sink: sink}
	r, err := audit.NewRecorder(audit.Config{Sink: cs, Mode: mode, Replica: "bench", Signer: audittest.Key(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if writers == 1 {
		for i := range b.N {
			if err := r.Record(ctx, benchEvent(i)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := r.Record(ctx, benchEvent(int(next.Add(1)))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(cs.appends.Load(), 1)), "events/tx")
}

// BenchmarkSQLiteAsync: one writer, Async mode (target 20,000 events/s).
func BenchmarkSQLiteAsync(b *testing.B) {
	runSustained(b, open(b, filepath.Join(b.TempDir(), "audit.db")), audit.Async, 1)
}

// BenchmarkSQLiteSync64: 64 concurrent writers, Sync mode, group commit
// (target 5,000 events/s).
func BenchmarkSQLiteSync64(b *testing.B) {
	runSustained(b, open(b, filepath.Join(b.TempDir(), "audit.db")), audit.Sync, 64)
}

// BenchmarkSQLiteSync1: one writer in Sync mode: a commit (and fsync) per
// event; the floor group commit lifts.
func BenchmarkSQLiteSync1(b *testing.B) {
	runSustained(b, open(b, filepath.Join(b.TempDir(), "audit.db")), audit.Sync, 1)
}
