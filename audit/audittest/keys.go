package audittest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	_ "embed"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// trailBeforeKeyIDs is a JSON-lines trail written by gatehouse before
// events recorded their pseudonym key (pseudonym_key): one chain of five
// events, with and without principals, and three checkpoints signed by
// oldTrailSigner.
//
//go:embed testdata/trail-before-key-ids.jsonl
var trailBeforeKeyIDs []byte

// oldTrailSigner is the checkpoint key of the trail written before key ids.
var oldTrailSigner = ed25519.NewKeyFromSeed(bytes.Repeat([]byte("s"), 32))

// oldTrailPseudonymKey is the pseudonym key of the trail written before key
// ids: alice-oid and bob-oid in tenant oldTrailTenant are its principals.
var oldTrailPseudonymKey = bytes.Repeat([]byte{0x42}, 32)

// oldTrailTenant is the tenant of the trail written before key ids.
const oldTrailTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// oldTrail returns the events (with their hashes) and checkpoints of the
// trail written before key ids, in file order, and the lines they were
// read from.
func oldTrail(t testing.TB) (events []audit.Event, cps []audit.Checkpoint, lines [][]byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(trailBeforeKeyIDs))
	for sc.Scan() {
		line := bytes.Clone(sc.Bytes())
		if bytes.HasPrefix(line, []byte(`{"checkpoint":`)) {
			var cl struct{ Checkpoint audit.Checkpoint }
			if err := json.Unmarshal(line, &cl); err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cl.Checkpoint)
			continue
		}
		e, err := audit.DecodeStored(line, "")
		if err != nil {
			t.Fatalf("the trail written before key ids: %v", err)
		}
		events = append(events, e)
		lines = append(lines, line)
	}
	return events, cps, lines
}

// oldFormat: a trail written before key ids, stored as its writer stored
// it, still verifies, its stored bytes are unchanged, and its events are
// found by their principals, with no key id.
func (s *suite) oldFormat(t *testing.T) {
	s.needScan(t)
	sink := s.newSink(t)
	events, cps, lines := oldTrail(t)
	for _, cp := range cps {
		if cp.Seq == 0 {
			if err := sink.AddCheckpoint(t.Context(), cp); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Appended as a Recorder appends: the events as decoded and encoded by
	// this version of the package.
	if err := sink.Append(t.Context(), events[:3]); err != nil {
		t.Fatal(err)
	}
	if err := sink.AddCheckpoint(t.Context(), cps[1]); err != nil {
		t.Fatal(err)
	}
	if err := sink.Append(t.Context(), events[3:]); err != nil {
		t.Fatal(err)
	}
	if err := sink.AddCheckpoint(t.Context(), cps[2]); err != nil {
		t.Fatal(err)
	}
	for i, row := range rows(t, sink) {
		data := row.Data
		if row.Hash != "" {
			data = fmt.Appendf(bytes.Clone(bytes.TrimSuffix(data, []byte("}"))), `,"hash":%q}`, row.Hash)
		}
		if !bytes.Equal(data, lines[i]) {
			t.Errorf("event %d stored as\n%s\nwritten before key ids as\n%s", i+1, data, lines[i])
		}
	}
	rep, err := audit.Verify(t.Context(), sink, oldTrailSigner.Public())
	if err != nil {
		t.Fatalf("Verify of the trail written before key ids: %v", err)
	}
	if rep.Events != 5 || len(rep.Chains) != 1 || !rep.Chains[0].Final || !rep.Signed {
		t.Errorf("Verify report %+v %+v; want 5 signed events in one closed chain", rep, rep.Chains)
	}
	if !s.queryable {
		return
	}
	p, err := audit.NewPseudonymizer(oldTrailPseudonymKey)
	if err != nil {
		t.Fatal(err)
	}
	keys := audit.NewPseudonymKeys(p)
	var ids []string
	for _, e := range query(t, sink, audit.Filter{Principals: keys.Principals(oldTrailTenant, "alice-oid")}) {
		ids = append(ids, e.ID)
		if e.PseudonymKey != "" {
			t.Errorf("%s: key id %q in an event written before key ids", e.ID, e.PseudonymKey)
		}
	}
	if !slices.Equal(ids, []string{"EVENTA", "EVENTD"}) {
		t.Errorf("alice's events = %v, want EVENTA and EVENTD", ids)
	}
}

// Pseudonym keys of the rotation test.
var (
	keyA = bytes.Repeat([]byte{0xA1}, 32)
	keyB = bytes.Repeat([]byte{0xB2}, 32)
)

// keyRotation: events are recorded by concurrent writers while the
// pseudonym key rotates. Each event carries the id of the key that made its
// principal, and that key's pseudonym; those made before the swap carry
// key A, those made after it key B, including events whose pseudonym was
// made before the swap and that were recorded after it. The chain verifies
// across the swap; the subject's events are found under both keys, or only
// the new half with the new key alone.
func (s *suite) keyRotation(t *testing.T) {
	s.needScan(t)
	sink := s.newSink(t)
	a, _ := audit.NewPseudonymizer(keyA)
	b, _ := audit.NewPseudonymizer(keyB)
	if a.KeyID() == b.KeyID() || !strings.HasPrefix(a.KeyID(), audit.KeyIDPrefix) {
		t.Fatalf("key ids %q and %q", a.KeyID(), b.KeyID())
	}
	keys := audit.NewPseudonymKeys(a)
	r, err := audit.NewRecorder(audit.Config{
		Sink: sink, Mode: audit.Sync, Replica: "suite", Signer: s.key, Pseudonyms: keys,
		CheckpointEvery: 50, CheckpointInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	// phase: 0 before Rotate is called, 1 while it runs, 2 after.
	var phase atomic.Int32
	var made atomic.Int64
	const writers, perWriter = 8, 60
	subject := func(w int) string { return fmt.Sprintf("user-%d", w%3) } // alice is user-0
	// One request that takes its pseudonyms before the swap and is
	// recorded after it: it must still say key A.
	held := &audit.Event{RequestID: "held", Tenant: "t1", Principal: keys.Principal("t1", "user-0"),
		Agents: []audit.Agent{{Subject: keys.Principal("t1", "agent-1"), Via: "obo"}}, Decision: audit.DecisionAllow, Resource: "before"}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				before := phase.Load()
				p := keys.Principal("t1", subject(w))
				after := phase.Load()
				made.Add(1)
				when := "during"
				switch {
				case after == 0:
					when = "before"
				case before == 2:
					when = "after"
				}
				if i%4 == 0 {
					runtime.Gosched() // let a swap fall between the pseudonym and the record
				}
				ev := &audit.Event{RequestID: fmt.Sprintf("w%d-%d", w, i), Tenant: "t1", Principal: p, PrincipalKind: "user",
					Resource: when, Route: subject(w), Decision: audit.DecisionAllow}
				if err := r.Record(t.Context(), ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for made.Load() < writers*perWriter/2 {
		runtime.Gosched()
	}
	phase.Store(1)
	if !keys.Rotate(b) {
		t.Error("Rotate to a new key reported no change")
	}
	phase.Store(2)
	if keys.Rotate(b) {
		t.Error("Rotate to the current key reported a change")
	}
	wg.Wait()
	if err := r.Record(t.Context(), held); err != nil {
		t.Fatal(err)
	}
	if held.PseudonymKey != a.KeyID() {
		t.Errorf("an event whose pseudonym was made before the swap got key id %q, want key A's %q", held.PseudonymKey, a.KeyID())
	}
	after := &audit.Event{RequestID: "after", Tenant: "t1", Principal: keys.Principal("t1", "user-0"), Decision: audit.DecisionDeny, Resource: "after", Route: "user-0"}
	if err := r.Record(t.Context(), after); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	rep, err := audit.Verify(t.Context(), sink, s.key.Public())
	if err != nil {
		t.Fatalf("Verify across the rotation: %v", err)
	}
	if want := int64(writers*perWriter + 2); rep.Events != want {
		t.Errorf("Verify read %d events, want %d", rep.Events, want)
	}
	if !s.queryable {
		return
	}
	byID := map[string]*audit.Pseudonymizer{a.KeyID(): a, b.KeyID(): b}
	var sawA, sawB int
	all := query(t, sink, audit.Filter{})
	for _, e := range all {
		p := byID[e.PseudonymKey]
		subj := e.Route
		if e.RequestID == "held" {
			subj = "user-0"
		}
		switch {
		case p == nil:
			t.Errorf("%s: key id %q is neither key's", e.RequestID, e.PseudonymKey)
			continue
		case e.Principal != p.Principal("t1", subj):
			t.Errorf("%s: principal %s is not the pseudonym under its key %s", e.RequestID, e.Principal, e.PseudonymKey)
		case e.Resource == "before" && p != a, e.Resource == "after" && p != b:
			t.Errorf("%s: pseudonym made %s the swap has key id %s", e.RequestID, e.Resource, e.PseudonymKey)
		}
		if p == a {
			sawA++
		} else {
			sawB++
		}
	}
	if sawA == 0 || sawB == 0 {
		t.Errorf("%d events under key A, %d under key B; want both", sawA, sawB)
	}

	// alice under both keys, then under the new key alone.
	both := query(t, sink, audit.Filter{Principals: keys.Principals("t1", "user-0")})
	onlyB := query(t, sink, audit.Filter{Principals: audit.NewPseudonymKeys(b).Principals("t1", "user-0")})
	var wantBoth, wantB int
	for _, e := range all {
		if e.Route == "user-0" || e.RequestID == "held" {
			wantBoth++
			if e.PseudonymKey == b.KeyID() {
				wantB++
			}
		}
	}
	if len(both) != wantBoth || len(onlyB) != wantB || wantB == 0 || wantB == wantBoth {
		t.Errorf("alice: %d events under both keys (want %d), %d under the new key alone (want %d, fewer)", len(both), wantBoth, len(onlyB), wantB)
	}
	for _, e := range onlyB {
		if e.PseudonymKey != b.KeyID() {
			t.Errorf("%s: found by the new key's pseudonym but made by %s", e.RequestID, e.PseudonymKey)
		}
	}
}
