package runtime

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// tailBytes is how much of an invocation's log X-Amz-Log-Result carries.
	tailBytes = 4 << 10
	// maxLogLine bounds one line of function output; the rest of a longer
	// line is dropped and the record marked truncated.
	maxLogLine = 8 << 10
	// logFlushWait bounds how long an invocation that asked for its log tail
	// waits for the output pipe to catch up.
	logFlushWait = 250 * time.Millisecond
)

// tailBuffer keeps the end of a log.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4*tailBytes {
		t.b = append(t.b[:0], t.b[len(t.b)-tailBytes:]...)
	}
	return len(p), nil
}

// last returns a copy of the last tailBytes.
func (t *tailBuffer) last() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.b
	if len(b) > tailBytes {
		b = b[len(b)-tailBytes:]
	}
	return bytes.Clone(b)
}

// instanceLog attributes an instance's output lines to the invocation
// running (for the log records and the invocation's tail).
type instanceLog struct {
	mu        sync.Mutex
	requestID string      // "" before the first invocation
	tail      *tailBuffer // the current invocation's, or nil
	init      tailBuffer  // output before the first invocation

	// marker starts a line the host writes into the pipe to learn when the
	// reader has caught up with everything written before it.
	marker []byte
	seq    atomic.Uint64
	synced chan uint64 // capacity 1, the last marker sequence seen
}

func (l *instanceLog) setup() {
	l.marker = []byte("\x00gatehouse-log-sync-" + randomHex(8) + ":")
	l.synced = make(chan uint64, 1)
}

// target makes the invocation the owner of the following output lines. The
// first invocation's tail starts with the instance's init output.
func (l *instanceLog) target(inv *invocation, first bool) {
	if first && inv.tail != nil {
		_, _ = inv.tail.Write(l.init.last())
	}
	l.mu.Lock()
	l.requestID, l.tail = inv.id, inv.tail
	l.mu.Unlock()
}

// readLogs turns the instance's output into log records, line by line.
func (inst *instance) readLogs() {
	defer inst.f.h.wg.Done()
	defer close(inst.logsDone)
	defer inst.logR.Close()
	br := bufio.NewReaderSize(inst.logR, 4096)
	line := make([]byte, 0, 256)
	truncated := false
	for {
		frag, err := br.ReadSlice('\n')
		if room := maxLogLine - len(line); len(frag) > room {
			frag, truncated = frag[:max(room, 0)], true
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 {
			inst.emit(line, truncated)
		}
		line, truncated = line[:0], false
		if err != nil {
			return
		}
	}
}

func (inst *instance) emit(line []byte, truncated bool) {
	l := &inst.logs
	text := bytes.TrimRight(line, "\r\n")
	if i := bytes.Index(text, l.marker); i >= 0 {
		rest := text[i+len(l.marker):]
		if j := bytes.IndexByte(rest, 0); j > 0 {
			if seq, err := strconv.ParseUint(string(rest[:j]), 10, 64); err == nil {
				select {
				case <-l.synced:
				default:
				}
				l.synced <- seq
			}
		}
		text = text[:i]
		if len(text) == 0 {
			return
		}
	}
	l.mu.Lock()
	id, tail := l.requestID, l.tail
	l.mu.Unlock()
	switch {
	case tail != nil:
		_, _ = tail.Write(append(text, '\n'))
	case id == "":
		_, _ = l.init.Write(append(text, '\n'))
	}
	attrs := []any{"function", inst.f.name, "request_id", id, "instance", inst.id, "output", string(text)}
	if truncated {
		attrs = append(attrs, "truncated", true)
	}
	inst.f.h.log.Info("runtime: function output", attrs...)
}

// flushLogs waits (bounded) until the output the function wrote before
// its answer has been read: for a live instance, by writing a marker into
// the pipe and waiting for the reader to reach it (a pipe keeps order);
// for a dead one, until the pipe is drained.
func (inst *instance) flushLogs() {
	f := inst.f
	f.mu.Lock()
	dead := inst.state == stateDead
	f.mu.Unlock()
	if dead {
		inst.awaitLogs()
		return
	}
	l := &inst.logs
	seq := l.seq.Add(1)
	msg := append(append(bytes.Clone(l.marker), strconv.FormatUint(seq, 10)...), 0, '\n')
	if _, err := inst.logW.Write(msg); err != nil {
		return
	}
	t := time.NewTimer(logFlushWait)
	defer t.Stop()
	for {
		select {
		case got := <-l.synced:
			if got >= seq {
				return
			}
		case <-inst.logsDone:
			return
		case <-t.C:
			return
		}
	}
}

// awaitLogs waits (bounded) for a dead instance's output to be drained.
func (inst *instance) awaitLogs() {
	t := time.NewTimer(logFlushWait)
	defer t.Stop()
	select {
	case <-inst.logsDone:
	case <-t.C:
	}
}

var _ io.Writer = (*tailBuffer)(nil)
