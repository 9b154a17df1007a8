package gateway

import (
	"bytes"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/pipeline"
)

// bufferedWriter holds a target's response until the audit event is
// committed, so no response leaves without its event. Beyond max bytes the
// response is refused (the target's body limit is below it).
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
	max    int
	over   bool
}

func newBufferedWriter(max int) *bufferedWriter {
	return &bufferedWriter{header: http.Header{}, max: max}
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	if b.body.Len()+len(p) > b.max {
		b.over = true
		return 0, errTooLarge
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) status() int {
	if b.over {
		return http.StatusBadGateway
	}
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	if b.over {
		// None of the target's headers: they describe a body not sent.
		writeRefusal(w, &pipeline.Refusal{Status: http.StatusBadGateway, Code: "bad_gateway",
			Description: "the target's response is too large", RequestID: w.Header().Get("X-Request-Id")})
		return
	}
	dst := w.Header()
	for k, v := range b.header {
		if k == "X-Request-Id" {
			continue // the gateway's own
		}
		dst[k] = v
	}
	w.WriteHeader(b.status())
	w.Write(b.body.Bytes())
}

type tooLargeError struct{}

func (tooLargeError) Error() string { return "gateway: response too large" }

var errTooLarge error = tooLargeError{}
