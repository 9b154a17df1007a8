package audittest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// browseEvents are varied events for the Browser checks: several
// principals, roles, routes and decisions, agent chains of one and two
// links (the second link matching a filter too), events that share a time,
// and one event a minute over two hours.
func browseEvents() []*audit.Event {
	var evs []*audit.Event
	for i := range 120 {
		e := &audit.Event{
			ID:        fmt.Sprintf("b%03d", i),
			Time:      T0.Add(time.Duration(i) * time.Minute),
			Tenant:    []string{"t1", "t2"}[i%2],
			Principal: fmt.Sprintf("p1:user-%d", i%5),
			Route:     []string{"orders", "reports", "api"}[i%3],
			Role:      []string{"reader", "operator", ""}[i%3],
			Decision:  audit.DecisionAllow,
		}
		switch {
		case i%7 == 0:
			e.Decision, e.Role = audit.DecisionDeny, ""
		case i%11 == 0:
			e.Decision = audit.DecisionError
		}
		switch i % 4 {
		case 1:
			e.Agents = []audit.Agent{{App: "app-agent", Via: "obo"}}
		case 2:
			e.Agents = []audit.Agent{{Subject: "p1:agent-user", Via: "act"}, {App: "app-outer", Via: "act"}}
		}
		if i%13 == 0 {
			e.Principal = "" // refused before a principal was known
		}
		if i >= 100 && i < 110 {
			e.Time = T0.Add(100 * time.Minute) // ten events in one microsecond
		}
		evs = append(evs, e)
	}
	return evs
}

func (s *suite) browse(t *testing.T) {
	s.needQuery(t)
	sink := s.newSink(t)
	b, ok := sink.(audit.Browser)
	if !ok {
		t.Skip("the sink is no audit.Browser")
	}
	ctx := t.Context()
	r := s.recorder(t, sink, NewClock(T0), 50)
	record(t, r, nil, browseEvents()...)
	ref := audit.ScanBrowser{Sink: sink}
	at := func(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }

	filters := []struct {
		name string
		f    audit.Filter
	}{
		{"everything", audit.Filter{}},
		{"a window", audit.Filter{Since: at(10), Until: at(70)}},
		{"a window around equal times", audit.Filter{Since: at(99), Until: at(101)}},
		{"a principal", audit.Filter{Principals: []string{"p1:user-2"}}},
		{"two principals and one unstorable", audit.Filter{Principals: []string{"p1:user-1", "p1:user-3", "p1:bad\x00"}}},
		{"principals with a decision", audit.Filter{Principals: []string{"p1:user-1", "p1:user-4"}, Decision: audit.DecisionDeny}},
		{"principals allowed", audit.Filter{Principals: []string{"p1:user-0"}, Decision: audit.DecisionAllow}},
		{"principal and route", audit.Filter{Principals: []string{"p1:user-0"}, Route: "reports"}},
		{"decision deny", audit.Filter{Decision: audit.DecisionDeny}},
		{"decision error in a window", audit.Filter{Decision: audit.DecisionError, Since: at(30)}},
		{"route", audit.Filter{Route: "api"}},
		{"role", audit.Filter{Role: "operator"}},
		{"tenant", audit.Filter{Tenant: "t2"}},
		{"agent by app, first link", audit.Filter{Agent: "app-agent"}},
		{"agent by subject, first link", audit.Filter{Agent: "p1:agent-user"}},
		{"agent by app, second link", audit.Filter{Agent: "app-outer"}},
		{"agent and decision", audit.Filter{Agent: "app-agent", Decision: audit.DecisionDeny}},
		{"route, role and window", audit.Filter{Route: "orders", Role: "reader", Since: at(20), Until: at(90)}},
		{"nothing matches", audit.Filter{Route: "nowhere"}},
		{"an unknown decision", audit.Filter{Decision: "maybe"}},
		{"an unstorable agent", audit.Filter{Agent: "x\x00"}},
		{"quote in a value is data", audit.Filter{Route: "' OR '1'='1"}},
	}
	ignore := cmpopts.IgnoreFields(audit.Entry{}, "Err")
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			want, err := ref.Page(ctx, tc.f, audit.Cursor{}, 1000)
			if err != nil {
				t.Fatal(err)
			}
			// Page through in threes, by cursor.
			var got []audit.Entry
			var cur audit.Cursor
			for range 200 {
				page, err := b.Page(ctx, tc.f, cur, 3)
				if err != nil {
					t.Fatalf("Page: %v", err)
				}
				got = append(got, page...)
				if len(page) < 3 {
					break
				}
				cur = page[len(page)-1].Cursor()
			}
			if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			if len(got) > 0 {
				if diff := cmp.Diff(want[0], got[0], ignore, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("first entry (-want +got):\n%s", diff)
				}
			}

			edges := []time.Time{at(-30), at(0), at(15), at(40), at(100), at(100).Add(time.Microsecond), at(200)}
			wantH, err := ref.Histogram(ctx, tc.f, edges)
			if err != nil {
				t.Fatal(err)
			}
			gotH, err := b.Histogram(ctx, tc.f, edges)
			if err != nil {
				t.Fatalf("Histogram: %v", err)
			}
			if diff := cmp.Diff(wantH, gotH); diff != "" {
				t.Errorf("Histogram (-want +got):\n%s", diff)
			}

			wantT, err := ref.TopDenied(ctx, tc.f, 3)
			if err != nil {
				t.Fatal(err)
			}
			gotT, err := b.TopDenied(ctx, tc.f, 3)
			if err != nil {
				t.Fatalf("TopDenied: %v", err)
			}
			if diff := cmp.Diff(wantT, gotT, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("TopDenied (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("Entry", func(t *testing.T) {
		all, err := ref.Page(ctx, audit.Filter{}, audit.Cursor{}, 1000)
		if err != nil || len(all) != 120 {
			t.Fatalf("reference page: %d entries, %v", len(all), err)
		}
		want := all[17]
		got, err := b.Entry(ctx, want.Pos)
		if err != nil || got == nil {
			t.Fatalf("Entry(%d) = %v, %v", want.Pos, got, err)
		}
		if diff := cmp.Diff(want, *got, ignore, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Entry (-want +got):\n%s", diff)
		}
		if got.Event.Hash == "" || got.Event.Hash != got.Event.ChainHash() {
			t.Errorf("Entry's hash %q is not its chain hash", got.Event.Hash)
		}
		byChain, err := b.ChainEntry(ctx, want.Event.Chain, want.Event.Seq)
		if err != nil || byChain == nil || byChain.Pos != want.Pos {
			t.Errorf("ChainEntry(%s, %d) = %+v, %v; want position %d", want.Event.Chain, want.Event.Seq, byChain, err, want.Pos)
		}
		for _, c := range []struct {
			name string
			get  func() (*audit.Entry, error)
		}{
			{"no such position", func() (*audit.Entry, error) { return b.Entry(ctx, 1<<40) }},
			{"no such seq", func() (*audit.Entry, error) { return b.ChainEntry(ctx, want.Event.Chain, 1<<40) }},
			{"no such chain", func() (*audit.Entry, error) { return b.ChainEntry(ctx, "nobody/x", 1) }},
			{"an unstorable chain", func() (*audit.Entry, error) { return b.ChainEntry(ctx, "bad\xff", 1) }},
		} {
			if got, err := c.get(); got != nil || err != nil {
				t.Errorf("%s: %+v, %v; want nil, nil", c.name, got, err)
			}
		}
	})

	t.Run("Bounds", func(t *testing.T) {
		if got, err := b.Page(ctx, audit.Filter{}, audit.Cursor{}, 0); len(got) != 0 || err != nil {
			t.Errorf("Page with limit 0: %d entries, %v", len(got), err)
		}
		if got, err := b.Histogram(ctx, audit.Filter{}, []time.Time{T0}); len(got) != 0 || err != nil {
			t.Errorf("Histogram with one edge: %v, %v", got, err)
		}
		top, err := b.TopDenied(ctx, audit.Filter{Decision: audit.DecisionAllow}, 3)
		if err != nil || len(top.Principals)+len(top.Agents) != 0 {
			t.Errorf("TopDenied of allowed events: %+v, %v", top, err)
		}
	})
}

func ids(es []audit.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Event.ID)
	}
	return out
}
