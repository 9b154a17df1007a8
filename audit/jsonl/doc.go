// Package jsonl writes the audit trail as JSON lines, for log pipelines, and
// reads such a file back for audit.Verify and queries.
//
// In: chained events and checkpoints from an audit.Recorder. Out: one line
// per event, exactly its JSON in the documented schema (audit.Event
// MarshalJSON, hash included), and one line per checkpoint,
// {"checkpoint":{...}}. Every string in an event is JSON-escaped and cleaned
// by the Recorder, so a value cannot start a line of its own.
//
// New returns the append-only writer: Query, Scan, Checkpoints and
// DeleteThrough return audit.ErrUnsupported, so retention belongs to the
// pipeline. Load and ReadFile return a read-only File over such a stream,
// which supports Query, Scan (positions are line numbers) and Checkpoints,
// so a captured stream or an Export can be verified. Every non-blank line
// of a file must be an event or a checkpoint: keep other logs apart (slog
// to stderr, say).
//
// Export writes any sink's events and checkpoints in this format, keeping
// the stored bytes, so Verify on the export finds what it finds on the
// store.
package jsonl
