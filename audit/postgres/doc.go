// Package postgres is the audit.Sink for fleets: many gateways write one
// PostgreSQL store (pgx), each Recorder in its own chain, one transaction
// per batch (COPY), with synchronous commit as the server has it (on by
// default).
//
// In: batches of chained events from an audit.Recorder. Out: Query with
// bound parameters only, Scan (one repeatable-read snapshot) and
// Checkpoints for audit.Verify, DeleteThrough for audit.Prune.
//
// Table audit_events stores each event's canonical JSON as text (data,
// byte for byte, which jsonb would not keep) and its hash; doc, the same
// JSON as jsonb, is a generated column, parsed once per row, that queries
// and indexes read (doc ->> 'principal', ...), so nothing a query filters on
// can be edited apart from what the hash covers. pos is an identity column
// that only grows. A unique index on (doc ->> 'chain', seq) refuses a
// second event at one place of a chain. An index per decision in time
// order (audit_events_decision) serves the sink's audit.Browser, for the
// auditor's view; a store made before it existed is browsed without it,
// more slowly, until it is created (docs/audit.md gives the statement).
// Table audit_checkpoints holds the signed checkpoints, and
// audit_schema the schema version. Open creates them, under an advisory
// lock so that gateways starting together do not race.
//
// Left to others: chaining, signing and retention policy (audit).
package postgres
