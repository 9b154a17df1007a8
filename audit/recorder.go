package audit

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says when Record returns.
type Mode string

const (
	// Sync: Record returns once the event is committed to the sink (or, with
	// Spool, written and synced to the spool file). Concurrent Records share
	// one transaction (group commit). The default.
	Sync Mode = "sync"
	// Async: Record returns once the event is queued; a writer stores queued
	// events in batches. Events still queued when the process dies are lost:
	// Recorder.Pending counts them, at most QueueSize + BatchSize.
	Async Mode = "async"
)

// Fallback says what happens when the sink cannot store events.
type Fallback string

const (
	// FailClosed: Record returns ErrUnavailable and the caller refuses the
	// request. In Async mode the batch being written is retried until the
	// sink returns (or Close), and Record fails fast meanwhile. The default.
	FailClosed Fallback = "fail_closed"
	// Spool: events go to a local file (synced per batch) and are replayed
	// into the sink, in order, when it returns; Record succeeds meanwhile.
	Spool Fallback = "spool"
)

// Config configures a Recorder. Zero values mean the documented defaults.
type Config struct {
	// Sink stores the events; required. The Recorder does not close it.
	Sink Sink
	// Mode is Sync or Async; "" means Sync.
	Mode Mode
	// OnUnavailable is FailClosed or Spool; "" means FailClosed.
	OnUnavailable Fallback
	// SpoolDir holds the spool files with Spool; required then. One Recorder
	// per directory; a spool left by an earlier process is replayed first.
	SpoolDir string
	// Replica names this gateway replica in events and chain ids; "" means
	// the host name.
	Replica string
	// Pseudonyms are the keys whose Principal names the principals of the
	// events recorded: Record sets an event's PseudonymKey, when the caller
	// left it empty, to the id of the key that made its Principal, even if
	// the keys rotated in between. nil leaves PseudonymKey as the caller
	// set it.
	Pseudonyms *PseudonymKeys
	// Signer signs checkpoints: an Ed25519, ECDSA or RSA private key. nil
	// means no checkpoints: chains still link, but Verify then cannot tell a
	// chain forged as a whole, nor anchor retention.
	Signer crypto.Signer
	// CheckpointEvery is how many events a checkpoint covers at most; 0
	// means 1000.
	CheckpointEvery int
	// CheckpointInterval is the longest time between checkpoints while
	// events arrive; 0 means one minute.
	CheckpointInterval time.Duration
	// BatchSize is the most events per transaction; 0 means 512.
	BatchSize int
	// QueueSize bounds the queue of events waiting for the writer (Async);
	// Record blocks (backpressure) while it is full. 0 means 8192.
	QueueSize int
	// FlushInterval is how long, in Async mode, the writer waits for a
	// batch to fill before writing it; 0 means 10ms.
	FlushInterval time.Duration
	// WriteTimeout bounds one write to the sink; 0 means 5s.
	WriteTimeout time.Duration
	// RetryInterval is how often an unavailable sink is tried again; 0
	// means one second.
	RetryInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives sink failures; nil means discard.
	Logger *slog.Logger
}

// Recorder chains events and writes them to a Sink through a single writer
// goroutine. Each Recorder writes its own chain (id: replica "/" random),
// and starts a new one whenever a write fails, since a failed write may
// still have committed and no sequence number may be used twice.
//
// It is safe for concurrent use.
type Recorder struct {
	cfg     Config
	keyID   string
	log     *slog.Logger
	in      chan item
	closing chan struct{}
	done    chan struct{}

	mu      sync.RWMutex
	closed  bool
	senders sync.WaitGroup

	pending atomic.Int64
	down    atomic.Bool // the last write failed; FailClosed+Async fails fast
	lost    int64       // events dropped (Async FailClosed at Close); writer only
	errs    []error     // writer only, returned by Close

	// Writer goroutine state.
	chain    string
	seq      int64
	head     string
	started  bool // the chain's genesis checkpoint is stored
	sinceCP  int
	lastCP   time.Time
	maxTime  time.Time
	spool    *spool
	spooling bool
	retry    *time.Timer
}

type item struct {
	ev   Event
	body []byte     // ev.Canonical() before the chain fields are set
	done chan error // Sync only
}

// NewRecorder checks cfg and starts the writer.
func NewRecorder(cfg Config) (*Recorder, error) {
	if cfg.Sink == nil {
		return nil, errors.New("audit: Config.Sink is required")
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = Sync
	case Sync, Async:
	default:
		return nil, fmt.Errorf("audit: mode %q is not sync or async", cfg.Mode)
	}
	switch cfg.OnUnavailable {
	case "":
		cfg.OnUnavailable = FailClosed
	case FailClosed:
	case Spool:
		if cfg.SpoolDir == "" {
			return nil, errors.New("audit: on_unavailable spool needs a spool directory")
		}
	default:
		return nil, fmt.Errorf("audit: on_unavailable %q is not fail_closed or spool", cfg.OnUnavailable)
	}
	if cfg.Replica == "" {
		cfg.Replica, _ = os.Hostname()
	}
	cfg.Replica = clean(cfg.Replica, 128)
	defaults := []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.CheckpointInterval, time.Minute}, {&cfg.FlushInterval, 10 * time.Millisecond}, {&cfg.WriteTimeout, 5 * time.Second}, {&cfg.RetryInterval, time.Second}}
	for _, d := range defaults {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = 1000
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Recorder{cfg: cfg, log: cfg.Logger, closing: make(chan struct{}), done: make(chan struct{})}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Signer != nil {
		var err error
		if r.keyID, err = checkSigner(cfg.Signer); err != nil {
			return nil, err
		}
	}
	queue := cfg.QueueSize
	if cfg.Mode == Sync {
		queue = 2 * cfg.BatchSize // callers wait anyway; enough for the next group
	}
	r.in = make(chan item, queue)
	r.retry = time.NewTimer(time.Hour)
	r.retry.Stop()
	if cfg.OnUnavailable == Spool {
		sp, err := openSpool(cfg.SpoolDir)
		if err != nil {
			return nil, err
		}
		r.spool = sp
		if !sp.empty() { // left by an earlier process: replay before anything new
			r.spooling = true
			r.down.Store(true)
			r.retry.Reset(0)
		}
	}
	r.newChain()
	go r.run()
	return r, nil
}

// Record stores one event, per Config.Mode and OnUnavailable. It first fills
// ev's ID (random), Time (Now), Version, Replica and, with Config.Pseudonyms,
// PseudonymKey when empty; it then stores a cleaned copy (every string field
// as SanitizeClaims describes, time in UTC microseconds, no PseudonymKey
// without a Principal) with the chain fields set, and leaves ev's chain
// fields alone.
//
// In Sync mode a nil error means the event is committed (or spooled); an
// error wrapping ErrUnavailable means it is not, and with FailClosed the
// caller must refuse the request. ctx only bounds the wait for room in the
// queue: once queued, the outcome is awaited (each write is bounded by
// WriteTimeout). An invalid event (unknown Decision) is an error of its own.
func (r *Recorder) Record(ctx context.Context, ev *Event) error {
	if r.cfg.Pseudonyms != nil {
		// First, so that even an event refused below releases what
		// Principal remembered for it.
		if id := r.cfg.Pseudonyms.recorded(ev); ev.PseudonymKey == "" {
			ev.PseudonymKey = id
		}
	}
	if err := ev.validate(); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = rand.Text()
	}
	if ev.Time.IsZero() {
		ev.Time = r.cfg.Now()
	}
	ev.Version = SchemaVersion
	if ev.Replica == "" {
		ev.Replica = r.cfg.Replica
	}
	it := item{ev: cleanEvent(ev)}
	it.ev.Time = it.ev.Time.UTC().Truncate(time.Microsecond)
	it.ev.Chain, it.ev.Seq, it.ev.PrevHash, it.ev.Hash = "", 0, "", ""
	if it.ev.Principal == "" {
		it.ev.PseudonymKey = "" // it names the key of a pseudonym there is none of
	}
	it.body = it.ev.Canonical() // here, in the caller's goroutine, not the writer's

	if r.cfg.Mode == Async && r.cfg.OnUnavailable == FailClosed && r.down.Load() {
		return ErrUnavailable
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.cfg.Mode == Sync {
		it.done = make(chan error, 1)
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	r.senders.Add(1)
	r.mu.RUnlock()
	r.pending.Add(1)
	select {
	case r.in <- it:
		r.senders.Done()
	case <-ctx.Done():
		r.senders.Done()
		r.pending.Add(-1)
		return ctx.Err()
	}
	if it.done == nil {
		return nil
	}
	return <-it.done
}

// Pending returns how many events Record accepted that are neither stored
// nor spooled yet: in Async mode, what a crash would lose now.
func (r *Recorder) Pending() int { return int(r.pending.Load()) }

// Close stops accepting events, writes what is queued, adds a final
// checkpoint and stops the writer. It does not close the Sink. With Async
// and FailClosed, events the sink still refuses at Close are dropped, and
// Close says how many. Close may be called more than once.
func (r *Recorder) Close() error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.closing)
		r.senders.Wait()
		close(r.in)
	}
	<-r.done
	return errors.Join(r.errs...)
}

func (r *Recorder) newChain() {
	r.chain = r.cfg.Replica + "/" + rand.Text()
	r.seq, r.head, r.started, r.sinceCP = 0, "", false, 0
}

func (r *Recorder) run() {
	defer close(r.done)
	var tick <-chan time.Time
	if r.cfg.Signer != nil {
		t := time.NewTicker(r.cfg.CheckpointInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		var retry <-chan time.Time
		if r.spooling {
			retry = r.retry.C
		}
		select {
		case it, ok := <-r.in:
			if !ok {
				r.shutdown()
				return
			}
			batch, open := r.collect(it)
			r.write(batch)
			if !open {
				r.shutdown()
				return
			}
		case <-tick:
			if r.sinceCP > 0 {
				r.checkpoint(false)
			}
		case <-retry:
			r.replay()
		}
	}
}

// collect gathers a batch: first, then whatever is already queued (group
// commit); in Async mode it waits up to FlushInterval for the batch to fill.
// open is false once the queue is closed.
func (r *Recorder) collect(first item) (batch []item, open bool) {
	batch = append(make([]item, 0, 16), first)
	for len(batch) < r.cfg.BatchSize {
		select {
		case it, ok := <-r.in:
			if !ok {
				return batch, false
			}
			batch = append(batch, it)
			continue
		default:
		}
		break
	}
	if r.cfg.Mode != Async || len(batch) >= r.cfg.BatchSize {
		return batch, true
	}
	t := time.NewTimer(r.cfg.FlushInterval)
	defer t.Stop()
	for len(batch) < r.cfg.BatchSize {
		select {
		case it, ok := <-r.in:
			if !ok {
				return batch, false
			}
			batch = append(batch, it)
		case <-t.C:
			return batch, true
		}
	}
	return batch, true
}

func (r *Recorder) ack(batch []item, err error) {
	r.pending.Add(-int64(len(batch)))
	for _, it := range batch {
		if it.done != nil {
			it.done <- err
		}
	}
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// write stores one batch per the fallback policy and acknowledges it.
func (r *Recorder) write(batch []item) {
	evs := make([]Event, len(batch))
	bodies := make([][]byte, len(batch))
	for i := range batch {
		evs[i], bodies[i] = batch[i].ev, batch[i].body
	}
	if r.spooling { // keep order: behind what is spooled already
		err := r.spool.append(evs)
		if err != nil {
			r.log.Error("audit: spool write failed", "err", err, "events", len(evs))
			err = unavailable(err)
		}
		r.ack(batch, err)
		return
	}
	closing := false
	for {
		err := r.commit(evs, bodies)
		if err == nil {
			r.down.Store(false)
			r.ack(batch, nil)
			return
		}
		r.down.Store(true)
		r.log.Error("audit: sink write failed", "err", err, "events", len(evs))
		if r.spool != nil {
			if serr := r.spool.append(evs); serr != nil {
				r.log.Error("audit: spool write failed", "err", serr, "events", len(evs))
				r.ack(batch, unavailable(errors.Join(err, serr)))
				return
			}
			r.spooling = true
			r.retry.Reset(r.cfg.RetryInterval)
			r.ack(batch, nil)
			return
		}
		if r.cfg.Mode == Sync {
			r.ack(batch, unavailable(err))
			return
		}
		if closing {
			r.lost += int64(len(evs))
			r.ack(batch, nil)
			return
		}
		// Async, fail closed: Record fails fast while this batch waits.
		select {
		case <-time.After(r.cfg.RetryInterval):
		case <-r.closing:
			closing = true // one more try, then drop
		}
	}
}

// commit chains evs into the current chain and appends them. bodies, if
// not nil, holds each event's Canonical() without chain fields. On failure
// the chain is abandoned: the outcome of the failed write is unknown.
func (r *Recorder) commit(evs []Event, bodies [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.WriteTimeout)
	defer cancel()
	if !r.started {
		if r.cfg.Signer != nil {
			if err := r.addCheckpoint(ctx, false); err != nil {
				r.newChain()
				return err
			}
		}
		r.started = true
	}
	seq, prev := r.seq, r.head
	for i := range evs {
		e := &evs[i]
		seq++
		var body []byte
		if bodies != nil {
			body = bodies[i]
		} else {
			e.Chain, e.Seq, e.PrevHash = "", 0, ""
			body = e.Canonical()
		}
		e.seal(body, r.chain, seq, prev)
		prev = e.Hash
		if e.Time.After(r.maxTime) {
			r.maxTime = e.Time
		}
	}
	if err := r.cfg.Sink.Append(ctx, evs); err != nil {
		r.newChain()
		return err
	}
	r.seq, r.head = seq, prev
	r.sinceCP += len(evs)
	if r.cfg.Signer != nil && (r.sinceCP >= r.cfg.CheckpointEvery || r.cfg.Now().Sub(r.lastCP) >= r.cfg.CheckpointInterval) {
		r.checkpoint(false)
	}
	return nil
}

// checkpoint signs and stores a checkpoint at the chain's head; a failure is
// logged and the next commit tries again.
func (r *Recorder) checkpoint(final bool) {
	if r.cfg.Signer == nil || !r.started {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.WriteTimeout)
	defer cancel()
	if err := r.addCheckpoint(ctx, final); err != nil {
		r.log.Warn("audit: checkpoint failed", "err", err, "chain", r.chain, "seq", r.seq)
		if final {
			r.errs = append(r.errs, err)
		}
	}
}

func (r *Recorder) addCheckpoint(ctx context.Context, final bool) error {
	now := r.cfg.Now().UTC().Truncate(time.Microsecond)
	if r.maxTime.After(now) {
		now = r.maxTime // a checkpoint is never older than what it covers
	}
	cp := Checkpoint{Chain: r.chain, Seq: r.seq, Hash: r.head, Time: now, Final: final}
	signer, keyID := r.cfg.Signer, r.keyID
	if rs, ok := signer.(RotatingSigner); ok {
		// The key in use now, named by the checkpoint it signs.
		signer = rs.Current()
		var err error
		if keyID, err = checkSigner(signer); err != nil {
			return err
		}
	}
	if err := cp.sign(signer, keyID); err != nil {
		return err
	}
	if err := r.cfg.Sink.AddCheckpoint(ctx, cp); err != nil {
		return err
	}
	r.sinceCP, r.lastCP = 0, r.cfg.Now()
	return nil
}

// replay writes the spooled events to the sink in order, batch by batch,
// recording progress so a crash replays at most one batch twice.
func (r *Recorder) replay() {
	err := r.spool.replay(r.cfg.BatchSize, func(evs []Event) error { return r.commit(evs, nil) }, r.log)
	if err != nil {
		r.log.Warn("audit: sink still unavailable; events stay spooled", "err", err)
		r.retry.Reset(r.cfg.RetryInterval)
		return
	}
	r.spooling = false
	r.down.Store(false)
	r.log.Info("audit: spooled events replayed")
}

func (r *Recorder) shutdown() {
	if r.spooling {
		r.replay()
	}
	if !r.spooling {
		r.checkpoint(true)
	}
	if r.spool != nil {
		if err := r.spool.close(); err != nil {
			r.errs = append(r.errs, err)
		}
	}
	if r.lost > 0 {
		r.errs = append(r.errs, fmt.Errorf("%w: %d queued events dropped at close", ErrUnavailable, r.lost))
	}
	r.retry.Stop()
}
