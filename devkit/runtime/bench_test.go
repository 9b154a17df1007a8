package runtime

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// benchHost is a Host logging JSON to nowhere, as a real one logs.
func benchHost(b *testing.B, fns ...Function) *Host {
	b.Helper()
	h, err := New(Config{Functions: fns, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return h
}

// reportPercentiles reports the 50th and 99th percentiles of lat in unit.
func reportPercentiles(b *testing.B, lat []time.Duration, unit time.Duration, name string) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(unit) }
	b.ReportMetric(at(0.50), "p50-"+name)
	b.ReportMetric(at(0.99), "p99-"+name)
}

// BenchmarkWarmInvoke measures the latency of invoking a warm instance of a
// function that does nothing, in process (Host.Invoke), through the Runtime
// API: the event answered to the runtime's GET /next, its POST /response
// read, the result returned. Run it with -benchtime=10000x for the figures
// in docs/benchmarks.md.
//
// idle: each call finds the instance waiting in GET /next, as calls that
// are not back to back do. back-to-back: each call starts as the previous
// returns, so it also waits for the runtime to ask for the next event.
//
// The function is aws-lambda-go's lambda.Start(func() {}); runtime=stdlib
// is a minimal runtime written with net/http alone (testdata/rawfn), for
// reference: the difference is the runtime library's own cost.
func BenchmarkWarmInvoke(b *testing.B) {
	for _, tc := range []struct {
		name string
		idle bool
		exe  string
		want string
	}{
		{"idle", true, bin.empty, "null"},
		{"back-to-back", false, bin.empty, "null"},
		{"idle/runtime=stdlib", true, bin.rawfn, `{"version":"v1"}`},
		{"back-to-back/runtime=stdlib", false, bin.rawfn, `{"version":"v1"}`},
	} {
		idle := tc.idle
		b.Run(tc.name, func(b *testing.B) {
			h := benchHost(b, Function{Name: "empty", Executable: tc.exe, Concurrency: 1})
			f := h.funcs["empty"]
			ctx := context.Background()
			payload := []byte(`{}`)
			for range 100 { // start the instance, warm the connections
				if res, err := h.Invoke(ctx, "empty", payload, InvokeOptions{}); err != nil || res.FunctionError != "" {
					b.Fatalf("warm-up: %v %v", err, res)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				if idle {
					b.StopTimer()
					waitIdle(f)
					b.StartTimer()
				}
				start := time.Now()
				res, err := h.Invoke(ctx, "empty", payload, InvokeOptions{})
				lat = append(lat, time.Since(start))
				if err != nil || res.FunctionError != "" || string(res.Payload) != tc.want {
					b.Fatalf("Invoke: %v %v", err, res)
				}
			}
			reportPercentiles(b, lat, time.Microsecond, "µs")
		})
	}
}

// waitIdle paces the idle benchmark: it returns once an instance of f
// waits in GET /next. It polls, outside the timed section.
func waitIdle(f *function) {
	for {
		f.mu.Lock()
		n := len(f.idle)
		f.mu.Unlock()
		if n > 0 {
			return
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// BenchmarkColdStart measures process start to first response: a new host
// invokes the example function once (spawn, init until its first GET /next,
// the invocation). Run it with -benchtime=50x.
func BenchmarkColdStart(b *testing.B) {
	for _, tc := range []struct {
		name, exe string
		payload   []byte
	}{
		{"echo", bin.echo, []byte(`{"version":"2.0","body":"{\"message\":\"hi\"}"}`)},
		{"whoami", bin.whoami, []byte(`{"version":"2.0"}`)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var lat []time.Duration
			for b.Loop() {
				h, err := New(Config{Functions: []Function{{Name: tc.name, Executable: tc.exe}}, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				res, err := h.Invoke(ctx, tc.name, tc.payload, InvokeOptions{})
				lat = append(lat, time.Since(start))
				if err != nil || res.FunctionError != "" {
					b.Fatalf("Invoke: %v %v", err, res)
				}
				_ = h.Close()
			}
			reportPercentiles(b, lat, time.Millisecond, "ms")
		})
	}
}
