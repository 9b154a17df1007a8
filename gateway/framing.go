package gateway

import "bytes"

// framing follows the HTTP/1.x message framing of the bytes a connection
// reads (RFC 9112 §6: request line and fields, then a body delimited by
// Content-Length or chunked coding) for one thing net/http does not do:
// refuse a request that carries both Content-Length and Transfer-Encoding.
// net/http reads such a request by its Transfer-Encoding and keeps the
// connection open, which lets a front proxy that reads it by its
// Content-Length smuggle a second request in its body (RFC 9112 §6.1: the
// server must close the connection after responding to such a request).
//
// It only observes: net/http still parses everything. When the two could
// disagree about where a message ends (a line too long to follow, a
// malformed chunk), framing stops following the connection and says so
// (lost); the gateway then closes the connection after its current
// request, so a desynchronised connection is never reused.
type framing struct {
	state    framingState
	line     []byte // the current line, up to maxFramingLine bytes
	long     bool   // the current line was longer than maxFramingLine
	first    bool   // the next header-block line is the request line
	http10   bool   // the request line says HTTP/1.0 (Transfer-Encoding ignored)
	hasCL    bool
	hasTE    bool
	cl       uint64
	remain   uint64 // body or chunk bytes still to skip
	smuggled bool   // a request carried both Content-Length and Transfer-Encoding
	lost     bool   // framing stopped following the connection
}

type framingState uint8

const (
	inHeaders   framingState = iota
	inBody                   // Content-Length body: remain bytes
	inChunkSize              // a chunk-size line
	inChunkData              // remain bytes of chunk data
	inChunkCR                // the CR after chunk data
	inChunkLF                // the LF after chunk data
	inTrailers               // trailer fields up to an empty line
	stopped                  // smuggled or lost: nothing more to follow
)

// maxFramingLine bounds the bytes of a line kept: enough for every line
// whose content matters here (a field name and a Content-Length value, a
// chunk size, a request line's version) and for spotting field names.
const maxFramingLine = 256

func newFraming() *framing { return &framing{first: true, line: make([]byte, 0, 64)} }

// feed follows p, the next bytes read from the connection.
func (f *framing) feed(p []byte) {
	for len(p) > 0 && f.state != stopped {
		switch f.state {
		case inBody, inChunkData:
			n := uint64(len(p))
			if n > f.remain {
				n = f.remain
			}
			p = p[n:]
			f.remain -= n
			if f.remain == 0 {
				if f.state == inBody {
					f.startHeaders()
				} else {
					f.state = inChunkCR
				}
			}
		case inChunkCR:
			if p[0] != '\r' {
				f.lose()
				return
			}
			p = p[1:]
			f.state = inChunkLF
		case inChunkLF:
			if p[0] != '\n' {
				f.lose()
				return
			}
			p = p[1:]
			f.state = inChunkSize
		default:
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				f.keep(p)
				return
			}
			f.keep(p[:i])
			p = p[i+1:]
			f.endLine()
			f.line, f.long = f.line[:0], false
		}
	}
}

// keep adds p to the current line, up to maxFramingLine bytes.
func (f *framing) keep(p []byte) {
	if room := maxFramingLine - len(f.line); len(p) > room {
		f.line = append(f.line, p[:room]...)
		f.long = true
		return
	}
	f.line = append(f.line, p...)
}

func (f *framing) lose() {
	f.lost, f.state = true, stopped
}

func (f *framing) startHeaders() {
	f.state, f.first, f.http10, f.hasCL, f.hasTE, f.cl = inHeaders, true, false, false, false, 0
}

// endLine acts on a complete line (without its LF; a CR before it is
// trimmed here, as net/http accepts lines ending in LF alone).
func (f *framing) endLine() {
	line := f.line
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	switch f.state {
	case inHeaders:
		f.headerLine(line)
	case inChunkSize:
		f.chunkSizeLine(line)
	case inTrailers:
		if len(line) == 0 {
			f.startHeaders()
		}
	}
}

func (f *framing) headerLine(line []byte) {
	if f.first {
		if len(line) == 0 {
			return // net/http skips blank lines after a POST's body
		}
		f.first = false
		f.http10 = !f.long && bytes.HasSuffix(line, []byte(" HTTP/1.0"))
		return
	}
	if len(line) == 0 {
		f.endHeaders()
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		return // an obsolete line folding: the previous field goes on
	}
	name, value, ok := cutByte(line, ':')
	if !ok {
		return // net/http refuses the request and closes
	}
	switch {
	case equalFold(name, "transfer-encoding"):
		f.hasTE = true
	case equalFold(name, "content-length"):
		n, ok := parseDecimal(trimSpace(value))
		if !ok || f.long || f.hasCL && n != f.cl {
			f.lose() // net/http refuses it too, or reads it another way
			return
		}
		f.hasCL, f.cl = true, n
	}
}

func (f *framing) endHeaders() {
	switch {
	case f.hasCL && f.hasTE:
		f.smuggled, f.state = true, stopped
	case f.hasTE && f.http10:
		// net/http ignores Transfer-Encoding in HTTP/1.0 requests, and
		// Content-Length is absent: no body.
		f.startHeaders()
	case f.hasTE:
		f.state = inChunkSize
	case f.hasCL && f.cl > 0:
		f.state, f.remain = inBody, f.cl
	default:
		f.startHeaders()
	}
}

func (f *framing) chunkSizeLine(line []byte) {
	if f.long {
		f.lose()
		return
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i] // chunk extensions
	}
	line = trimSpace(line)
	if len(line) == 0 || len(line) > 16 {
		f.lose()
		return
	}
	var n uint64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | uint64(c-'A'+10)
		default:
			f.lose()
			return
		}
	}
	if n == 0 {
		f.state = inTrailers
		return
	}
	f.state, f.remain = inChunkData, n
}

func cutByte(b []byte, c byte) (before, after []byte, ok bool) {
	if i := bytes.IndexByte(b, c); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares an ASCII field name with a lower-case one.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseDecimal reads a Content-Length value as net/http does: digits only.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}
