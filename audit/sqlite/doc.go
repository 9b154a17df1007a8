// Package sqlite is the embedded audit.Sink: one SQLite file (pure Go,
// modernc.org/sqlite), in WAL mode with synchronous=FULL, so a committed
// event survives a crash or power loss.
//
// In: batches of chained events from an audit.Recorder, whose single writer
// goroutine groups concurrent Records into one transaction (group commit);
// this sink keeps one writing connection and a busy timeout for other
// processes (gatehouse audit query, verify). Out: Query with bound
// parameters only, Scan and Checkpoints for audit.Verify, DeleteThrough for
// audit.Prune.
//
// Table audit_events stores each event's canonical JSON (data) and hash;
// the columns used for filtering (chain, seq, time, tenant, principal,
// route, decision, ...) are generated from data, so they cannot be edited
// apart from what the hash covers. A unique index on (chain, seq) refuses a
// second event at one place of a chain. An index per decision in time
// order (audit_events_decision) holds what the auditor's view filters and
// groups on, so the sink's audit.Browser pages by keyset and counts from
// the index alone; a gateway adds it to a file made before it existed as
// it opens the file. Table audit_checkpoints holds the signed checkpoints.
// PRAGMA user_version holds the schema version.
//
// Left to others: chaining, signing and retention policy (audit).
package sqlite
