// Package audittest is the conformance suite every audit.Sink runs:
// audittest.Run(t, newSink). It writes through a real audit.Recorder and
// checks append order, query and every filter, injection-proof storage,
// Verify (also of a trail written before events recorded their pseudonym
// key), a pseudonym key rotation under concurrent writers, retention
// (audit.Prune) and, where the sink's test wrapper can change stored rows
// behind its back (Tamperer), that Verify finds each kind of tampering at
// the right position.
//
// A sink that cannot query, scan or delete (a plain stream, a read-back
// file) returns audit.ErrUnsupported there, and the suite checks only what
// it supports: the probes are Query, Scan and DeleteThrough on an empty sink.
package audittest

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/audit"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Tamperer is implemented by a sink's test wrapper that changes stored data
// with raw access (SQL), bypassing the sink, as an attacker with write access
// to the store would.
type Tamperer interface {
	// SetRow replaces the stored data and hash of the event at pos.
	SetRow(ctx context.Context, pos int64, data []byte, hash string) error
	// DeleteRow deletes the event at pos.
	DeleteRow(ctx context.Context, pos int64) error
	// InsertRow stores a new event row after all others and returns its pos.
	InsertRow(ctx context.Context, data []byte, hash string) (int64, error)
	// SetCheckpointHash changes the hash of chain's checkpoints at seq.
	SetCheckpointHash(ctx context.Context, chain string, seq int64, hash string) error
}

// Clock is a settable clock for Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// T0 is the time the suite's events start at.
var T0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Key returns a new Ed25519 checkpoint signing key.
func Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type suite struct {
	newSink   func(t *testing.T) audit.Sink
	key       ed25519.PrivateKey
	queryable bool
	scannable bool
	deletable bool // a store with DeleteThrough and a unique (chain, seq)
}

// Run runs the conformance suite. newSink returns a new, empty sink and
// registers its cleanup with t; it may also implement Tamperer.
func Run(t *testing.T, newSink func(t *testing.T) audit.Sink) {
	s := &suite{newSink: newSink, key: Key(t)}
	probe := newSink(t)
	_, err := probe.Query(t.Context(), audit.Filter{Limit: 1})
	s.queryable = !errors.Is(err, audit.ErrUnsupported)
	if s.queryable && err != nil {
		t.Fatalf("Query on an empty sink: %v", err)
	}
	err = probe.Scan(t.Context(), func(audit.Row) error { return nil })
	s.scannable = !errors.Is(err, audit.ErrUnsupported)
	if s.scannable && err != nil {
		t.Fatalf("Scan on an empty sink: %v", err)
	}

	_, err = probe.DeleteThrough(t.Context(), "audittest/probe", 0)
	s.deletable = !errors.Is(err, audit.ErrUnsupported)
	if s.deletable && err != nil {
		t.Fatalf("DeleteThrough on an empty sink: %v", err)
	}

	t.Run("AppendQuery", s.appendQuery)
	t.Run("Filters", s.filters)
	t.Run("Injection", s.injection)
	t.Run("AtomicBatch", s.atomicBatch)
	t.Run("Verify", s.verify)
	t.Run("ConcurrentWriters", s.concurrentWriters)
	t.Run("LargeBatches", s.largeBatches)
	t.Run("Retention", s.retention)
	t.Run("Tamper", s.tamper)
	t.Run("OldFormat", s.oldFormat)
	t.Run("KeyRotation", s.keyRotation)
	t.Run("Browse", s.browse)
	t.Run("Unsupported", s.unsupported)
}

func (s *suite) needQuery(t *testing.T) {
	if !s.queryable {
		t.Skip("the sink cannot query")
	}
}

func (s *suite) needStore(t *testing.T) {
	if !s.deletable {
		t.Skip("the sink cannot delete (a stream or a file)")
	}
}

func (s *suite) needScan(t *testing.T) {
	if !s.scannable {
		t.Skip("the sink cannot scan")
	}
}

func (s *suite) recorder(t *testing.T, sink audit.Sink, clock *Clock, every int) *audit.Recorder {
	t.Helper()
	r, err := audit.NewRecorder(audit.Config{
		Sink: sink, Mode: audit.Sync, Replica: "suite", Signer: s.key,
		CheckpointEvery: every, CheckpointInterval: time.Hour, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// event returns the i-th sample event.
func event(i int) *audit.Event {
	return &audit.Event{
		Time:          T0.Add(time.Duration(i) * time.Second),
		RequestID:     fmt.Sprintf("req-%d", i),
		Tenant:        "tenant-1",
		Principal:     fmt.Sprintf("p1:principal-%d", i%3),
		PrincipalKind: "user",
		App:           "app-web",
		Agents:        []audit.Agent{{Subject: "p1:agent", App: "app-agent", Via: "obo"}},
		Action:        "invoke",
		Resource:      fmt.Sprintf("/orders/%d", i),
		Route:         "orders",
		Decision:      audit.DecisionAllow,
		Policies:      []string{"allow-orders"},
		Role:          "orders-reader",
		STSSession:    "gh-abc",
		Target:        "orders-fn",
		Status:        200,
		LatencyMicros: int64(1000 + i),
		Claims:        map[string]string{"scp": "orders.read"},
	}
}

func record(t *testing.T, r *audit.Recorder, clock *Clock, evs ...*audit.Event) {
	t.Helper()
	for _, e := range evs {
		if clock != nil {
			clock.Set(e.Time)
		}
		if err := r.Record(t.Context(), e); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
}

func query(t *testing.T, sink audit.Sink, f audit.Filter) []audit.Event {
	t.Helper()
	got, err := sink.Query(t.Context(), f)
	if err != nil {
		t.Fatalf("Query(%+v): %v", f, err)
	}
	return got
}

var ignoreChain = cmpopts.IgnoreFields(audit.Event{}, "Chain", "Seq", "PrevHash", "Hash")

func (s *suite) appendQuery(t *testing.T) {
	s.needQuery(t)
	sink := s.newSink(t)
	clock := NewClock(T0)
	r := s.recorder(t, sink, clock, 5)
	var want []audit.Event
	for i := range 12 {
		e := event(i)
		record(t, r, clock, e)
		want = append(want, *e)
	}
	got := query(t, sink, audit.Filter{})
	if diff := cmp.Diff(want, got, ignoreChain, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("Query(all) mismatch (-want +got):\n%s", diff)
	}
	for i, e := range got {
		if e.Seq != int64(i+1) || e.Chain != got[0].Chain || e.Hash != e.ChainHash() {
			t.Errorf("event %d: chain %q seq %d hash ok=%v; want seq %d in one chain with its hash", i, e.Chain, e.Seq, e.Hash == e.ChainHash(), i+1)
		}
		if i > 0 && e.PrevHash != got[i-1].Hash {
			t.Errorf("event %d: prev_hash does not link to event %d", i, i-1)
		}
	}
	if !strings.HasPrefix(got[0].Chain, "suite/") {
		t.Errorf("chain %q does not start with the replica", got[0].Chain)
	}
}

func (s *suite) filters(t *testing.T) {
	s.needQuery(t)
	sink := s.newSink(t)
	r := s.recorder(t, sink, NewClock(T0), 100)
	mk := func(id, tenant, principal, route, decision string, minute int, agents ...audit.Agent) *audit.Event {
		return &audit.Event{ID: id, Time: T0.Add(time.Duration(minute) * time.Minute), Tenant: tenant, Principal: principal,
			Route: route, Role: "role-" + route, Decision: decision, Agents: agents}
	}
	record(t, r, nil,
		mk("e0", "t1", "p1:a", "r1", "allow", 0, audit.Agent{Subject: "p1:agent-a", App: "app-x", Via: "obo"}),
		mk("e1", "t1", "p1:b", "r2", "deny", 1),
		mk("e2", "t2", "p1:a", "r1", "error", 2, audit.Agent{App: "app-y"}, audit.Agent{Subject: "p1:agent-b"}),
		mk("e3", "t2", "p1:c", "r3", "allow", 3, audit.Agent{Subject: "p1:agent-b", Via: "act"}),
	)
	at := func(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name   string
		filter audit.Filter
		want   []string
	}{
		{"no filter", audit.Filter{}, []string{"e0", "e1", "e2", "e3"}},
		{"principal", audit.Filter{Principals: []string{"p1:a"}}, []string{"e0", "e2"}},
		{"any of several principals", audit.Filter{Principals: []string{"p1:c", "p1:nobody", "p1:a"}}, []string{"e0", "e2", "e3"}},
		{"a principal given twice", audit.Filter{Principals: []string{"p1:b", "p1:b"}}, []string{"e1"}},
		{"principals with one no event can hold", audit.Filter{Principals: []string{"p1:b\x00", "p1:b"}}, []string{"e1"}},
		{"principals all unstorable", audit.Filter{Principals: []string{"p1:b\x00", "\xff"}}, nil},
		{"an empty principal is no event's", audit.Filter{Principals: []string{""}}, nil},
		{"tenant", audit.Filter{Tenant: "t2"}, []string{"e2", "e3"}},
		{"agent by subject, any link", audit.Filter{Agent: "p1:agent-b"}, []string{"e2", "e3"}},
		{"agent by app", audit.Filter{Agent: "app-x"}, []string{"e0"}},
		{"route", audit.Filter{Route: "r1"}, []string{"e0", "e2"}},
		{"role", audit.Filter{Role: "role-r2"}, []string{"e1"}},
		{"decision", audit.Filter{Decision: "deny"}, []string{"e1"}},
		{"since is inclusive", audit.Filter{Since: at(1)}, []string{"e1", "e2", "e3"}},
		{"until is exclusive", audit.Filter{Until: at(2)}, []string{"e0", "e1"}},
		{"since and until", audit.Filter{Since: at(1), Until: at(3)}, []string{"e1", "e2"}},
		{"sub-microsecond since", audit.Filter{Since: at(1).Add(time.Nanosecond)}, []string{"e2", "e3"}},
		{"limit keeps the oldest", audit.Filter{Limit: 2}, []string{"e0", "e1"}},
		{"newest with limit", audit.Filter{Newest: true, Limit: 2}, []string{"e3", "e2"}},
		{"combined", audit.Filter{Principals: []string{"p1:a", "p1:b"}, Decision: "error"}, []string{"e2"}},
		{"no match", audit.Filter{Principals: []string{"p1:nobody"}}, nil},
		{"quote in a value is data", audit.Filter{Principals: []string{"' OR '1'='1"}}, nil},
		{"quote in one of several values is data", audit.Filter{Principals: []string{"p1:nobody", "p1:a') OR ('1'='1"}}, nil},
		{"wildcard in a value is data", audit.Filter{Agent: "%"}, nil},
		{"json in a value is data", audit.Filter{Agent: `{"app":"app-x"}`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range query(t, sink, tc.filter) {
				got = append(got, e.ID)
				if !tc.filter.Match(&e) {
					t.Errorf("Filter.Match disagrees with the sink on %s", e.ID)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Query(%+v) ids (-want +got):\n%s", tc.filter, diff)
			}
		})
	}
}

// Hostile claim values: each must be stored as data, bounded, printable and
// valid UTF-8, and must not disturb queries or the chain.
var hostile = map[string]any{
	"forge_line":  "x\n{\"decision\":\"allow\",\"principal\":\"p1:admin\"}",
	"controls":    "a\x00b\x1b[31mred\x7f\r\n\t",
	"bidi":        "user\u202Egnp.exe\u2066x\u2069",
	"zero_width":  "ad\u200bmin\ufeff",
	"line_sep":    "a\u2028b\u2029c",
	"invalid":     "\xff\xfe valid \xc3",
	"long":        strings.Repeat("é", 10000),
	"sql":         "'); DROP TABLE audit_events; --",
	"quotes":      `"\'\\`,
	"json_number": 12.5,
	"groups":      []any{"g1", "g2\n"},
	"email":       "alice@example.com", // personal: never stored
}

func (s *suite) injection(t *testing.T) {
	s.needQuery(t)
	sink := s.newSink(t)
	r := s.recorder(t, sink, NewClock(T0), 100)
	allow := make([]string, 0, len(hostile))
	for k := range hostile {
		allow = append(allow, k)
	}
	e := event(1)
	e.Claims = audit.SanitizeClaims(hostile, allow)
	e.Resource = "/orders/1\r\nX-Forged: 1"
	e.Route = "orders\x00"
	e.Agents = []audit.Agent{{Subject: "p1:x\n", App: "\u202Eapp"}}
	record(t, r, nil, e, event(2))

	got := query(t, sink, audit.Filter{})
	if len(got) != 2 {
		t.Fatalf("Query(all) returned %d events, want 2", len(got))
	}
	if _, ok := got[0].Claims["email"]; ok {
		t.Error("the personal claim email was stored")
	}
	for k, v := range got[0].Claims {
		if len(v) > audit.MaxClaimBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, hidden) {
			t.Errorf("claim %s stored unsafely: %q (%d bytes)", k, v, len(v))
		}
	}
	for _, v := range []string{got[0].Resource, got[0].Route, got[0].Agents[0].Subject, got[0].Agents[0].App} {
		if strings.ContainsFunc(v, hidden) || !utf8.ValidString(v) {
			t.Errorf("field stored unsafely: %q", v)
		}
	}
	if got[0].Claims["forge_line"] != `x\u000A{"decision":"allow","principal":"p1:admin"}` {
		t.Errorf("forge_line stored as %q", got[0].Claims["forge_line"])
	}
	if got[0].Decision != "allow" || got[0].Principal != e.Principal {
		t.Errorf("a claim changed the event: decision %q principal %q", got[0].Decision, got[0].Principal)
	}
	for _, f := range []audit.Filter{{Principals: []string{hostile["sql"].(string)}}, {Route: "orders\x00"}, {Agent: "p1:x\n"}, {Route: "\xff"}} {
		if n := len(query(t, sink, f)); n != 0 {
			t.Errorf("Query(%+v) returned %d events, want 0", f, n)
		}
	}
	if n := len(query(t, sink, audit.Filter{Route: `orders\u0000`})); n != 1 {
		t.Errorf("Query by the escaped route returned %d events, want 1", n)
	}
	if s.scannable {
		r.Close()
		if _, err := audit.Verify(t.Context(), sink, s.key.Public()); err != nil {
			t.Errorf("Verify after hostile claims: %v", err)
		}
	}
}

func hidden(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

func (s *suite) atomicBatch(t *testing.T) {
	s.needQuery(t)
	s.needStore(t)
	sink := s.newSink(t)
	mk := func(seq int64) audit.Event {
		e := *event(int(seq))
		e.Version, e.ID, e.Chain, e.Seq = audit.SchemaVersion, fmt.Sprint("atomic-", seq), "atomic/1", seq
		e.Hash = e.ChainHash()
		return e
	}
	if err := sink.Append(t.Context(), []audit.Event{mk(1)}); err != nil {
		t.Fatal(err)
	}
	// A batch whose second event repeats a stored (chain, seq) must fail
	// and leave none of its events.
	if err := sink.Append(t.Context(), []audit.Event{mk(2), mk(1)}); err == nil {
		t.Fatal("Append of a batch repeating a stored (chain, seq) succeeded")
	}
	if got := query(t, sink, audit.Filter{}); len(got) != 1 {
		t.Fatalf("after a failed batch the sink holds %d events, want 1", len(got))
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sink.Append(ctx, []audit.Event{mk(2)}); err == nil {
		t.Error("Append with a canceled context succeeded")
	}
	if got := query(t, sink, audit.Filter{}); len(got) != 1 {
		t.Fatalf("after a canceled Append the sink holds %d events, want 1", len(got))
	}
}

func (s *suite) verify(t *testing.T) {
	s.needScan(t)
	sink := s.newSink(t)
	clock := NewClock(T0)
	r := s.recorder(t, sink, clock, 5)
	for i := range 12 {
		record(t, r, clock, event(i))
	}
	rep, err := audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify before Close: %v", err)
	}
	if len(rep.Chains) != 1 || rep.Chains[0].Unanchored != 2 || rep.Chains[0].Final {
		t.Errorf("Verify before Close: report %+v; want one open chain with 2 unanchored events", rep.Chains)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := []audit.ChainReport{{Chain: rep.Chains[0].Chain, Events: 12, First: 1, Last: 12, LastCheckpoint: 12, Final: true}}
	if diff := cmp.Diff(want, rep.Chains); diff != "" || rep.Events != 12 || !rep.Signed {
		t.Errorf("Verify report (-want +got):\n%s\nevents %d signed %v", diff, rep.Events, rep.Signed)
	}
	if _, err := audit.Verify(t.Context(), sink, nil); err != nil {
		t.Errorf("Verify without a key: %v", err)
	}
	_, err = audit.Verify(t.Context(), sink, Key(t).Public())
	if !errors.Is(err, audit.ErrChainBroken) || !strings.Contains(err.Error(), "not a given key") {
		t.Errorf("Verify with another key = %v; want a checkpoint signed by another key", err)
	}
	if _, err := audit.Verify(t.Context(), sink, []crypto.PublicKey{Key(t).Public(), s.key.Public()}); err != nil {
		t.Errorf("Verify with the key among others (a rotation): %v", err)
	}
}

func (s *suite) concurrentWriters(t *testing.T) {
	s.needScan(t)
	sink := s.newSink(t)
	clock := NewClock(T0)
	r1, r2 := s.recorder(t, sink, clock, 7), s.recorder(t, sink, clock, 11)
	var wg sync.WaitGroup
	for _, r := range []*audit.Recorder{r1, r2} {
		for g := range 4 {
			wg.Go(func() {
				for i := range 25 {
					if err := r.Record(t.Context(), event(g*100+i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	r1.Close()
	r2.Close()
	rep, err := audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Events != 200 || len(rep.Chains) != 2 {
		t.Errorf("Verify: %d events in %d chains, want 200 in 2", rep.Events, len(rep.Chains))
	}
	if s.queryable {
		if got := query(t, sink, audit.Filter{}); len(got) != 200 {
			t.Errorf("Query(all) = %d events, want 200", len(got))
		}
	}
}

// largeBatches: Async batches of hundreds of events keep their order in the
// store (Verify checks position order against sequence numbers).
func (s *suite) largeBatches(t *testing.T) {
	s.needScan(t)
	sink := s.newSink(t)
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Mode: audit.Async, BatchSize: 300, Replica: "suite",
		Signer: s.key, CheckpointEvery: 250, FlushInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := r.Record(t.Context(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Events != 1000 {
		t.Errorf("Verify read %d events, want 1000", rep.Events)
	}
}

func (s *suite) retention(t *testing.T) {
	s.needQuery(t)
	s.needScan(t)
	s.needStore(t)
	sink := s.newSink(t)
	clock := NewClock(T0)
	r := s.recorder(t, sink, clock, 5)
	at := func(i int) time.Time { return T0.Add(time.Duration(i) * time.Minute) }
	for i := 1; i <= 20; i++ {
		e := event(i)
		e.Time = at(i)
		record(t, r, clock, e)
	}
	r.Close() // checkpoints at seq 0, 5, 10, 15, 20 and a final one at 20

	// Events 1 to 12 are older than the cut; the newest checkpoint before it
	// is at seq 10, so 1 to 10 go and 11 to 20 stay.
	n, err := audit.Prune(t.Context(), sink, at(12).Add(time.Second), s.key.Public())
	if err != nil || n != 10 {
		t.Fatalf("Prune = %d, %v; want 10 events deleted", n, err)
	}
	got := query(t, sink, audit.Filter{})
	if len(got) != 10 || got[0].Seq != 11 {
		t.Fatalf("after Prune: %d events from seq %d, want 10 from seq 11", len(got), got[0].Seq)
	}
	rep, err := audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify after Prune: %v", err)
	}
	if c := rep.Chains[0]; c.Anchor != 10 || c.First != 11 || c.Last != 20 {
		t.Errorf("after Prune: chain report %+v; want anchored at 10, events 11 to 20", c)
	}
	if n, err := audit.Prune(t.Context(), sink, at(12).Add(time.Second), s.key.Public()); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0, nil", n, err)
	}

	// A new writer continues in its own chain; pruning everything old keeps
	// both verifiable.
	r2 := s.recorder(t, sink, clock, 5)
	for i := 21; i <= 23; i++ {
		e := event(i)
		e.Time = at(i)
		record(t, r2, clock, e)
	}
	if n, err := audit.Prune(t.Context(), sink, at(21), s.key.Public()); err != nil || n != 10 {
		t.Errorf("Prune of the whole first chain = %d, %v; want 10", n, err)
	}
	if _, err := audit.Verify(t.Context(), sink, s.key.Public()); err != nil {
		t.Errorf("Verify after pruning a whole chain: %v", err)
	}
	r2.Close()
	if _, err := audit.Verify(t.Context(), sink, s.key.Public()); err != nil {
		t.Errorf("Verify after the second writer closed: %v", err)
	}
}

func (s *suite) unsupported(t *testing.T) {
	if s.queryable && s.scannable && s.deletable {
		t.Skip("the sink supports everything")
	}
	sink := s.newSink(t)
	r := s.recorder(t, sink, NewClock(T0), 5)
	record(t, r, nil, event(1), event(2))
	if err := r.Close(); err != nil {
		t.Fatalf("recording into an append-only sink: %v", err)
	}
	if !s.deletable {
		if _, err := sink.DeleteThrough(t.Context(), "x", 1); !errors.Is(err, audit.ErrUnsupported) {
			t.Errorf("DeleteThrough on a sink that cannot query = %v; want ErrUnsupported", err)
		}
	}
	if !s.queryable {
		if _, err := sink.Query(t.Context(), audit.Filter{}); !errors.Is(err, audit.ErrUnsupported) {
			t.Errorf("Query on a sink that cannot query = %v; want ErrUnsupported", err)
		}
	}
	if !s.scannable {
		if _, err := audit.Verify(t.Context(), sink, s.key.Public()); !errors.Is(err, audit.ErrUnsupported) {
			t.Errorf("Verify on a sink that cannot scan = %v; want ErrUnsupported", err)
		}
	}
}
