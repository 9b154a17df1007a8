package audit

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Browser is what a store offers a reader who pages through a large trail
// (the auditor's view): one page of events at a time by keyset, an event
// by its position, and counts for charts, each answered from indexes
// within the Filter's time window rather than by reading the whole trail.
// The SQLite and PostgreSQL sinks implement it; ScanBrowser implements it
// over any sink that can Scan, reading everything (a captured JSON-lines
// file).
//
// Every method takes a Filter as Query does (Principals, Tenant, Agent,
// Route, Role, Decision, Since, Until), ignoring Limit and Newest. A
// Browser does not bound the window: its caller does, since the cost of
// Histogram and TopDenied grows with the events in it.
type Browser interface {
	// Page returns at most limit events that match f, newest first (by
	// time, then position), strictly after the cursor in that order: the
	// zero Cursor starts at the newest. The next page starts at the
	// Cursor of the last entry returned.
	Page(ctx context.Context, f Filter, after Cursor, limit int) ([]Entry, error)

	// Entry returns the event stored at pos, or nil if there is none.
	Entry(ctx context.Context, pos int64) (*Entry, error)

	// ChainEntry returns the event at seq in chain, or nil if there is
	// none.
	ChainEntry(ctx context.Context, chain string, seq int64) (*Entry, error)

	// Histogram counts the events that match f by decision in each bucket
	// [edges[i], edges[i+1]); f.Since and f.Until narrow them further. It
	// returns len(edges)-1 counts (none for fewer than two edges).
	Histogram(ctx context.Context, f Filter, edges []time.Time) ([]DecisionCounts, error)

	// TopDenied returns the principals and the agents with the most denied
	// events that match f, at most n of each, most denied first (ties by
	// key). An event's agent is its acting one, the first link of its
	// chain, named by its App, or by its Subject when it has no App.
	TopDenied(ctx context.Context, f Filter, n int) (*Top, error)
}

// Entry is an event with its place in the store.
type Entry struct {
	// Pos is the event's position, as Row.Pos.
	Pos int64
	// Event is the stored event, with Hash set; zero if it does not decode.
	Event Event
	// Err says why the stored data does not decode (Verify reports such a
	// row as edited); nil when Event is set.
	Err error
}

// Cursor is a place in Page's order: the time and position of an entry.
type Cursor struct {
	Time time.Time
	Pos  int64
}

// IsZero reports whether c is the start, before the newest event.
func (c Cursor) IsZero() bool { return c.Pos == 0 && c.Time.IsZero() }

// Cursor returns the place of e, to continue a Page after it.
func (e *Entry) Cursor() Cursor { return Cursor{Time: e.Event.Time, Pos: e.Pos} }

// before reports whether e comes after c in Page's order (newest first):
// it is older, or as old and stored earlier.
func (c Cursor) before(t time.Time, pos int64) bool {
	if c.IsZero() {
		return true
	}
	ct, et := FormatTime(c.Time), FormatTime(t)
	return et < ct || et == ct && pos < c.Pos
}

// DecisionCounts counts events by decision.
type DecisionCounts struct {
	Allow, Deny, Error int64
}

// Total is the number of events counted.
func (d DecisionCounts) Total() int64 { return d.Allow + d.Deny + d.Error }

// Add counts n events with decision; other decisions are not counted.
func (d *DecisionCounts) Add(decision string, n int64) {
	switch decision {
	case DecisionAllow:
		d.Allow += n
	case DecisionDeny:
		d.Deny += n
	case DecisionError:
		d.Error += n
	}
}

// Top is what TopDenied returns.
type Top struct {
	Principals []Count // pseudonyms
	Agents     []Count // acting agents: app ids, or subjects without an app
}

// Count is how many events a key (a pseudonym, an agent) has.
type Count struct {
	Key string
	N   int64
}

// ActingAgent is the key TopDenied groups agents by: the first link's App,
// else its Subject; "" without agents.
func (e *Event) ActingAgent() string {
	if len(e.Agents) == 0 {
		return ""
	}
	return cmp.Or(e.Agents[0].App, e.Agents[0].Subject)
}

// TopCounts sorts counts, most first (ties by key), and keeps n.
func TopCounts(m map[string]int64, n int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.Key, b.Key)) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// MergePages merges pages that are each in Page's order (newest first)
// into one, keeping limit entries: the SQL sinks read one sub-page per
// decision or per pseudonym from an index and merge them.
func MergePages(limit int, pages ...[]Entry) []Entry {
	var out []Entry
	for _, p := range pages {
		out = append(out, p...)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(FormatTime(b.Event.Time), FormatTime(a.Event.Time)), cmp.Compare(b.Pos, a.Pos))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// ScanBrowser is a Browser over any sink that can Scan: each call reads
// the whole trail and filters it in memory (Filter.Match). It suits a
// captured file, not a large store; it is also what the conformance suite
// holds the SQL sinks' Browsers to.
type ScanBrowser struct{ Sink Sink }

var _ Browser = ScanBrowser{}

// scan calls fn for each event that decodes and matches f, and for each
// that does not decode when f matches everything.
func (b ScanBrowser) scan(ctx context.Context, f Filter, fn func(Entry)) error {
	return b.Sink.Scan(ctx, func(row Row) error {
		en := decodeRow(row)
		if en.Err != nil || f.Match(&en.Event) {
			fn(en)
		}
		return nil
	})
}

func decodeRow(row Row) Entry {
	var e Event
	if err := e.UnmarshalJSON(row.Data); err != nil {
		return Entry{Pos: row.Pos, Err: err}
	}
	if row.Hash != "" {
		e.Hash = row.Hash
	}
	return Entry{Pos: row.Pos, Event: e}
}

// Page filters every event.
func (b ScanBrowser) Page(ctx context.Context, f Filter, after Cursor, limit int) ([]Entry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var all []Entry
	err := b.scan(ctx, f, func(en Entry) {
		if en.Err == nil && after.before(en.Event.Time, en.Pos) {
			all = append(all, en)
		}
	})
	return MergePages(limit, all), err
}

// Entry scans for pos.
func (b ScanBrowser) Entry(ctx context.Context, pos int64) (*Entry, error) {
	var found *Entry
	err := b.Sink.Scan(ctx, func(row Row) error {
		if row.Pos == pos {
			en := decodeRow(row)
			found = &en
		}
		return nil
	})
	return found, err
}

// ChainEntry scans for chain and seq.
func (b ScanBrowser) ChainEntry(ctx context.Context, chain string, seq int64) (*Entry, error) {
	var found *Entry
	err := b.scan(ctx, Filter{}, func(en Entry) {
		if en.Err == nil && en.Event.Chain == chain && en.Event.Seq == seq && found == nil {
			found = &en
		}
	})
	return found, err
}

// Histogram counts every matching event into its bucket.
func (b ScanBrowser) Histogram(ctx context.Context, f Filter, edges []time.Time) ([]DecisionCounts, error) {
	if len(edges) < 2 {
		return nil, nil
	}
	out := make([]DecisionCounts, len(edges)-1)
	bounds := make([]string, len(edges))
	for i, t := range edges {
		bounds[i] = FilterTime(t)
	}
	err := b.scan(ctx, f, func(en Entry) {
		if en.Err != nil {
			return
		}
		t := FormatTime(en.Event.Time)
		// The bucket whose lower edge is the last one at or before t.
		i, found := slices.BinarySearch(bounds, t)
		if !found {
			i--
		}
		if i >= 0 && i < len(out) {
			out[i].Add(en.Event.Decision, 1)
		}
	})
	return out, err
}

// TopDenied counts every matching denied event.
func (b ScanBrowser) TopDenied(ctx context.Context, f Filter, n int) (*Top, error) {
	principals, agents := map[string]int64{}, map[string]int64{}
	err := b.scan(ctx, f, func(en Entry) {
		if en.Err != nil || en.Event.Decision != DecisionDeny {
			return
		}
		if p := en.Event.Principal; p != "" {
			principals[p]++
		}
		if a := en.Event.ActingAgent(); a != "" {
			agents[a]++
		}
	})
	return &Top{Principals: TopCounts(principals, n), Agents: TopCounts(agents, n)}, err
}

// Storable reports whether a stored string can equal s: the Recorder
// cleans every string it stores (see Filter.Unmatchable), so a lookup by a
// value that is not storable finds nothing, and the SQL sinks answer it
// without binding the value.
func Storable(s string) bool { return clean(s, MaxFieldBytes) == s }

// ReadEntries decodes query rows of (pos, data, hash) into entries, for
// the SQL sinks' Browsers: a row whose data does not decode becomes an
// entry with Err set. The caller closes rows.
func ReadEntries(rows StoredRows) ([]Entry, error) {
	var out []Entry
	for rows.Next() {
		var row Row
		var data string
		if err := rows.Scan(&row.Pos, &data, &row.Hash); err != nil {
			return nil, err
		}
		row.Data = []byte(data)
		out = append(out, decodeRow(row))
	}
	return out, rows.Err()
}
