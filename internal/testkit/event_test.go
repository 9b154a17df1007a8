package testkit_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

func TestDiffEvent(t *testing.T) {
	want := audit.Event{RequestID: "req-1", Decision: audit.DecisionDeny, Status: 403, Route: "orders",
		Policies: []string{"deny-all"}, Claims: map[string]string{"scp": "orders.read"}}
	filled := want
	filled.Version, filled.ID, filled.Time, filled.Replica, filled.LatencyMicros = 1, "id-1", time.Now(), "gw-1", 1234
	filled.Chain, filled.Seq, filled.PrevHash, filled.Hash = "gw-1/abc", 7, "prev", "hash"
	if diff := testkit.DiffEvent(want, filled); diff != "" {
		t.Errorf("fields the Recorder and the clock fill are compared:\n%s", diff)
	}

	// Every other field is compared.
	for name, edit := range map[string]func(*audit.Event){
		"Decision":  func(e *audit.Event) { e.Decision = audit.DecisionAllow },
		"Status":    func(e *audit.Event) { e.Status = 200 },
		"Principal": func(e *audit.Event) { e.Principal = "p1:x" },
		"Agents":    func(e *audit.Event) { e.Agents = []audit.Agent{{App: "a"}} },
		"Policies":  func(e *audit.Event) { e.Policies = nil },
		"Claims":    func(e *audit.Event) { e.Claims["scp"] = "orders.write" },
		"Check":     func(e *audit.Event) { e.Check = "exp" },
	} {
		got := filled
		got.Claims = map[string]string{"scp": "orders.read"}
		edit(&got)
		if diff := testkit.DiffEvent(want, got); !strings.Contains(diff, name) {
			t.Errorf("a change of %s: diff %q does not name it", name, diff)
		}
	}

	// Empty and nil are the same event, as in the stored JSON.
	empty := want
	empty.Agents, empty.Claims = []audit.Agent{}, map[string]string{"scp": "orders.read"}
	if diff := testkit.DiffEvent(want, empty); diff != "" {
		t.Errorf("nil and empty Agents differ:\n%s", diff)
	}

	// Filled fields are compared when asked.
	if diff := testkit.DiffEvent(want, filled, "Seq", "Replica"); !strings.Contains(diff, "Seq") || !strings.Contains(diff, "Replica") || strings.Contains(diff, "Hash") {
		t.Errorf("DiffEvent(..., Seq, Replica) = %q; want Seq and Replica, not Hash", diff)
	}
	all := []string{"Version", "ID", "Time", "Replica", "LatencyMicros", "Chain", "Seq", "PrevHash", "Hash"}
	if diff := testkit.DiffEvent(filled, filled, all...); diff != "" {
		t.Errorf("an event differs from itself:\n%s", diff)
	}
	if diff := testkit.DiffEvent(want, filled, all...); strings.Count(diff, "\n") < len(all) {
		t.Errorf("with every field compared, the diff is\n%s", diff)
	}
}

func TestDiffEventRefusesUnknownNames(t *testing.T) {
	for _, name := range []string{"Decison", "Status", "seq"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DiffEvent(..., %q) did not panic", name)
				}
			}()
			testkit.DiffEvent(audit.Event{}, audit.Event{}, name)
		}()
	}
}
