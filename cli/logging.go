package cli

import (
	"io"
	"log/slog"

	"github.com/mattn/go-isatty"

	"github.com/gatehouse-dev/gatehouse/telemetry"
)

// Values of --log-format.
const (
	logAuto = "auto"
	logText = "text"
	logJSON = "json"
)

// newLogger logs to w as format says: auto is text when w is a terminal
// (a person reads it), JSON otherwise (a log collector does).
func newLogger(format string, w io.Writer, isTerminal func(io.Writer) bool) *slog.Logger {
	if format == logAuto || format == "" {
		format = logJSON
		if isTerminal(w) {
			format = logText
		}
	}
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	// Each line of a request names its request id and trace id.
	if format == logText {
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts)))
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
