package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// SchemaVersion is the version of the event schema this package writes, in
// every event's "version" field. docs/audit.md documents it; a change to a
// field's meaning or to the canonical encoding gets a new version.
const SchemaVersion = 1

// TimeLayout is how event and checkpoint times are written: UTC, fixed width,
// microseconds. Fixed width makes the text order the time order, which the
// SQL sinks use for range queries.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Decisions an Event may carry.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
	DecisionError = "error" // the request failed before or after a decision: 401, 5xx
)

// Event is one request, whatever its outcome: plain data, filled by the entry
// point (gateway, Lambda middleware) and written by a Recorder. Identity
// fields hold pseudonyms (see Pseudonymizer), never names or addresses.
//
// The JSON field names, in docs/audit.md, are the documented schema. Empty
// fields are left out of the JSON.
type Event struct {
	Version   int       // SchemaVersion; set by the Recorder
	ID        string    // event id; the Recorder sets a random one if empty
	Time      time.Time // when the request arrived; the Recorder sets Now if zero
	RequestID string    // gatehouse request id (X-Request-Id)
	Replica   string    // the gateway replica that served the request; Recorder fills from Config

	Tenant        string  // the principal's tenant (Entra tid)
	Principal     string  // pseudonym of the principal (Pseudonymizer.Principal), never the subject in clear
	PseudonymKey  string  // KeyID of the key that made Principal; "" if unknown (events written before key ids) or no principal
	PrincipalKind string  // "user" or "app"
	App           string  // the calling client (azp/appid)
	Agents        []Agent // who acted for whom, current actor first

	Action   string // what was asked, e.g. "invoke"
	Resource string // what it was asked of, e.g. the request path
	Route    string // the configured route that matched; "" if none did

	Decision        string   // DecisionAllow, DecisionDeny or DecisionError
	Policies        []string // ids of the policies that decided
	Role            string   // the logical role granted
	STSSession      string   // the STS role session name
	Target          string   // the function or upstream invoked; "" if the request was refused before it
	TargetRequestID string   // the target's request id, e.g. the Lambda request id

	Status        int    // HTTP status returned to the caller; 0 if none was sent
	LatencyMicros int64  // time from request to response, in microseconds
	Check         string // the check that failed, e.g. authn "signature" or "exp"
	ErrorClass    string // the class of error, e.g. "invalid_token", "upstream_timeout"

	Claims map[string]string // allow-listed claims only; see SanitizeClaims

	TraceID string // the request's trace id (W3C, 32 hex digits) when gatehouse traces requests; "" otherwise

	// Chain fields, set by the Recorder; any value the caller sets is replaced.
	Chain    string // id of the writer's chain
	Seq      int64  // position in the chain, from 1
	PrevHash string // Hash of the previous event in the chain; "" for Seq 1
	Hash     string // ChainHash of this event
}

// Agent is one link of an agent chain: who acted, for whom the next link (or
// the principal) is.
type Agent struct {
	Subject string // the acting identity: a pseudonym if it is a user
	App     string // the acting client application
	Via     string // how it acts: "obo", "act", ...
}

// eventJSON is the wire form of Event, field for field, in schema order. It
// exists so the wire format is fixed here rather than by struct tags on the
// plain-data type, and so Time has its fixed-width layout.
//
// Fields added to schema version 1 after its first events (pseudonym_key,
// trace_id) are omitempty and placed before the chain fields: an event
// without them encodes, and so hashes, exactly as it did before the fields
// existed, and seal's splice of the chain fields still ends the encoding.
type eventJSON struct {
	Version         int               `json:"version"`
	ID              string            `json:"id"`
	Time            string            `json:"time"`
	RequestID       string            `json:"request_id,omitempty"`
	Replica         string            `json:"replica,omitempty"`
	Tenant          string            `json:"tenant,omitempty"`
	Principal       string            `json:"principal,omitempty"`
	PseudonymKey    string            `json:"pseudonym_key,omitempty"`
	PrincipalKind   string            `json:"principal_kind,omitempty"`
	App             string            `json:"app,omitempty"`
	Agents          []agentJSON       `json:"agents,omitempty"`
	Action          string            `json:"action,omitempty"`
	Resource        string            `json:"resource,omitempty"`
	Route           string            `json:"route,omitempty"`
	Decision        string            `json:"decision"`
	Policies        []string          `json:"policies,omitempty"`
	Role            string            `json:"role,omitempty"`
	STSSession      string            `json:"sts_session,omitempty"`
	Target          string            `json:"target,omitempty"`
	TargetRequestID string            `json:"target_request_id,omitempty"`
	Status          int               `json:"status,omitempty"`
	LatencyMicros   int64             `json:"latency_us,omitempty"`
	Check           string            `json:"check,omitempty"`
	ErrorClass      string            `json:"error_class,omitempty"`
	Claims          map[string]string `json:"claims,omitempty"`
	TraceID         string            `json:"trace_id,omitempty"`
	Chain           string            `json:"chain,omitempty"`
	Seq             int64             `json:"seq,omitempty"`
	PrevHash        string            `json:"prev_hash,omitempty"`
	Hash            string            `json:"hash,omitempty"`
}

type agentJSON struct {
	Subject string `json:"subject,omitempty"`
	App     string `json:"app,omitempty"`
	Via     string `json:"via,omitempty"`
}

// FormatTime formats t as events store it (TimeLayout, UTC). A zero t gives "".
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

func (e *Event) wire() eventJSON {
	w := eventJSON{
		Version: e.Version, ID: e.ID, Time: FormatTime(e.Time), RequestID: e.RequestID, Replica: e.Replica,
		Tenant: e.Tenant, Principal: e.Principal, PseudonymKey: e.PseudonymKey, PrincipalKind: e.PrincipalKind, App: e.App,
		Action: e.Action, Resource: e.Resource, Route: e.Route,
		Decision: e.Decision, Policies: e.Policies, Role: e.Role, STSSession: e.STSSession,
		Target: e.Target, TargetRequestID: e.TargetRequestID,
		Status: e.Status, LatencyMicros: e.LatencyMicros, Check: e.Check, ErrorClass: e.ErrorClass,
		Claims: e.Claims, TraceID: e.TraceID, Chain: e.Chain, Seq: e.Seq, PrevHash: e.PrevHash, Hash: e.Hash,
	}
	if len(e.Agents) > 0 {
		w.Agents = make([]agentJSON, len(e.Agents))
		for i, a := range e.Agents {
			w.Agents[i] = agentJSON(a)
		}
	}
	return w
}

// MarshalJSON encodes e in the documented schema.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(e.wire())
}

// UnmarshalJSON decodes the documented schema strictly: unknown fields,
// trailing data and a time not in TimeLayout are errors.
func (e *Event) UnmarshalJSON(data []byte) error {
	var w eventJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("audit: event: %w", err)
	}
	if dec.More() {
		return errors.New("audit: event: trailing data")
	}
	var t time.Time
	if w.Time != "" {
		var err error
		if t, err = time.Parse(TimeLayout, w.Time); err != nil {
			return fmt.Errorf("audit: event time: %w", err)
		}
	}
	*e = Event{
		Version: w.Version, ID: w.ID, Time: t, RequestID: w.RequestID, Replica: w.Replica,
		Tenant: w.Tenant, Principal: w.Principal, PseudonymKey: w.PseudonymKey, PrincipalKind: w.PrincipalKind, App: w.App,
		Action: w.Action, Resource: w.Resource, Route: w.Route,
		Decision: w.Decision, Policies: w.Policies, Role: w.Role, STSSession: w.STSSession,
		Target: w.Target, TargetRequestID: w.TargetRequestID,
		Status: w.Status, LatencyMicros: w.LatencyMicros, Check: w.Check, ErrorClass: w.ErrorClass,
		Claims: w.Claims, TraceID: w.TraceID, Chain: w.Chain, Seq: w.Seq, PrevHash: w.PrevHash, Hash: w.Hash,
	}
	if len(w.Agents) > 0 {
		e.Agents = make([]Agent, len(w.Agents))
		for i, a := range w.Agents {
			e.Agents[i] = Agent(a)
		}
	}
	return nil
}

// Canonical returns the canonical encoding of e: its JSON (MarshalJSON) with
// the Hash field left out. Fields appear in schema order, claims in sorted
// key order, times in TimeLayout; encoding/json escapes <, > and & and
// replaces invalid UTF-8. The SQL sinks store exactly these bytes, and
// ChainHash hashes them.
func (e *Event) Canonical() []byte {
	w := e.wire()
	w.Hash = ""
	b, err := json.Marshal(w)
	if err != nil {
		// Only strings, integers, slices and a map[string]string: encoding
		// cannot fail.
		panic("audit: encoding an event: " + err.Error())
	}
	return b
}

// seal sets the chain fields of e, whose Canonical() without chain fields
// is body, and returns its canonical encoding. The chain fields are the
// last ones Canonical writes, so they are spliced onto body rather than
// encoding the whole event again in the Recorder's single writer goroutine.
// TestSealIsCanonical holds the two equal.
func (e *Event) seal(body []byte, chain string, seq int64, prev string) []byte {
	e.Chain, e.Seq, e.PrevHash = chain, seq, prev
	out := make([]byte, 0, len(body)+len(chain)+len(prev)+48)
	out = append(out, body[:len(body)-1]...)
	if chain != "" {
		c, _ := json.Marshal(chain)
		out = append(append(out, `,"chain":`...), c...)
	}
	if seq != 0 {
		out = append(append(out, `,"seq":`...), strconv.FormatInt(seq, 10)...)
	}
	if prev != "" {
		p, _ := json.Marshal(prev)
		out = append(append(out, `,"prev_hash":`...), p...)
	}
	out = append(out, '}')
	e.Hash = hashCanonical(out)
	return out
}

// eventHashDomain separates event hashes from every other use of SHA-256.
const eventHashDomain = "gatehouse-audit-event-v1\n"

// ChainHash returns the hash that links e into its chain: hex SHA-256 over
// "gatehouse-audit-event-v1\n" followed by Canonical(), which includes Chain,
// Seq and PrevHash but not Hash.
func (e *Event) ChainHash() string {
	return hashCanonical(e.Canonical())
}

func hashCanonical(canonical []byte) string {
	h := sha256.New()
	h.Write([]byte(eventHashDomain))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// DecodeStored decodes an event as a sink stored it, and checks it is in
// canonical form: re-encoding must give the same bytes, so an edit that a
// lenient decoder would hide (a duplicate or unknown key, a re-ordered field,
// altered whitespace) is caught. data is either Canonical() (and hash the
// stored hash) or MarshalJSON() with the hash inside (and hash "").
func DecodeStored(data []byte, hash string) (Event, error) {
	var e Event
	if err := e.UnmarshalJSON(data); err != nil {
		return Event{}, err
	}
	var again []byte
	if hash == "" {
		again, _ = e.MarshalJSON()
	} else {
		if e.Hash != "" {
			return e, errors.New("audit: stored event carries a hash of its own")
		}
		again = e.Canonical()
		e.Hash = hash
	}
	if !bytes.Equal(again, data) {
		return e, errors.New("audit: stored event is not in canonical form")
	}
	return e, nil
}

// validate checks what the Recorder requires of an event.
func (e *Event) validate() error {
	switch e.Decision {
	case DecisionAllow, DecisionDeny, DecisionError:
	default:
		return fmt.Errorf("audit: decision %q is not allow, deny or error", e.Decision)
	}
	if e.LatencyMicros < 0 {
		return errors.New("audit: negative latency")
	}
	return nil
}
