package lambdaconfig_test

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/lambdaconfig"
)

// telemetry.tracing gives the Guard a tracer (and the trust setting);
// without it there is none.
func TestTracingFromTheFile(t *testing.T) {
	const iss = "https://idp.example"
	off, err := lambdaconfig.Load(context.Background(), fileFor(t, iss, ""), lambdaconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if off.Tracer != nil || off.TrustIncoming {
		t.Errorf("no telemetry section: tracer %v, trust %v", off.Tracer, off.TrustIncoming)
	}
	on, err := lambdaconfig.Load(context.Background(), fileFor(t, iss, `telemetry:
  tracing:
    exporter: otlp_http
    endpoint: http://127.0.0.1:4318
    trust_incoming: true
`), lambdaconfig.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if on.Tracer == nil || !on.TrustIncoming {
		t.Errorf("telemetry.tracing: tracer %v, trust %v; want a tracer that trusts callers", on.Tracer, on.TrustIncoming)
	}
}
