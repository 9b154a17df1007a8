package testkit

import (
	"fmt"
	"slices"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// filled lists the audit.Event fields that the Recorder (Version, ID,
// Replica and the chain fields) or the clock (Time, LatencyMicros) fill in,
// which a test's want cannot know unless it controls them.
var filled = []string{"Version", "ID", "Time", "Replica", "LatencyMicros", "Chain", "Seq", "PrevHash", "Hash"}

// DiffEvent compares two audit events with go-cmp and returns the
// difference as cmp.Diff does (-want +got), or "" when they match:
//
//	if diff := testkit.DiffEvent(want, got); diff != "" {
//		t.Errorf("audit event (-want +got):\n%s", diff)
//	}
//
// It ignores the fields the Recorder or the clock fill in: Version, ID,
// Time, Replica, LatencyMicros and the chain fields Chain, Seq, PrevHash
// and Hash, except those named in compare, which are compared too. It
// treats a nil and an empty slice or map as equal, since the stored JSON
// leaves both out. Every other field is compared. DiffEvent panics if
// compare names a field it does not ignore, so a misspelt name cannot
// silently compare nothing.
func DiffEvent(want, got audit.Event, compare ...string) string {
	var ignore []string
	for _, f := range filled {
		if !slices.Contains(compare, f) {
			ignore = append(ignore, f)
		}
	}
	for _, f := range compare {
		if !slices.Contains(filled, f) {
			panic(fmt.Sprintf("testkit: DiffEvent: %q is not one of the ignored fields %v", f, filled))
		}
	}
	opts := []cmp.Option{cmpopts.EquateEmpty()}
	if len(ignore) > 0 {
		opts = append(opts, cmpopts.IgnoreFields(audit.Event{}, ignore...))
	}
	return cmp.Diff(want, got, opts...)
}
