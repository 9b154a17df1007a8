package authn

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// A verification that fetches keys within a traced request gets a "jwks
// fetch" child span naming the issuer and the keys it found; a failed fetch
// says so without the error's text. Untraced, nothing is started.
func TestKeyFetchSpan(t *testing.T) {
	ks := newKeyServer(t)
	k1, _, _ := testKeys(t)
	ks.addKey("k1", k1, "RS256")
	clock := testkit.NewClock(testStart)
	v := ks.verifier(t, clock)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	ctx, step := tp.Tracer("test").Start(context.Background(), "authn")
	tok := sign(t, hdr("RS256", "k1"), mustJSON(t, entraClaims(ks.issuer(), clock.Now())), "RS256", k1)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	step.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "jwks fetch" || spans[0].Parent.SpanID() != step.SpanContext().SpanID() {
		t.Fatalf("spans %v; want a jwks fetch under the authn step", spanNames(spans))
	}
	got := map[string]string{}
	for _, a := range spans[0].Attributes {
		got[string(a.Key)] = a.Value.String()
	}
	if got["gatehouse.issuer"] != "test" || got["gatehouse.keys"] != "1" {
		t.Errorf("jwks fetch attributes %v", got)
	}

	// A fetch that fails: the class, not the message.
	exp.Reset()
	ks.down.Store(true)
	v2 := ks.verifier(t, clock)
	ctx, step = tp.Tracer("test").Start(context.Background(), "authn")
	if _, err := v2.Verify(ctx, tok); err == nil {
		t.Fatal("verified with the keys down")
	}
	step.End()
	spans = exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "jwks fetch" {
		t.Fatalf("spans %v", spanNames(spans))
	}
	for _, a := range spans[0].Attributes {
		if strings.Contains(a.Value.String(), "http") {
			t.Errorf("attribute %s = %s names a URL", a.Key, a.Value.String())
		}
	}
	if spans[0].Status.Description != "" || len(spans[0].Events) != 0 {
		t.Errorf("failed fetch: status %q, events %v; want no message", spans[0].Status.Description, spans[0].Events)
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
