package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gatehouse-dev/gatehouse/internal/requestid"
)

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(requestid.With(context.Background(), "req-1"), "request")
	defer span.End()
	tid := span.SpanContext().TraceID().String()

	line := func(f func()) map[string]any {
		t.Helper()
		buf.Reset()
		f()
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, buf.String())
		}
		return m
	}
	if m := line(func() { log.InfoContext(ctx, "refused", "status", 401) }); m["request_id"] != "req-1" || m["trace_id"] != tid {
		t.Errorf("a request's line: %v; want its request and trace ids", m)
	}
	if m := line(func() { log.InfoContext(ctx, "refused", "request_id", "explicit") }); m["request_id"] != "explicit" || m["trace_id"] != tid {
		t.Errorf("a line naming its request: %v; want it kept, and the trace id added", m)
	}
	if m := line(func() { log.With("part", "x").WarnContext(requestid.With(context.Background(), "req-2"), "no span") }); m["request_id"] != "req-2" || m["trace_id"] != nil {
		t.Errorf("without a span: %v; want the request id only", m)
	}
	if m := line(func() { log.Info("not a request's") }); m["request_id"] != nil || m["trace_id"] != nil {
		t.Errorf("no context: %v; want nothing added", m)
	}
}
