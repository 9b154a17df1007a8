package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Limits and defaults of the event stream.
const (
	defaultEvents   = 3
	maxEvents       = 100
	defaultInterval = 200 * time.Millisecond
	maxInterval     = 5 * time.Second
	// writeSlack is how long one event may take to write to a slow reader.
	writeSlack = 30 * time.Second
)

// event is the data of one server-sent event.
type event struct {
	Seq  int       `json:"seq"`
	Of   int       `json:"of"`
	Time time.Time `json:"time"`
	// Request is what the upstream received; on the first event only.
	Request *Description `json:"request,omitempty"`
}

// events streams n server-sent events, one every interval, flushing each.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		errorJSON(w, http.StatusMethodNotAllowed, "an event stream is read with GET")
		return
	}
	n, interval, msg := streamParams(r)
	if msg != "" {
		errorJSON(w, http.StatusBadRequest, msg)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // ask proxies not to buffer the stream
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	d := h.description(r)
	h.log.Info("upstream: event stream", "path", r.URL.Path, "request_id", r.Header.Get("X-Request-Id"),
		"subject", d.Identity.Subject, "identity_error", d.Identity.Error, "events", n, "interval", interval)

	rc := http.NewResponseController(w)
	ctx := r.Context()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for seq := 1; seq <= n; seq++ {
		if seq > 1 {
			timer.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return // the caller went away
		case <-timer.C:
		}
		// A stream outlives a server's WriteTimeout: give each event its
		// own deadline (ignored where the writer cannot set one).
		if err := rc.SetWriteDeadline(time.Now().Add(writeSlack)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
		ev := event{Seq: seq, Of: n, Time: time.Now().UTC()}
		if seq == 1 {
			ev.Request = d
		}
		data, err := json.Marshal(ev) // one line: JSON strings escape newlines
		if err != nil {
			h.log.Error("upstream: event encoding", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", seq, data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
	}
}

// streamParams reads n and interval from the query, or says what is wrong.
func streamParams(r *http.Request) (n int, interval time.Duration, msg string) {
	n, interval = defaultEvents, defaultInterval
	q := r.URL.Query()
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxEvents {
			return 0, 0, fmt.Sprintf("n: want a whole number of events from 1 to %d", maxEvents)
		}
		n = v
	}
	if s := q.Get("interval"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 || v > maxInterval {
			return 0, 0, fmt.Sprintf("interval: want a duration such as 200ms, from 0 to %v", maxInterval)
		}
		interval = v
	}
	return n, interval, ""
}
