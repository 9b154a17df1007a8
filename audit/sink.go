package audit

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Sink stores events and checkpoints. The Recorder is its only writer in a
// process (one goroutine, batches in chain order); Verify, Query and Prune
// read it. A sink that cannot do something (the JSON-lines writer cannot
// query) returns an error wrapping ErrUnsupported.
//
// audittest.Run is the conformance suite every Sink passes.
type Sink interface {
	// Append stores events atomically and in order: after an error none of
	// them is stored (or, for a plain stream, the stream is broken). The
	// events carry their chain fields; a store keeps Canonical() and Hash,
	// with position order following slice order, and refuses an event whose
	// (Chain, Seq) it already holds.
	Append(ctx context.Context, events []Event) error

	// AddCheckpoint stores a signed checkpoint.
	AddCheckpoint(ctx context.Context, cp Checkpoint) error

	// Query returns the events that match f, ordered by time then position
	// (newest first if f.Newest), at most f.Limit of them when it is
	// positive, with chain fields and Hash set. Filter values are bound as
	// query parameters, never built into query text.
	Query(ctx context.Context, f Filter) ([]Event, error)

	// Scan calls fn for every stored event in position (append) order,
	// stopping at the first error, which it returns.
	Scan(ctx context.Context, fn func(Row) error) error

	// Checkpoints returns all stored checkpoints, in storage order.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)

	// DeleteThrough deletes chain's events with Seq <= seq, and its
	// checkpoints with Seq < seq, in one transaction, and returns how many
	// events it deleted. Prune calls it with the sequence number of a
	// checkpoint, which stays to anchor what remains.
	DeleteThrough(ctx context.Context, chain string, seq int64) (int64, error)

	// Close releases the sink. It may be called after a failed open step
	// and more than once.
	Close() error
}

// Row is an event as a sink stored it, for Verify.
type Row struct {
	// Pos is the event's position: a row id that only grows in append
	// order (SQL sinks), or a line number (a JSON-lines file).
	Pos int64
	// Data is the stored JSON: Canonical() with Hash in its own column, or
	// MarshalJSON() (hash inside) with Hash "".
	Data []byte
	// Hash is the stored hash when it is kept apart from Data.
	Hash string
}

// Filter selects events for Query. Zero fields match everything.
type Filter struct {
	// Principals are pseudonyms, as Pseudonymizer.Principal returns them:
	// an event matches if its principal is any of them (an event without a
	// principal matches none). One subject has one pseudonym per key
	// (PseudonymKeys.Principals), so finding its events across key
	// rotations takes several. Empty matches every event.
	Principals []string
	Tenant     string    // tenant id
	Agent      string    // matches any link of the agent chain, by Subject or App
	Route      string    // route name
	Role       string    // the logical role granted
	Decision   string    // allow, deny or error
	Since      time.Time // events at or after Since
	Until      time.Time // events before Until
	Limit      int       // at most this many events; 0 means no limit
	Newest     bool      // newest first, so Limit keeps the most recent events
}

// MatchablePrincipals returns the Principals a stored event can hold, each
// once, in order: a value that cleaning would change (see Unmatchable) is
// left out, since no stored principal equals it. The SQL sinks bind these.
func (f *Filter) MatchablePrincipals() []string {
	var out []string
	for _, p := range f.Principals {
		if p != "" && clean(p, MaxFieldBytes) == p && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Match reports whether e passes f; sinks that filter in memory use it, and
// it defines what the SQL sinks' queries compute.
func (f *Filter) Match(e *Event) bool {
	if len(f.Principals) > 0 && (e.Principal == "" || !slices.Contains(f.Principals, e.Principal)) ||
		f.Tenant != "" && e.Tenant != f.Tenant ||
		f.Route != "" && e.Route != f.Route ||
		f.Role != "" && e.Role != f.Role ||
		f.Decision != "" && e.Decision != f.Decision {
		return false
	}
	if !f.Since.IsZero() && FormatTime(e.Time) < FilterTime(f.Since) ||
		!f.Until.IsZero() && FormatTime(e.Time) >= FilterTime(f.Until) {
		return false
	}
	if f.Agent != "" {
		for _, a := range e.Agents {
			if a.Subject == f.Agent || a.App == f.Agent {
				return true
			}
		}
		return false
	}
	return true
}

// Unmatchable reports whether a string in f is one no stored event holds:
// the Recorder stores every string cleaned (valid UTF-8, no control or
// format characters, bounded length), so such a filter matches nothing.
// For Principals that is every one of them (MatchablePrincipals is empty).
// SQL sinks answer it without asking the database, where a NUL byte or
// invalid UTF-8 in a parameter is an error rather than a miss.
func (f *Filter) Unmatchable() bool {
	for _, v := range []string{f.Tenant, f.Agent, f.Route, f.Role, f.Decision} {
		if clean(v, MaxFieldBytes) != v {
			return true
		}
	}
	return len(f.Principals) > 0 && len(f.MatchablePrincipals()) == 0
}

// FilterTime formats a Filter's Since or Until for comparison with stored
// times (TimeLayout): rounded up to the microsecond, so that Since stays
// inclusive and Until exclusive at the stored precision.
func FilterTime(t time.Time) string {
	if r := t.Truncate(time.Microsecond); r.Before(t) {
		t = r.Add(time.Microsecond)
	}
	return FormatTime(t)
}

// StoredRows is what SQL sinks' query results offer (database/sql's *Rows
// and pgx's Rows both do): rows of (pos, data, hash).
type StoredRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ReadEvents decodes query rows of (pos, data, hash) into events, for the
// SQL sinks. The caller closes rows.
func ReadEvents(rows StoredRows) ([]Event, error) {
	var out []Event
	for rows.Next() {
		var pos int64
		var data, hash string
		if err := rows.Scan(&pos, &data, &hash); err != nil {
			return nil, err
		}
		var e Event
		if err := e.UnmarshalJSON([]byte(data)); err != nil {
			return nil, fmt.Errorf("event at position %d: %w", pos, err)
		}
		e.Hash = hash
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadCheckpoints decodes query rows of (chain, seq, hash, time, final,
// key_id, sig) into checkpoints, for the SQL sinks. The caller closes rows.
func ReadCheckpoints(rows StoredRows) ([]Checkpoint, error) {
	var out []Checkpoint
	for rows.Next() {
		var cp Checkpoint
		var t string
		if err := rows.Scan(&cp.Chain, &cp.Seq, &cp.Hash, &t, &cp.Final, &cp.KeyID, &cp.Sig); err != nil {
			return nil, err
		}
		var err error
		if cp.Time, err = time.Parse(TimeLayout, t); err != nil {
			return nil, fmt.Errorf("checkpoint time %q: %w", t, err)
		}
		out = append(out, cp)
	}
	return out, rows.Err()
}
