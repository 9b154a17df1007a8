package audit

import (
	"bytes"
	"testing"
	"time"
)

// TestTraceIDField: trace_id is written before the chain fields when set,
// and an event without it encodes, and so hashes, byte for byte as events
// did before the field existed (the trail in audittest's testdata verifies
// unchanged, too).
func TestTraceIDField(t *testing.T) {
	base := Event{Version: 1, ID: "E1", Time: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), RequestID: "r1",
		Decision: DecisionAllow, Status: 200, Claims: map[string]string{"ver": "2.0"}, Chain: "gw/1", Seq: 3, PrevHash: "ab"}
	const before = `{"version":1,"id":"E1","time":"2026-11-25T12:00:00.000000Z","request_id":"r1","decision":"allow","status":200,"claims":{"ver":"2.0"},"chain":"gw/1","seq":3,"prev_hash":"ab"}`
	if got := base.Canonical(); string(got) != before {
		t.Errorf("without a trace id:\n got %s\nwant %s", got, before)
	}
	withTrace := base
	withTrace.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const after = `{"version":1,"id":"E1","time":"2026-11-25T12:00:00.000000Z","request_id":"r1","decision":"allow","status":200,"claims":{"ver":"2.0"},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","chain":"gw/1","seq":3,"prev_hash":"ab"}`
	if got := withTrace.Canonical(); string(got) != after {
		t.Errorf("with a trace id:\n got %s\nwant %s", got, after)
	}
	// Sealing splices the chain fields after it.
	unchained := withTrace
	unchained.Chain, unchained.Seq, unchained.PrevHash = "", 0, ""
	sealed := unchained
	if got := sealed.seal(unchained.Canonical(), "gw/1", 3, "ab"); !bytes.Equal(got, []byte(after)) {
		t.Errorf("seal:\n got %s\nwant %s", got, after)
	}
	withTrace.Hash = withTrace.ChainHash()
	data, _ := withTrace.MarshalJSON()
	back, err := DecodeStored(data, "")
	if err != nil || back.TraceID != withTrace.TraceID || back.Hash != withTrace.Hash {
		t.Errorf("DecodeStored = %+v, %v; want the trace id back", back, err)
	}
}
