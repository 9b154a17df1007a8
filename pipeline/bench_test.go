package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/authz"
)

// discardRecorder takes every event and keeps none.
type discardRecorder struct{}

func (discardRecorder) Record(context.Context, *audit.Event) error { return nil }

// discardExporter takes every batch of spans and keeps none.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkRunTracing is one request through the pipeline as a front door
// runs it (Trace, Run with credentials and a target that does nothing,
// Annotate, End), with fake steps, so what it measures is the pipeline and
// its tracing: off, and on with 1% and 100% of requests sampled, through the
// SDK's batch processor to an exporter that discards the spans.
func BenchmarkRunTracing(b *testing.B) {
	pseudo, _ := audit.NewPseudonymizer([]byte(strings.Repeat("k", 32)))
	req := Request{ID: "req-1", Route: "whoami", Token: "t", Action: "invoke", Resource: authz.Resource{Kind: "function", Name: "whoami"}}
	target := func(ctx context.Context, c *Call) (int, error) {
		if _, err := c.Credentials(ctx); err != nil {
			return 0, err
		}
		c.Invoked("whoami", "lambda-1")
		return 200, nil
	}
	for _, tc := range []struct {
		name  string
		ratio float64
		off   bool
	}{{name: "off", off: true}, {name: "sampled=1%", ratio: 0.01}, {name: "sampled=100%", ratio: 1}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Config{Verifier: fakeVerifier{p: named}, Policy: fakePolicy{allow: true}, Broker: &fakeBroker{}, Recorder: discardRecorder{},
				Pseudonym: pseudo.Principal, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
			if !tc.off {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discardExporter{}),
					sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tc.ratio))))
				b.Cleanup(func() { tp.Shutdown(context.Background()) })
				cfg.Tracer = tp
			}
			pl, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			carrier := propagation.MapCarrier{}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					var span trace.Span = noSpan
					ctx := context.Background()
					if pl.Tracing() {
						ctx, span = pl.Trace(ctx, "GET /whoami", carrier)
					}
					out := pl.Run(ctx, req, target)
					out.Call.Annotate(span, out.Status)
					span.End()
				}
			})
		})
	}
}
