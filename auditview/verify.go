package auditview

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// verification is the result of one run of audit.Verify, kept until the
// next: a page shows it with its age instead of reading the whole trail.
type verification struct {
	Started, Finished time.Time
	Report            *audit.Report
	Broken            *audit.ChainError // the first bad place, if any
	Err               error             // the trail could not be read
	// Checkpoints are the newest checkpoint of each chain, by chain id.
	Checkpoints map[string]audit.Checkpoint
	// Newest is the newest checkpoint of all (zero if none).
	Newest audit.Checkpoint
}

// Took is how long the run took.
func (v *verification) Took() time.Duration { return v.Finished.Sub(v.Started) }

// Intact reports whether the run found the trail as written.
func (v *verification) Intact() bool { return v.Broken == nil && v.Err == nil }

// verifier runs audit.Verify in the background, one run at a time, and
// keeps the last result.
type verifier struct {
	store audit.Sink
	key   any // crypto.PublicKey, []crypto.PublicKey or nil
	now   func() time.Time
	onErr func(error)

	mu      sync.Mutex
	ctx     context.Context
	running *time.Time // when the current run started
	last    *verification
}

// start begins a run unless one is going; it reports whether it did.
func (vf *verifier) start() bool {
	vf.mu.Lock()
	defer vf.mu.Unlock()
	if vf.running != nil || vf.ctx == nil {
		return false
	}
	t := vf.now()
	vf.running = &t
	go vf.run(vf.ctx, t)
	return true
}

func (vf *verifier) run(ctx context.Context, started time.Time) {
	res := &verification{Started: started}
	res.Report, res.Err = audit.Verify(ctx, vf.store, vf.key)
	var ce *audit.ChainError
	if errors.As(res.Err, &ce) {
		res.Broken, res.Err = ce, nil
	}
	if res.Err == nil {
		cps, err := vf.store.Checkpoints(ctx)
		if err != nil {
			res.Err = err
		}
		res.Checkpoints = map[string]audit.Checkpoint{}
		for _, cp := range cps {
			if old, ok := res.Checkpoints[cp.Chain]; !ok || cp.Seq > old.Seq {
				res.Checkpoints[cp.Chain] = cp
			}
			if cp.Time.After(res.Newest.Time) {
				res.Newest = cp
			}
		}
	}
	if res.Err != nil && vf.onErr != nil {
		vf.onErr(res.Err)
	}
	res.Finished = vf.now()
	vf.mu.Lock()
	vf.last, vf.running = res, nil
	vf.mu.Unlock()
}

// state returns the last result (nil before the first run ends) and when
// the current run started (nil if none runs).
func (vf *verifier) state() (*verification, *time.Time) {
	vf.mu.Lock()
	defer vf.mu.Unlock()
	return vf.last, vf.running
}

// chainRows are a verification's chains for display, those with the
// newest checkpoint first, at most n, with the number left out.
func (v *verification) chainRows(n int) ([]chainRow, int) {
	if v == nil || v.Report == nil {
		return nil, 0
	}
	var rows []chainRow
	for _, c := range v.Report.Chains {
		r := chainRow{ChainReport: c}
		if cp, ok := v.Checkpoints[c.Chain]; ok {
			r.CheckpointTime = cp.Time
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b chainRow) int { return b.CheckpointTime.Compare(a.CheckpointTime) })
	if len(rows) > n {
		return rows[:n], len(rows) - n
	}
	return rows, 0
}

type chainRow struct {
	audit.ChainReport
	CheckpointTime time.Time // of its newest checkpoint
}

// unanchored totals the events after each chain's last checkpoint.
func (v *verification) unanchored() int64 {
	var n int64
	if v != nil && v.Report != nil {
		for _, c := range v.Report.Chains {
			n += c.Unanchored
		}
	}
	return n
}

// checkpointFor returns the newest checkpoint of chain, and whether it
// covers seq (a signed statement of the chain up to and with seq).
func (v *verification) checkpointFor(chain string, seq int64) (audit.Checkpoint, bool) {
	if v == nil {
		return audit.Checkpoint{}, false
	}
	cp, ok := v.Checkpoints[chain]
	return cp, ok && cp.Seq >= seq
}
