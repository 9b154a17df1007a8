// Command upstream is the load harness's target service: it answers every
// request with the same small JSON body (64 bytes) over HTTP/1.1 with
// keep-alive, so that what a benchmark measures is the proxy in front of it.
// POST /v1/traces reads and drops the body: the same program is the OTLP
// collector of runs with tracing on.
//
//	go run ./bench/upstream -listen 127.0.0.1:9571
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

// body is exactly 64 bytes, newline included.
const body = `{"ok":true,"service":"bench-upstream","note":"fixed 64 bytes."}` + "\n"

func main() {
	listen := flag.String("listen", "127.0.0.1:9571", "host:port to listen on")
	flag.Parse()
	if len(body) != 64 {
		fmt.Fprintf(os.Stderr, "upstream: body is %d bytes, want 64\n", len(body))
		os.Exit(2)
	}
	length := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			// An OTLP/HTTP trace export (run.sh's BENCH_TRACING starts one
			// upstream as the collector): read whole and dropped.
			io.Copy(io.Discard, r.Body)
			return
		}
		// Drain a small body so the connection can be reused; the server
		// closes connections whose body is larger.
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		hdr := w.Header()
		hdr["Content-Type"] = []string{"application/json"}
		hdr["Content-Length"] = []string{length}
		io.WriteString(w, body)
	})
	srv := &http.Server{
		Addr:              *listen,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	log.Printf("upstream: listening on http://%s", *listen)
	log.Fatal(srv.ListenAndServe())
}
