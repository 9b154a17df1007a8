package upstream

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/coder/websocket"
)

const (
	maxMessage = 64 << 10
	// idleTimeout closes a WebSocket on which nothing arrives for this long.
	idleTimeout = 2 * time.Minute
)

// forwardedHostRE is the X-Forwarded-Host accepted as the browser's origin:
// a plain host[:port], so it cannot smuggle a wildcard into the origin check.
var forwardedHostRE = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$`)

// echo echoes every message back with its type until the caller
// closes, goes quiet for idleTimeout, or sends a message over maxMessage.
func (h *handler) echo(w http.ResponseWriter, r *http.Request) {
	d := h.description(r)
	opts := &websocket.AcceptOptions{}
	// Behind the gateway the Host is the upstream's; a browser's Origin is
	// the gateway's, which the gateway passes as X-Forwarded-Host.
	if fh := r.Header.Values("X-Forwarded-Host"); len(fh) == 1 && forwardedHostRE.MatchString(fh[0]) {
		opts.OriginPatterns = []string{fh[0]}
	}
	c, err := websocket.Accept(w, r, opts) // answers a bad handshake itself
	if err != nil {
		h.log.Info("upstream: websocket handshake refused", "path", r.URL.Path, "err", err)
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(maxMessage)
	h.log.Info("upstream: websocket open", "path", r.URL.Path, "request_id", r.Header.Get("X-Request-Id"),
		"subject", d.Identity.Subject, "identity_error", d.Identity.Error)

	ctx := r.Context()
	for {
		rctx, cancel := context.WithTimeout(ctx, idleTimeout)
		typ, msg, err := c.Read(rctx)
		cancel()
		if err != nil {
			switch {
			case websocket.CloseStatus(err) != -1: // the caller closed
			case errors.Is(err, context.DeadlineExceeded):
				c.Close(websocket.StatusPolicyViolation, "idle")
			default:
				h.log.Info("upstream: websocket closed", "err", err)
			}
			return
		}
		wctx, cancel := context.WithTimeout(ctx, writeSlack)
		err = c.Write(wctx, typ, msg)
		cancel()
		if err != nil {
			return
		}
	}
}
