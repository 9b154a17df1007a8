package cli

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/telemetry"
)

// startTracing builds the tracing of f's telemetry section (nil when it is
// off) and says where spans go.
func startTracing(ctx context.Context, f *config.File, opts build.Options, e *env) (*telemetry.Tracing, error) {
	t, err := build.Tracing(ctx, f, opts, buildVersion())
	if err != nil || t == nil {
		return nil, err
	}
	tr := &f.Telemetry.Tracing
	e.log.Info("tracing requests", "exporter", tr.Exporter, "endpoint", tr.Endpoint, "sample_ratio", tr.Ratio(), "trust_incoming", tr.TrustIncoming)
	return t, nil
}

// stopTracing exports what is queued, for at most five seconds.
func stopTracing(t *telemetry.Tracing, e *env) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(ctx); err != nil {
		e.log.Warn("tracing: spans still queued at exit were not exported", "err", err)
	}
}
