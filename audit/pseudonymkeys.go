package audit

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
)

// PseudonymKeys holds the pseudonym keys of a trail: the current key, which
// names principals in new events, and previous ones, under which older
// events were written and by which readers still find them.
//
// A writer gives Principal to whatever fills events (the pipeline) and the
// same PseudonymKeys to its Recorder (Config.Pseudonyms), and calls Rotate
// when the key changes. A rotation is one atomic swap: each pseudonym is
// made under one key, nothing in flight fails, and the Recorder records in
// each event the id of the key that made its principal (Event.PseudonymKey),
// also for a request that took its pseudonym before a swap and is recorded
// after it. Readers find a subject's events under every key with
// Principals.
//
// It is safe for concurrent use.
type PseudonymKeys struct {
	ring   atomic.Pointer[[]*Pseudonymizer] // current first, then previous; never empty
	rotate sync.Mutex                       // serialises Rotate

	// Pseudonyms Principal made that no Recorder has recorded yet, with the
	// key that made each: what tells a Recorder, after a swap, which key
	// made an event's principal. Two generations bound what a pseudonym
	// made but never recorded (a request abandoned between the two) costs.
	mu            sync.Mutex
	issued, older map[string]issue
}

type issue struct {
	keyID string
	n     int // made and not yet recorded
}

// issuedLimit is how many pseudonyms waiting to be recorded one generation
// holds: far more than requests in flight. When it is full, the older
// generation, which holds only pseudonyms waiting since before the last
// change of generation, is forgotten.
const issuedLimit = 1 << 16

// NewPseudonymKeys returns the keys with current in use and previous kept
// for readers, in the order given. current must not be nil; a key given
// twice (the same KeyID) is kept once, at its first place.
func NewPseudonymKeys(current *Pseudonymizer, previous ...*Pseudonymizer) *PseudonymKeys {
	if current == nil {
		panic("audit: NewPseudonymKeys without a current key")
	}
	k := &PseudonymKeys{issued: map[string]issue{}}
	r := keyRing(append([]*Pseudonymizer{current}, previous...))
	k.ring.Store(&r)
	return k
}

// keyRing drops nil keys and repeated key ids, keeping the first of each.
func keyRing(keys []*Pseudonymizer) []*Pseudonymizer {
	out := make([]*Pseudonymizer, 0, len(keys))
	seen := map[string]bool{}
	for _, p := range keys {
		if p != nil && !seen[p.id] {
			seen[p.id] = true
			out = append(out, p)
		}
	}
	return out
}

// Current returns the key new pseudonyms are made with.
func (k *PseudonymKeys) Current() *Pseudonymizer { return (*k.ring.Load())[0] }

// All returns every key, the current one first, then the previous ones,
// most recently retired first.
func (k *PseudonymKeys) All() []*Pseudonymizer {
	r := *k.ring.Load()
	return append([]*Pseudonymizer(nil), r...)
}

// Rotate makes next the current key; the key it replaces becomes the first
// previous one. It reports whether anything changed: false when next
// already is the current key (the same KeyID). Pseudonyms made before the
// swap keep the id of the key that made them.
func (k *PseudonymKeys) Rotate(next *Pseudonymizer) bool {
	if next == nil {
		return false
	}
	k.rotate.Lock()
	defer k.rotate.Unlock()
	old := *k.ring.Load()
	if old[0].id == next.id {
		return false
	}
	r := keyRing(append([]*Pseudonymizer{next}, old...))
	k.ring.Store(&r)
	return true
}

// Principal returns the pseudonym of subject in tenant under the current
// key (Pseudonymizer.Principal), and remembers which key made it until a
// Recorder whose Config.Pseudonyms is k records an event naming it.
func (k *PseudonymKeys) Principal(tenant, subject string) string {
	p := k.Current()
	s := p.Principal(tenant, subject)
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.issued[s]
	if !ok {
		if e, ok = k.older[s]; ok {
			delete(k.older, s)
		}
	}
	if !ok {
		e = issue{keyID: p.id}
	}
	e.n++
	k.issued[s] = e
	if len(k.issued) >= issuedLimit {
		k.older, k.issued = k.issued, map[string]issue{}
	}
	return s
}

// Principals returns the pseudonyms of subject in tenant under every key,
// the current one first: what a reader looks for to find all of a
// subject's events. It remembers nothing.
func (k *PseudonymKeys) Principals(tenant, subject string) []string {
	r := *k.ring.Load()
	out := make([]string, len(r))
	for i, p := range r {
		out[i] = p.Principal(tenant, subject)
	}
	return out
}

// recorded forgets the pseudonyms of ev that Principal made, now that ev
// is being recorded, and returns the id of the key that made ev.Principal:
// "" when Principal did not make it (or forgot it).
func (k *PseudonymKeys) recorded(ev *Event) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	id := k.take(ev.Principal)
	for _, a := range ev.Agents {
		if strings.HasPrefix(a.Subject, PseudonymPrefix) {
			k.take(a.Subject)
		}
	}
	return id
}

// take forgets one making of s and returns the id of the key that made it;
// the caller holds k.mu.
func (k *PseudonymKeys) take(s string) string {
	if s == "" {
		return ""
	}
	for _, m := range []map[string]issue{k.issued, k.older} {
		e, ok := m[s]
		if !ok {
			continue
		}
		if e.n--; e.n == 0 {
			delete(m, s)
		} else {
			m[s] = e
		}
		return e.keyID
	}
	return ""
}

// LogValue names the keys by their ids, never their bytes.
func (k *PseudonymKeys) LogValue() slog.Value {
	r := *k.ring.Load()
	ids := make([]string, len(r)-1)
	for i, p := range r[1:] {
		ids[i] = p.id
	}
	return slog.GroupValue(slog.String("current", r[0].id), slog.Any("previous", ids))
}
