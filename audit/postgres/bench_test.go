package postgres_test

import (
	"context"
	"fmt"
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

// benchEvent is the same realistic event as the SQLite benchmarks use.
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

func runSustained(b *testing.B, mode audit.Mode, writers int) {
	cs := &countingSink{Sink: open(b, newSchema(b))}
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

// BenchmarkPostgresAsync: one writer, Async mode.
func BenchmarkPostgresAsync(b *testing.B) { runSustained(b, audit.Async, 1) }

// BenchmarkPostgresSync64: 64 concurrent writers, Sync mode, group commit.
func BenchmarkPostgresSync64(b *testing.B) { runSustained(b, audit.Sync, 64) }

// BenchmarkPostgresSync1: one writer, Sync mode: a commit per event.
func BenchmarkPostgresSync1(b *testing.B) { runSustained(b, audit.Sync, 1) }
