package runtime

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// function schedules one function's invocations onto its instances, as
// Lambda does: an idle instance if there is one, else a new instance up to
// Concurrency, else a bounded wait.
type function struct {
	h    *Host
	name string
	arn  string // unqualified function ARN
	cfg  settings
	src  *source // nil for an Executable

	// mu guards the scheduling state below and every instance's state.
	mu        sync.Mutex
	gen       int // build generation instances must have
	live      int // instances starting or running, ≤ Concurrency
	finishing int // instances that answered and have not asked for the next event yet
	idle      []*instance
	waiters   list.List // of *waiter, oldest first
	instances map[*instance]struct{}
	closed    bool

	asyncOnce sync.Once
	async     chan *asyncEvent
}

func newFunction(h *Host, s settings) *function {
	f := &function{
		h:         h,
		name:      s.Name,
		arn:       "arn:aws:lambda:" + h.region + ":" + h.account + ":function:" + s.Name,
		cfg:       s,
		instances: map[*instance]struct{}{},
	}
	if s.Package != "" {
		f.src = &source{dir: s.Package, bin: filepath.Join(h.stateDir, "bin", s.Name)}
	}
	return f
}

// state is an instance's place in its life. Transitions happen under
// function.mu:
//
//	starting → idle       first GET /next
//	idle → busy           deliverLocked hands it an invocation
//	busy → finishing      POST …/response or …/error
//	finishing → idle      GET /next: the invocation is complete
//	any → dead            exit, timeout kill, staleness, Close
type state int

const (
	stateStarting state = iota
	stateIdle
	stateBusy
	stateFinishing
	stateDead
)

// invocation is one delivery attempt of a RequestResponse invocation.
type invocation struct {
	id            string
	payload       []byte
	clientContext string
	traceID       string
	tail          *tailBuffer // nil unless the caller asked for the log tail

	// under function.mu; set when delivered to an instance
	inst         *instance
	deadline     time.Time
	timer        *time.Timer
	initDuration time.Duration // the instance's init, on its first invocation
	picked       bool          // the runtime received it from /next
	answer       *outcome      // the runtime's answer, taken but not yet given to the caller
	finished     bool

	done chan outcome // capacity 1: finishLocked never blocks
}

func newInvocation(id string, payload []byte, opts InvokeOptions, tail *tailBuffer) *invocation {
	return &invocation{
		id:            id,
		payload:       payload,
		clientContext: opts.ClientContext,
		traceID:       opts.TraceID,
		tail:          tail,
		done:          make(chan outcome, 1),
	}
}

// finishLocked settles the invocation once; later outcomes are dropped.
func (inv *invocation) finishLocked(o outcome) {
	if inv.finished {
		return
	}
	inv.finished = true
	inv.done <- o
}

// settleLocked gives the caller the runtime's answer, if one is pending.
func (inv *invocation) settleLocked() {
	if inv.answer != nil {
		inv.finishLocked(*inv.answer)
		inv.answer = nil
	}
}

// outcome is how an invocation attempt ended.
type outcome struct {
	payload     []byte
	contentType string
	unhandled   bool           // the runtime reported an error (/error)
	fe          *functionError // the function failed: init, build, crash, timeout
	retry       bool           // never delivered: try another instance
	err         error          // refused (throttled, host closing) or abandoned (ctx)
}

func (o outcome) kind() string {
	switch {
	case o.fe != nil:
		return o.fe.Type
	case o.unhandled:
		return "error"
	}
	return "ok"
}

// failed turns an error of start or the build into an outcome.
func failed(err error) outcome {
	var fe *functionError
	if errors.As(err, &fe) {
		return outcome{fe: fe}
	}
	return outcome{err: err}
}

// waiter is a queued invocation. An instance that becomes idle takes the
// oldest waiter's invocation itself (the waiter is not woken until the
// outcome); a freed slot or Close is sent on ch.
type waiter struct {
	inv  *invocation
	ch   chan grant // capacity 1
	elem *list.Element
}

// grant is what a waiter is sent: a slot to start an instance in, or word
// that the host is closing.
type grant struct {
	slot   bool
	closed bool
}

// dispatch runs inv: on an idle instance if there is one, else on a new
// instance if the function has room, else after waiting in the queue; and
// returns the instance it ran on (nil if none) and the outcome. The
// function's timeout runs from delivery.
func (f *function) dispatch(ctx context.Context, inv *invocation) (*instance, outcome) {
	if f.src != nil {
		if err := f.ensureBuilt(context.Background()); err != nil {
			return nil, failed(err)
		}
	}
	var stale []*instance
	defer func() {
		for _, inst := range stale {
			inst.kill()
		}
	}()
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, outcome{err: hostClosed()}
	}
	for n := len(f.idle); n > 0; n = len(f.idle) {
		inst := f.idle[n-1] // the most recently used: warmest
		f.idle = f.idle[:n-1]
		if f.staleLocked(inst) || !f.deliverLocked(inst, inv) {
			f.retireLocked(inst, outcome{})
			stale = append(stale, inst)
			continue
		}
		f.mu.Unlock()
		return inst, f.await(ctx, inv)
	}
	queued := f.waiters.Len()
	switch {
	case queued < f.finishing:
		// An instance has answered and is about to ask for the next event:
		// wait for it rather than start another.
	case f.live < f.cfg.Concurrency:
		f.live++
		f.mu.Unlock()
		return f.startAndRun(ctx, inv)
	case queued < f.finishing+f.cfg.queueSize:
	default:
		f.mu.Unlock()
		return nil, outcome{err: throttled()}
	}
	w := &waiter{inv: inv, ch: make(chan grant, 1)}
	w.elem = f.waiters.PushBack(w)
	f.mu.Unlock()

	t := time.NewTimer(f.cfg.QueueTimeout)
	defer t.Stop()
	timeout := t.C
	for {
		select {
		case o := <-inv.done: // delivered by handOffLocked, and done
			f.mu.Lock()
			inst := inv.inst
			f.mu.Unlock()
			return inst, o
		case g := <-w.ch:
			if g.closed {
				return nil, outcome{err: hostClosed()}
			}
			return f.startAndRun(ctx, inv)
		case <-timeout:
			if f.dequeue(w) {
				return nil, outcome{err: throttled()}
			}
			timeout = nil // delivered or granted meanwhile: the queue is behind it
		case <-ctx.Done():
			if f.dequeue(w) {
				return nil, outcome{err: ctx.Err()}
			}
			f.mu.Lock()
			inst := inv.inst
			f.mu.Unlock()
			if inst == nil { // granted a slot it no longer wants
				f.giveBack(<-w.ch)
			}
			return inst, outcome{err: ctx.Err()}
		}
	}
}

// dequeue removes a waiter still in the queue; false means an instance or
// a grant reached it first.
func (f *function) dequeue(w *waiter) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w.elem == nil {
		return false
	}
	f.waiters.Remove(w.elem)
	w.elem = nil
	return true
}

// giveBack returns a grant its waiter no longer wants.
func (f *function) giveBack(g grant) {
	if !g.slot {
		return
	}
	f.mu.Lock()
	f.live--
	f.grantSlotsLocked()
	f.mu.Unlock()
}

// startAndRun starts an instance in a slot the caller holds and runs inv
// on it.
func (f *function) startAndRun(ctx context.Context, inv *invocation) (*instance, outcome) {
	inst, err := f.start(ctx)
	if err != nil {
		return nil, failed(err)
	}
	f.mu.Lock()
	if inst.state != stateIdle || !f.deliverLocked(inst, inv) {
		f.mu.Unlock()
		return inst, outcome{retry: true} // it died as it became ready
	}
	f.mu.Unlock()
	return inst, f.await(ctx, inv)
}

// await waits for a delivered invocation's outcome. If ctx ends first, the
// invocation runs on to its end or timeout without its caller.
func (f *function) await(ctx context.Context, inv *invocation) outcome {
	select {
	case o := <-inv.done:
		return o
	case <-ctx.Done():
		return outcome{err: ctx.Err()}
	}
}

// deliverLocked hands inv to an idle instance: the runtime's parked (or
// next) GET /next receives it. It starts the invocation's timeout.
func (f *function) deliverLocked(inst *instance, inv *invocation) bool {
	select {
	case inst.work <- inv:
	default: // only a dead instance keeps an undelivered invocation
		return false
	}
	inst.state, inst.cur = stateBusy, inv
	inv.inst = inst
	if inst.served == 0 {
		inv.initDuration = inst.initDuration
	}
	inst.served++
	inv.deadline = f.h.now().Add(f.cfg.Timeout)
	inv.timer = time.AfterFunc(f.cfg.Timeout, func() { f.expire(inst, inv) })
	return true
}

// popWaiterLocked removes and returns the oldest waiter, or nil.
func (f *function) popWaiterLocked() *waiter {
	e := f.waiters.Front()
	if e == nil {
		return nil
	}
	w := f.waiters.Remove(e).(*waiter)
	w.elem = nil
	return w
}

// grantSlotsLocked lets waiters start instances while there is room.
func (f *function) grantSlotsLocked() {
	for !f.closed && f.live < f.cfg.Concurrency {
		w := f.popWaiterLocked()
		if w == nil {
			return
		}
		f.live++
		w.ch <- grant{slot: true}
	}
}

// handOffLocked gives an instance that became idle the oldest waiter's
// invocation, or parks it. A stale instance is retired instead: the caller
// kills it when handOffLocked returns true.
func (f *function) handOffLocked(inst *instance) (kill bool) {
	if f.closed || f.staleLocked(inst) {
		f.retireLocked(inst, outcome{})
		return true
	}
	if w := f.popWaiterLocked(); w != nil {
		if f.deliverLocked(inst, w.inv) {
			return false
		}
		f.waiters.PushFront(w) // cannot happen: inst is alive and idle
		w.elem = f.waiters.Front()
		f.retireLocked(inst, outcome{})
		return true
	}
	f.idle = append(f.idle, inst)
	return false
}

// staleLocked: built from older sources, or credentials about to expire.
func (f *function) staleLocked(inst *instance) bool {
	if inst.gen != f.gen {
		return true
	}
	return !inst.credsExpire.IsZero() && f.h.now().Add(credentialMargin).After(inst.credsExpire)
}

// retireLocked marks an instance dead and frees its slot. A busy
// invocation it was running gets o, or a retry if the runtime never
// received it. It reports whether the instance was alive; the caller kills
// the process.
func (f *function) retireLocked(inst *instance, o outcome) bool {
	if inst.state == stateDead {
		return false
	}
	prev := inst.state
	inst.state = stateDead
	switch prev {
	case stateIdle:
		for i, x := range f.idle {
			if x == inst {
				f.idle = append(f.idle[:i], f.idle[i+1:]...)
				break
			}
		}
	case stateFinishing:
		f.finishing--
	}
	f.live--
	delete(f.instances, inst)
	if inv := inst.cur; inv != nil {
		if inv.timer != nil {
			inv.timer.Stop()
		}
		inv.settleLocked()
		if prev == stateBusy {
			if inv.picked {
				inv.finishLocked(o)
			} else {
				inv.finishLocked(outcome{retry: true})
			}
		}
	}
	close(inst.dead)
	f.grantSlotsLocked()
	return true
}

// start starts an instance in a slot the caller holds and waits for its
// init to end: its first GET /next (the instance is then the caller's),
// an init error, an exit, or the init timeout.
func (f *function) start(ctx context.Context) (*instance, error) {
	inst, err := f.spawn(ctx)
	if err != nil {
		f.mu.Lock()
		f.live--
		f.grantSlotsLocked()
		f.mu.Unlock()
		return nil, err
	}
	t := time.NewTimer(initTimeout)
	defer t.Stop()
	select {
	case <-inst.ready:
		return inst, nil
	case <-inst.dead:
		return nil, inst.initFailure()
	case <-t.C:
		f.mu.Lock()
		st := inst.state
		if st == stateStarting {
			f.retireLocked(inst, outcome{})
		}
		f.mu.Unlock()
		switch st {
		case stateStarting:
			inst.kill()
			f.h.log.Warn("runtime: instance killed: init timed out", "function", f.name, "instance", inst.id)
			fe := &functionError{Type: "Sandbox.Timedout", Message: fmt.Sprintf("Init timed out after %.2f seconds", initTimeout.Seconds())}
			fe.log = inst.logs.init.last()
			return nil, fe
		case stateDead:
			return nil, inst.initFailure()
		}
		return inst, nil
	case <-ctx.Done():
		f.mu.Lock()
		kill := false
		switch inst.state {
		case stateStarting:
			inst.orphan = true // handed to the pool when ready
		case stateIdle:
			kill = f.handOffLocked(inst)
		}
		f.mu.Unlock()
		if kill {
			inst.kill()
		}
		return nil, ctx.Err()
	}
}

// expire runs at an invocation's deadline: a busy instance times out; one
// that answered but has not asked for the next event by then is replaced.
func (f *function) expire(inst *instance, inv *invocation) {
	f.mu.Lock()
	if inst.cur != inv || inst.state == stateDead {
		f.mu.Unlock()
		return
	}
	busy := inst.state == stateBusy
	if busy {
		inv.finishLocked(outcome{fe: &functionError{
			Type:    "Sandbox.Timedout",
			Message: fmt.Sprintf("Task timed out after %.2f seconds", f.cfg.Timeout.Seconds()),
		}})
	}
	f.retireLocked(inst, outcome{})
	f.mu.Unlock()
	inst.kill()
	if busy {
		f.h.log.Warn("runtime: instance killed: invocation timed out", "function", f.name, "instance", inst.id, "request_id", inv.id, "timeout", f.cfg.Timeout.String())
	} else {
		f.h.log.Warn("runtime: instance killed: no next-invocation request before the deadline", "function", f.name, "instance", inst.id, "request_id", inv.id)
	}
}

// close fails the waiters and retires every instance.
func (f *function) close() {
	f.mu.Lock()
	f.closed = true
	for w := f.popWaiterLocked(); w != nil; w = f.popWaiterLocked() {
		w.ch <- grant{closed: true}
	}
	var all []*instance
	for inst := range f.instances {
		all = append(all, inst)
	}
	for _, inst := range all {
		f.retireLocked(inst, outcome{err: hostClosed()})
	}
	f.mu.Unlock()
	for _, inst := range all {
		inst.kill()
	}
}

// asyncEvent is a queued Event invocation.
type asyncEvent struct {
	id      string
	payload []byte
	opts    InvokeOptions
}

// enqueue queues an Event invocation; Concurrency workers (started on the
// first event) run them.
func (f *function) enqueue(ev *asyncEvent) error {
	f.asyncOnce.Do(func() {
		f.async = make(chan *asyncEvent, asyncQueueLength)
		for range f.cfg.Concurrency {
			if !f.h.track(1) {
				return
			}
			go f.asyncWorker()
		}
	})
	select {
	case f.async <- ev:
		return nil
	default:
		e := newError(CodeTooManyRequests, "The function's event queue is full.")
		e.Reason = reasonConcurrencyExhausted
		return e
	}
}

func (f *function) asyncWorker() {
	defer f.h.wg.Done()
	for {
		select {
		case <-f.h.ctx.Done():
			return
		case ev := <-f.async:
			f.runEvent(ev)
		}
	}
}

// runEvent runs a queued event. A throttled event is retried with backoff
// (5 attempts); a function error is logged, not retried.
func (f *function) runEvent(ev *asyncEvent) {
	ev.opts.Tail = false
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := f.invokeSync(f.h.ctx, ev.id, ev.payload, ev.opts)
		var e *Error
		if err == nil || !errors.As(err, &e) || e.Code != CodeTooManyRequests || attempt == 5 {
			if err != nil {
				f.h.log.Warn("runtime: event dropped", "function", f.name, "request_id", ev.id, "error", err.Error())
			}
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-f.h.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff *= 2
	}
}
