package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
)

func testKey(t *testing.T, b byte) *audit.Pseudonymizer {
	t.Helper()
	p, err := audit.NewPseudonymizer(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPseudonymKeysRotate(t *testing.T) {
	a, b, c := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	k := audit.NewPseudonymKeys(a, c, a) // a repeated key is kept once
	ids := func() string {
		var out []string
		for _, p := range k.All() {
			out = append(out, p.KeyID())
		}
		return strings.Join(out, " ")
	}
	if got, want := ids(), a.KeyID()+" "+c.KeyID(); got != want {
		t.Fatalf("All = %s, want %s", got, want)
	}
	if k.Rotate(a) || k.Rotate(nil) {
		t.Error("Rotate to the current key, or to none, reported a change")
	}
	if !k.Rotate(b) || k.Current() != b {
		t.Fatal("Rotate(b) did not make b current")
	}
	if got, want := ids(), b.KeyID()+" "+a.KeyID()+" "+c.KeyID(); got != want {
		t.Errorf("after Rotate(b): All = %s, want %s", got, want)
	}
	if !k.Rotate(c) { // back to a retired key: it moves to the front, once
		t.Fatal("Rotate(c) reported no change")
	}
	if got, want := ids(), c.KeyID()+" "+b.KeyID()+" "+a.KeyID(); got != want {
		t.Errorf("after Rotate(c): All = %s, want %s", got, want)
	}
	ps := k.Principals("t", "s")
	if len(ps) != 3 || ps[0] != c.Principal("t", "s") || ps[2] != a.Principal("t", "s") {
		t.Errorf("Principals = %v; want one per key, the current first", ps)
	}
	if audit.Remembered(k) != 0 {
		t.Error("Principals remembered pseudonyms: only what is recorded is")
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "keys", k)
	if !strings.Contains(buf.String(), c.KeyID()) || strings.Contains(buf.String(), "[3 3 3") {
		t.Errorf("logged as %q; want the key ids only", buf.String())
	}
}

// TestPseudonymKeysForget: what Principal remembers is forgotten when the
// event is recorded (also an event the Recorder refuses), so a long-running
// gateway keeps only what is in flight; and what is never recorded is
// bounded.
func TestPseudonymKeysForget(t *testing.T) {
	a, b := testKey(t, 1), testKey(t, 2)
	k := audit.NewPseudonymKeys(a)
	r, err := audit.NewRecorder(audit.Config{Sink: &memSink{}, Pseudonyms: k, Replica: "t"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p1 := k.Principal("t", "alice")
	p2 := k.Principal("t", "alice") // a second request of the same user
	agent := k.Principal("t", "agent")
	k.Rotate(b)
	p3 := k.Principal("t", "alice")
	if p1 != p2 || p3 == p1 {
		t.Fatal("pseudonyms do not follow the key")
	}
	events := []*audit.Event{
		{Principal: p1, Agents: []audit.Agent{{Subject: agent, Via: "obo"}}, Decision: audit.DecisionAllow},
		{Principal: p3, Decision: audit.DecisionAllow},
		{Principal: p2, Decision: "bogus"}, // refused, still forgotten
	}
	for _, ev := range events {
		r.Record(context.Background(), ev)
	}
	for i, want := range []string{a.KeyID(), b.KeyID(), a.KeyID()} {
		if events[i].PseudonymKey != want {
			t.Errorf("event %d: key id %q, want %q", i, events[i].PseudonymKey, want)
		}
	}
	if n := audit.Remembered(k); n != 0 {
		t.Errorf("%d pseudonyms still remembered after every event was recorded", n)
	}
	// Not made by these keys: no key id is claimed.
	foreign := &audit.Event{Principal: testKey(t, 9).Principal("t", "alice"), Decision: audit.DecisionAllow}
	r.Record(context.Background(), foreign)
	if foreign.PseudonymKey != "" {
		t.Errorf("a pseudonym the keys did not make got key id %q", foreign.PseudonymKey)
	}
	// A key id the caller set is kept; none is stored without a principal.
	set := &audit.Event{Principal: p3, PseudonymKey: "k1:given", Decision: audit.DecisionAllow}
	r.Record(context.Background(), set)
	if set.PseudonymKey != "k1:given" {
		t.Errorf("the caller's key id became %q", set.PseudonymKey)
	}

	for i := range 2*audit.IssuedLimit + 10 { // never recorded
		k.Principal("t", fmt.Sprint("abandoned-", i))
	}
	if n := audit.Remembered(k); n > 2*audit.IssuedLimit {
		t.Errorf("%d pseudonyms remembered; want at most %d", n, 2*audit.IssuedLimit)
	}
}

func TestNoKeyIDWithoutPrincipal(t *testing.T) {
	sink := &memSink{}
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Replica: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Record(context.Background(), &audit.Event{PseudonymKey: "k1:x", Decision: audit.DecisionError}); err != nil {
		t.Fatal(err)
	}
	r.Close()
	evs, _ := sink.Query(context.Background(), audit.Filter{})
	if len(evs) != 1 || evs[0].PseudonymKey != "" {
		t.Errorf("stored %+v; want one event without a key id", evs)
	}
}
