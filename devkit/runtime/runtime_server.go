package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
)

// runtimeServer serves one instance's Runtime API: a small HTTP/1.1
// server (requests parsed by net/http's ReadRequest, keep-alive, chunked
// bodies and trailers, Expect: 100-continue) that runs each request's
// handler on its connection's goroutine. net/http's Server would do, but it
// watches every connection with a background read while a handler runs,
// which costs a long poll such as GET /next several goroutine wake-ups per
// invocation; only the instance's own runtime connects here.
type runtimeServer struct {
	ln      net.Listener
	handler http.Handler

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

const (
	// maxRuntimeHeaderBytes bounds a request's head (request line and headers).
	maxRuntimeHeaderBytes = 64 << 10
	// maxDiscardBytes is how much of an unread request body is skipped to
	// keep a connection; beyond it the connection is closed.
	maxDiscardBytes = 256 << 10
)

func newRuntimeServer(ln net.Listener, h http.Handler) *runtimeServer {
	return &runtimeServer{ln: ln, handler: h, conns: map[net.Conn]struct{}{}}
}

// serve accepts connections until close; each is served on its own
// goroutine, counted in wg.
func (s *runtimeServer) serve(wg *sync.WaitGroup) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			_ = c.Close()
		}()
	}
}

// close closes the listener and every connection.
func (s *runtimeServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	_ = s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
}

func (s *runtimeServer) serveConn(c net.Conn) {
	lr := &limitedReader{r: c}
	br := bufio.NewReaderSize(lr, 16<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	for {
		lr.n = maxRuntimeHeaderBytes
		req, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				_, _ = bw.WriteString("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
				_ = bw.Flush()
			}
			return
		}
		lr.n = -1 // handlers bound the bodies they read
		req.RemoteAddr = c.RemoteAddr().String()
		if req.Header.Get("Expect") == "100-continue" {
			_, _ = bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if bw.Flush() != nil {
				return
			}
		}
		w := &runtimeResponse{bw: bw, header: http.Header{}}
		s.handler.ServeHTTP(w, req)
		if err := w.finish(); err != nil {
			return
		}
		// Skip what the handler left of the body, or give up the connection.
		n, err := io.Copy(io.Discard, io.LimitReader(req.Body, maxDiscardBytes+1))
		if err != nil || n > maxDiscardBytes || req.Close || !req.ProtoAtLeast(1, 1) {
			return
		}
	}
}

// limitedReader reads from r; n < 0 means no limit.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n == 0 {
		return 0, errors.New("runtime API: request head too large")
	}
	if l.n > 0 && int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	if l.n > 0 {
		l.n -= int64(n)
	}
	return n, err
}

// runtimeResponse is the http.ResponseWriter of runtimeServer. A response
// whose handler set Content-Length streams its body; any other is buffered
// and sent at finish (or Flush) with its length.
type runtimeResponse struct {
	bw          *bufio.Writer
	header      http.Header
	status      int
	wroteHeader bool // the status line and headers are in bw
	streaming   bool
	done        bool
	body        bytes.Buffer
	err         error
}

func (w *runtimeResponse) Header() http.Header { return w.header }

func (w *runtimeResponse) WriteHeader(status int) {
	if w.status != 0 || w.done {
		return
	}
	w.status = status
	if w.header.Get("Content-Length") != "" {
		w.streaming = true
		w.writeHead()
	}
}

func (w *runtimeResponse) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("runtime API: write after the response was sent")
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.streaming {
		n, err := w.bw.Write(p)
		if err != nil {
			w.err = err
		}
		return n, err
	}
	return w.body.Write(p)
}

// Flush sends the response now; the handler writes nothing after it.
func (w *runtimeResponse) Flush() { _ = w.finish() }

func (w *runtimeResponse) writeHead() {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	if !w.streaming {
		w.header.Set("Content-Length", strconv.Itoa(w.body.Len()))
	}
	_, _ = w.bw.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
	if err := w.header.Write(w.bw); err != nil {
		w.err = err
	}
	_, _ = w.bw.WriteString("\r\n")
}

// finish sends whatever is not sent yet and flushes.
func (w *runtimeResponse) finish() error {
	if w.done {
		return w.err
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.writeHead()
	if !w.streaming {
		if _, err := w.bw.Write(w.body.Bytes()); err != nil && w.err == nil {
			w.err = err
		}
	}
	w.done = true
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
	return w.err
}

var (
	_ http.ResponseWriter = (*runtimeResponse)(nil)
	_ http.Flusher        = (*runtimeResponse)(nil)
)
