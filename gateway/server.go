package gateway

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// Timeouts and limits of the gateway's public listener.
const (
	// ReadHeaderTimeout bounds the request line and headers (slowloris),
	// and the TLS handshake; Config.ReadHeaderTimeout overrides it.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds the whole request, body included; a body that
	// stops arriving gets 408. Config.ReadTimeout overrides it.
	ReadTimeout = 30 * time.Second
	// WriteTimeout bounds a response: a function may run 15 minutes.
	WriteTimeout = 16 * time.Minute
	// IdleTimeout closes keep-alive connections left idle.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds the request line and headers (431 above it).
	MaxHeaderBytes = 64 << 10
)

// NewServer returns the http.Server for the gateway's public listener,
// serving h (the gateway's Handler, possibly beside other endpoints) with
// the gateway's connection defences. Serve it on Listener(ln, tls):
//
//   - a request that carries both Content-Length and Transfer-Encoding is
//     answered 400 and its connection closed (RFC 9112 §6.1), so nothing
//     can be smuggled in its body past a front proxy that reads it the
//     other way; a connection whose framing cannot be followed is closed
//     after the request at hand;
//   - a request that net/http refuses before any handler runs (431
//     oversized headers, 400 malformed request line or Host, 501 unknown
//     transfer coding, 417 unknown expectation), a plain-HTTP request to
//     the TLS port, and a request cut off before its headers ended (a
//     slowloris timed out: status 0) each leave one audit event, with no
//     principal and what is known: status and error class;
//   - timeouts and header limits as the constants above say.
//
// HTTP/2 connections (negotiated by ALPN) carry no Content-Length and
// Transfer-Encoding pair and are served by net/http's HTTP/2 server as
// they are.
func (g *Gateway) NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           g.guard(h),
		ReadHeaderTimeout: g.readHeaderTimeout(),
		ReadTimeout:       cmp.Or(g.cfg.ReadTimeout, ReadTimeout),
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if gc := guardOf(c); gc != nil {
				return context.WithValue(ctx, guardConnKey{}, gc)
			}
			return ctx
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			gc := guardOf(c)
			if gc == nil {
				return
			}
			switch s {
			case http.StateActive:
				gc.pending.Store(true)
			case http.StateHijacked:
				gc.hijacked.Store(true)
				gc.pending.Store(false)
			case http.StateClosed:
				if gc.pending.CompareAndSwap(true, false) {
					// Bytes of a request came, and then neither a handler
					// nor net/http answered: cut off, or timed out.
					g.serverRefusal(0, "incomplete_request")
				}
			}
		},
		// What net/http logs (a handler's panic, a failed accept) goes to
		// the gateway's logger.
		ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// Listener wraps ln, a TCP listener, with the gateway's connection guard,
// and with TLS when cfg is not nil (its NextProtos default to h2 and
// http/1.1). The TLS handshake runs off the accept loop, bounded by
// ReadHeaderTimeout.
func (g *Gateway) Listener(ln net.Listener, cfg *tls.Config) net.Listener {
	gl := &guardListener{Listener: ln, g: g}
	if cfg != nil {
		cfg = cfg.Clone()
		if len(cfg.NextProtos) == 0 {
			cfg.NextProtos = []string{"h2", "http/1.1"}
		}
		gl.tls = cfg
		gl.conns = make(chan net.Conn)
		gl.errs = make(chan error)
		gl.done = make(chan struct{})
		go gl.acceptLoop()
	}
	return gl
}

func (g *Gateway) readHeaderTimeout() time.Duration {
	return cmp.Or(g.cfg.ReadHeaderTimeout, ReadHeaderTimeout)
}

type guardConnKey struct{}

// guard is the first handler of every request: it refuses smuggling
// attempts and closes connections whose framing was lost.
func (g *Gateway) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gc, _ := r.Context().Value(guardConnKey{}).(*guardConn)
		if gc == nil {
			h.ServeHTTP(w, r)
			return
		}
		gc.pending.Store(false)
		if gc.smuggled.Load() {
			g.refuseSmuggled(w, r)
			return
		}
		if gc.lost.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// refuseSmuggled answers a request with both Content-Length and
// Transfer-Encoding: 400, its event, and the connection closed.
func (g *Gateway) refuseSmuggled(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("X-Request-Id", reqID)
	w.Header().Set("Connection", "close")
	g.refuseUnrouted(w, r, g.Pipeline(), &pipeline.Refusal{Status: http.StatusBadRequest, Code: "invalid_request",
		Description: "the request has both Content-Length and Transfer-Encoding", RequestID: reqID}, "ambiguous_framing")
}

// serverRefusal records a request refused before any handler ran.
func (g *Gateway) serverRefusal(status int, class string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Pipeline().Unrouted(ctx, newRequestID(), status, class) // logs a failure; the answer is net/http's
	g.cfg.Metrics.observe("", status, audit.DecisionError, 0)
}

// serverErrorClass names a status net/http answers by itself.
func serverErrorClass(status int) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "request_header_too_large"
	case http.StatusNotImplemented:
		return "unsupported_transfer_encoding"
	case http.StatusExpectationFailed:
		return "expectation_failed"
	case http.StatusHTTPVersionNotSupported:
		return "unsupported_http_version"
	}
	return "malformed_request"
}

// guardListener hands out guardConns.
type guardListener struct {
	net.Listener
	g     *Gateway
	tls   *tls.Config // nil: plain HTTP
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

func (l *guardListener) Accept() (net.Conn, error) {
	if l.tls == nil {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		return &guardConn{Conn: c, fr: newFraming(), g: l.g}, nil
	}
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *guardListener) Close() error {
	if l.done != nil {
		l.once.Do(func() { close(l.done) })
	}
	return l.Listener.Close()
}

// acceptLoop accepts TCP connections and hands each to a handshake of
// its own, so a slow client cannot hold up the others.
func (l *guardListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.handshake(c)
	}
}

// handshake completes the TLS handshake and hands the connection on: an
// HTTP/2 one as the *tls.Conn net/http's HTTP/2 server needs, an HTTP/1
// one guarded.
func (l *guardListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.tls)
	ctx, cancel := context.WithTimeout(context.Background(), l.g.readHeaderTimeout())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			// As net/http answers it, and one event: a plain-HTTP
			// request (a bearer token in clear, perhaps) reached the TLS
			// port.
			re.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			re.Conn.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"))
			l.g.serverRefusal(http.StatusBadRequest, "plain_http_to_tls")
		}
		c.Close()
		return
	}
	var out net.Conn = &guardTLSConn{guardConn{Conn: tc, fr: newFraming(), g: l.g}, tc}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		out = tc
	}
	select {
	case l.conns <- out:
	case <-l.done:
		c.Close()
	}
}

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE":
		return true
	}
	return false
}

// guardConn follows the framing of what it reads (framing.go) and notices
// responses net/http writes before any handler ran.
type guardConn struct {
	net.Conn
	fr       *framing // touched by Read only, which net/http serialises
	hijacked atomic.Bool
	smuggled atomic.Bool
	lost     atomic.Bool
	// pending: a request began (net/http read bytes of it) and no
	// handler has taken it yet.
	pending atomic.Bool
	g       *Gateway
}

// guardTLSConn is a guardConn over TLS: ConnectionState gives net/http the
// request's TLS state.
type guardTLSConn struct {
	guardConn
	tc *tls.Conn
}

func (c *guardTLSConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

func guardOf(c net.Conn) *guardConn {
	switch gc := c.(type) {
	case *guardConn:
		return gc
	case *guardTLSConn:
		return &gc.guardConn
	}
	return nil
}

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.hijacked.Load() && c.fr.state != stopped {
		c.fr.feed(p[:n])
		if c.fr.smuggled {
			c.smuggled.Store(true)
		}
		if c.fr.lost {
			c.lost.Store(true)
		}
	}
	return n, err
}

// Write passes p on; when no handler has taken the request at hand, p is
// net/http's own answer, and its status goes to the audit trail.
func (c *guardConn) Write(p []byte) (int, error) {
	if c.pending.CompareAndSwap(true, false) && c.g != nil {
		status := responseStatus(p)
		c.g.serverRefusal(status, serverErrorClass(status))
	}
	return c.Conn.Write(p)
}

// responseStatus reads the status code of a response's status line, or 0.
func responseStatus(p []byte) int {
	if !bytes.HasPrefix(p, []byte("HTTP/1.")) || len(p) < 12 || p[8] != ' ' {
		return 0
	}
	n, err := strconv.Atoi(string(p[9:12]))
	if err != nil {
		return 0
	}
	return n
}
