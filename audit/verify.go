package audit

import (
	"context"
	"crypto"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Report says what Verify checked.
type Report struct {
	Events      int64 // events read
	Checkpoints int   // checkpoints read
	Signed      bool  // checkpoint signatures were checked (a key was given)
	Chains      []ChainReport
}

// ChainReport describes one writer's chain as stored.
type ChainReport struct {
	Chain  string
	Events int64
	// First and Last are the sequence numbers of the first and last stored
	// events; both 0 when retention left only the anchoring checkpoint.
	First, Last int64
	// Anchor is the sequence number the first stored event follows: 0 for
	// the chain's start, or that of the checkpoint retention kept.
	Anchor int64
	// LastCheckpoint is the highest sequence number a checkpoint covers.
	LastCheckpoint int64
	// Unanchored counts the events after LastCheckpoint. The hash chain
	// covers them, but someone able to write the store could remove or
	// rewrite them without a trace until the writer's next checkpoint.
	Unanchored int64
	// Final is true when the writer closed the chain with a final checkpoint.
	Final bool
}

type chainState struct {
	cps     map[int64]Checkpoint // by Seq; a final checkpoint wins over a plain one at the same Seq
	final   int64                // Seq of the final checkpoint, -1 if none
	started bool
	next    int64  // expected Seq of the next event
	prev    string // expected PrevHash of the next event
	rep     ChainReport
	lastPos int64
}

func (st *chainState) maxCheckpoint() int64 {
	m := int64(-1)
	for s := range st.cps {
		m = max(m, s)
	}
	return m
}

// Verify reads every checkpoint and every event of s and checks the trail is
// what the recorders wrote: each event decodes in canonical form and hashes
// to its stored hash; each chain's events follow one another in position
// order with consecutive sequence numbers and hash links; the first stored
// event of a chain is its start or follows a checkpoint (retention); every
// checkpoint that covers a stored event agrees with its hash; no event
// follows a final checkpoint; no checkpoint covers an event that is missing.
// An edited, deleted, inserted or reordered event therefore fails Verify,
// and the *ChainError (wrapping ErrChainBroken) names the first bad position.
//
// pub is the checkpoint signing key's public half: a crypto.PublicKey
// (Ed25519, ECDSA or RSA), a []crypto.PublicKey after a key rotation, or nil
// to check the hash chains only. With a key, every checkpoint must carry a
// good signature, and every chain must have one, so a chain forged as a
// whole is found too.
//
// What Verify cannot see: events appended after a chain's last checkpoint
// by someone able to compute hashes and write the store, and the deletion of
// a chain's newest events after its last checkpoint; Report.Chains says how
// many events each chain has there (Unanchored).
func Verify(ctx context.Context, s Sink, pub crypto.PublicKey) (*Report, error) {
	keys, err := newKeySet(pub)
	if err != nil {
		return nil, err
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: reading checkpoints: %w", err)
	}
	rep := &Report{Checkpoints: len(cps), Signed: keys != nil}
	chains := map[string]*chainState{}
	state := func(chain string) *chainState {
		st := chains[chain]
		if st == nil {
			st = &chainState{cps: map[int64]Checkpoint{}, final: -1, rep: ChainReport{Chain: chain}}
			chains[chain] = st
		}
		return st
	}
	for _, cp := range cps {
		if keys != nil {
			if err := keys.verify(&cp); err != nil {
				return rep, &ChainError{Chain: cp.Chain, Seq: cp.Seq, Reason: "checkpoint " + err.Error()}
			}
		}
		st := state(cp.Chain)
		if old, ok := st.cps[cp.Seq]; ok && old.Hash != cp.Hash {
			return rep, &ChainError{Chain: cp.Chain, Seq: cp.Seq, Reason: "two checkpoints at this seq disagree on its hash"}
		}
		if cp.Final && (st.final < 0 || cp.Seq < st.final) {
			st.final = cp.Seq
		}
		st.cps[cp.Seq] = cp
	}

	err = s.Scan(ctx, func(row Row) error {
		rep.Events++
		e, err := DecodeStored(row.Data, row.Hash)
		if err != nil {
			return &ChainError{Chain: e.Chain, Seq: e.Seq, Position: row.Pos, Reason: "event edited: " + err.Error()}
		}
		bad := func(seq int64, format string, args ...any) error {
			return &ChainError{Chain: e.Chain, Seq: seq, Position: row.Pos, Reason: fmt.Sprintf(format, args...)}
		}
		if e.Version != SchemaVersion {
			return bad(e.Seq, "event edited: schema version %d", e.Version)
		}
		st := state(e.Chain)
		if !st.started {
			st.started = true
			if keys != nil && len(st.cps) == 0 {
				return bad(e.Seq, "the chain has no signed checkpoint: not written by a recorder holding the key")
			}
			switch cp, ok := st.cps[e.Seq-1]; {
			case e.Seq == 1:
				st.next, st.prev = 1, ""
			case ok && e.Seq > 1:
				st.next, st.prev = e.Seq, cp.Hash
				st.rep.Anchor = cp.Seq
			default:
				missing := int64(1)
				for s := range st.cps {
					if s < e.Seq {
						missing = max(missing, s+1)
					}
				}
				return bad(missing, "the chain starts at seq %d: events %d to %d deleted (no checkpoint anchors seq %d)", e.Seq, missing, e.Seq-1, e.Seq-1)
			}
			st.rep.First = e.Seq
		}
		switch {
		case e.Seq > st.next:
			return bad(st.next, "seq %d follows seq %d: event %d deleted or moved", e.Seq, st.next-1, st.next)
		case e.Seq < st.next:
			return bad(e.Seq, "seq %d comes after seq %d: event inserted, duplicated or moved", e.Seq, st.next-1)
		case st.final >= 0 && e.Seq > st.final:
			return bad(e.Seq, "event after the chain's final checkpoint at seq %d: inserted", st.final)
		case e.PrevHash != st.prev:
			return bad(e.Seq, "prev_hash does not match the hash of seq %d: this event or seq %d was edited or replaced", e.Seq-1, e.Seq-1)
		case hashCanonical(e.Canonical()) != e.Hash:
			return bad(e.Seq, "content does not match its hash: event edited")
		}
		if cp, ok := st.cps[e.Seq]; ok && cp.Hash != e.Hash {
			return bad(e.Seq, "hash differs from the signed checkpoint at this seq: event edited and re-hashed")
		}
		st.next, st.prev = e.Seq+1, e.Hash
		st.rep.Last, st.rep.Events = e.Seq, st.rep.Events+1
		st.lastPos = row.Pos
		return nil
	})
	if err != nil {
		if _, ok := err.(*ChainError); ok {
			return rep, err
		}
		return rep, fmt.Errorf("audit: reading events: %w", err)
	}

	for _, name := range slices.Sorted(maps.Keys(chains)) {
		st := chains[name]
		maxCP := st.maxCheckpoint()
		end := st.rep.Last
		if !st.started { // retention kept the anchor only (or a chain never got its first event)
			end = maxCP
			for s := range st.cps {
				end = min(end, s)
			}
		}
		if maxCP > end {
			return rep, &ChainError{Chain: name, Seq: end + 1, Position: st.lastPos,
				Reason: fmt.Sprintf("a checkpoint covers seq %d but the chain ends at seq %d: events %d to %d deleted", maxCP, end, end+1, maxCP)}
		}
		st.rep.LastCheckpoint = max(maxCP, 0)
		st.rep.Unanchored = max(st.rep.Last-maxCP, 0)
		st.rep.Final = st.final >= 0
		rep.Chains = append(rep.Chains, st.rep)
	}
	return rep, nil
}

// Prune deletes old events without breaking Verify: for each chain it finds
// the newest checkpoint made before before (and signed by pub, when pub is
// not nil; see Verify for what pub may be) and deletes the chain's events up
// to that checkpoint's sequence number, and the checkpoints below it. The
// checkpoint stays and anchors the rest of the chain. Retention is therefore
// as fine as the checkpoint interval: events newer than the newest such
// checkpoint stay even when older than before. It returns how many events it
// deleted.
func Prune(ctx context.Context, s Sink, before time.Time, pub crypto.PublicKey) (int64, error) {
	keys, err := newKeySet(pub)
	if err != nil {
		return 0, err
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: reading checkpoints: %w", err)
	}
	cut := map[string]int64{}
	for _, cp := range cps {
		if cp.Seq == 0 || !cp.Time.Before(before) {
			continue
		}
		if keys != nil {
			if err := keys.verify(&cp); err != nil {
				return 0, &ChainError{Chain: cp.Chain, Seq: cp.Seq, Reason: "checkpoint " + err.Error()}
			}
		}
		cut[cp.Chain] = max(cut[cp.Chain], cp.Seq)
	}
	var total int64
	for _, chain := range slices.Sorted(maps.Keys(cut)) {
		n, err := s.DeleteThrough(ctx, chain, cut[chain])
		total += n
		if err != nil {
			return total, fmt.Errorf("audit: pruning chain %q: %w", chain, err)
		}
	}
	return total, nil
}
