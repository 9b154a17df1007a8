package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/requestid"
)

// Log attribute keys LogHandler adds.
const (
	LogRequestID = "request_id"
	LogTraceID   = "trace_id"
)

// LogHandler wraps h: each record logged with a context that carries a
// request id (internal/requestid) or a span gets request_id and trace_id,
// unless the record names them already. A record logged without a context
// (slog's non-Context methods) passes unchanged.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(*logHandler); ok {
		return h
	}
	return &logHandler{h: h}
}

type logHandler struct{ h slog.Handler }

func (l *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *logHandler) Handle(ctx context.Context, r slog.Record) error {
	id := requestid.From(ctx)
	sc := trace.SpanContextFromContext(ctx)
	if id == "" && !sc.IsValid() {
		return l.h.Handle(ctx, r)
	}
	hasID, hasTrace := false, false
	r.Attrs(func(a slog.Attr) bool {
		hasID = hasID || a.Key == LogRequestID
		hasTrace = hasTrace || a.Key == LogTraceID
		return true
	})
	if id != "" && !hasID || sc.IsValid() && !hasTrace {
		r = r.Clone()
		if id != "" && !hasID {
			r.AddAttrs(slog.String(LogRequestID, id))
		}
		if sc.IsValid() && !hasTrace {
			r.AddAttrs(slog.String(LogTraceID, sc.TraceID().String()))
		}
	}
	return l.h.Handle(ctx, r)
}

// Unwrap returns the handler LogHandler wrapped.
func (l *logHandler) Unwrap() slog.Handler { return l.h }

func (l *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{h: l.h.WithAttrs(attrs)}
}

func (l *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{h: l.h.WithGroup(name)}
}
