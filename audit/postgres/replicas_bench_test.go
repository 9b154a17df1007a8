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

// BenchmarkPostgresThreeReplicas: three recorders (three replicas, three
// chains, each with its own connection pool) write into one schema, Sync
// mode, 64 writers spread over them: the rows per second PostgreSQL takes
// from a three-replica deployment. `audit verify` covers the three chains.
func BenchmarkPostgresThreeReplicas(b *testing.B) {
	schema := newSchema(b)
	key := audittest.Key(b)
	var recs []*audit.Recorder
	for i := range 3 {
		r, err := audit.NewRecorder(audit.Config{Sink: open(b, schema), Mode: audit.Sync, Replica: fmt.Sprint("replica-", i), Signer: key})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism((64 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			if err := recs[i%3].Record(ctx, benchEvent(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for _, r := range recs {
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	rep, err := audit.Verify(ctx, open(b, schema), key.Public())
	if err != nil {
		b.Fatalf("verify across the three chains: %v", err)
	}
	if rep.Events != int64(b.N) || (b.N >= 3 && len(rep.Chains) != 3) {
		b.Fatalf("verify: %d chains, %d events; want 3 and %d", len(rep.Chains), rep.Events, b.N)
	}
}
