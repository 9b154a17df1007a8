// Package audit remembers every request: one Event per request, whatever its
// outcome, chained and signed so that an edited, deleted, inserted or
// reordered record is found.
//
// In: an Event filled by an entry point (plain data: this package imports no
// other gatehouse package), with the principal already pseudonymised
// (Pseudonymizer; PseudonymKeys when the key rotates, so that each event
// records the id of the key that made its pseudonym) and claims already
// filtered (SanitizeClaims). Out: the event stored in a Sink by a
// Recorder, which cleans every string (no control, bidi or invalid UTF-8
// characters; bounded lengths), gives it an id, a sequence number in the
// writer's chain and a hash linking it to the previous event, and
// periodically stores a Checkpoint signed with the
// configured key. Verify checks a store against those links and signatures
// and names the first bad position; Prune deletes old events while keeping
// the checkpoint that anchors what remains. A store that is also a Browser
// pages through a large trail by keyset and counts decisions from its
// indexes, for the auditor's view.
//
// Durability is chosen per Recorder: Sync (Record returns once the event is
// committed; concurrent Records share one transaction) or Async (queued,
// with a bounded loss window). When the sink is down it fails closed
// (ErrUnavailable: the gateway answers 503) or spools to a local file that
// is replayed in order.
//
// Left to others: the sinks themselves (audit/sqlite, audit/postgres,
// audit/jsonl), what an entry point puts in an event, where the keys come
// from, and when Prune runs. docs/audit.md documents the schema and the
// guarantees.
package audit
