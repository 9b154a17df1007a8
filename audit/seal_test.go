package audit

import (
	"bytes"
	"testing"
	"time"
)

// TestSealIsCanonical: splicing the chain fields onto the canonical body
// gives exactly Canonical() of the chained event, so the Recorder's hashes
// are what Verify recomputes.
func TestSealIsCanonical(t *testing.T) {
	events := []Event{
		{Version: 1, ID: "a", Time: time.Unix(1, 0), Decision: "allow"},
		{Version: 1, ID: "b", Decision: "deny", Claims: map[string]string{"z": "1", "a": `"<&>"`}, Agents: []Agent{{App: "x"}}},
	}
	for _, e := range events {
		for _, chain := range []struct {
			id   string
			seq  int64
			prev string
		}{{"gw/1", 1, ""}, {`g"w\<`, 2, "abc"}, {"gw/2", 1 << 40, "0f"}} {
			body := e.Canonical()
			sealed := e
			got := sealed.seal(body, chain.id, chain.seq, chain.prev)
			if want := sealed.Canonical(); !bytes.Equal(got, want) {
				t.Errorf("seal:\n got %s\nwant %s", got, want)
			}
			if sealed.Hash != sealed.ChainHash() {
				t.Error("seal's hash is not ChainHash")
			}
		}
	}
}
