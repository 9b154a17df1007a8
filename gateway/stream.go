package gateway

import (
	"bufio"
	"errors"
	"net"
	"net/http"
)

// commitWriter passes a streaming target's response through, committing
// the audit event first: when the target sets its status (or writes, or
// flushes, or takes over the connection for a WebSocket), commit records
// the event; only if it succeeds does anything reach the caller. If it
// fails, the caller gets 503 and every later write fails, which makes the
// target stop.
type commitWriter struct {
	w         http.ResponseWriter
	commit    func(status int) bool
	committed bool
	ok        bool
	status    int // the status committed
}

var errNotRecorded = errors.New("gateway: response refused: the audit trail did not take the event")

func (c *commitWriter) Header() http.Header { return c.w.Header() }

func (c *commitWriter) WriteHeader(code int) {
	if c.committed {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// Informational responses (103 Early Hints) are optional: they
		// are dropped rather than sent before the event is recorded.
		return
	}
	if !c.start(code) {
		return
	}
	c.w.WriteHeader(code)
}

// start commits once. If the trail refuses the event, the target's
// headers are dropped and the caller gets the gateway's 503 instead.
func (c *commitWriter) start(code int) bool {
	if c.committed {
		return c.ok
	}
	c.committed, c.status = true, code
	c.ok = c.commit(code)
	if !c.ok {
		h := c.w.Header()
		id := h.Get("X-Request-Id")
		clear(h)
		h.Set("X-Request-Id", id)
		writeRefusal(c.w, unavailable(id))
	}
	return c.ok
}

func (c *commitWriter) Write(p []byte) (int, error) {
	if !c.committed {
		c.WriteHeader(http.StatusOK)
	}
	if !c.ok {
		return 0, errNotRecorded
	}
	return c.w.Write(p)
}

// FlushError is what http.ResponseController calls (server-sent events).
func (c *commitWriter) FlushError() error {
	if !c.committed {
		c.WriteHeader(http.StatusOK)
	}
	if !c.ok {
		return errNotRecorded
	}
	return http.NewResponseController(c.w).Flush()
}

func (c *commitWriter) Flush() { c.FlushError() }

// Hijack hands the connection to a WebSocket upgrade, after the event says
// 101.
func (c *commitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !c.start(http.StatusSwitchingProtocols) {
		return nil, nil, errNotRecorded
	}
	return http.NewResponseController(c.w).Hijack()
}

// Unwrap gives http.ResponseController the deadlines of the connection.
func (c *commitWriter) Unwrap() http.ResponseWriter { return c.w }
