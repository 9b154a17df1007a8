package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP receiver: it decodes each export and keeps the
// span names and the headers it came with.
type collector struct {
	*httptest.Server
	mu      sync.Mutex
	names   []string
	headers []http.Header
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP export", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.headers = append(c.headers, r.Header.Clone())
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.names = append(c.names, s.Name)
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) spans() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

func TestHTTPExport(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=leaked")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	c := newCollector(t)
	token := "first"
	var mu sync.Mutex
	tr, err := New(t.Context(), Config{Exporter: ExporterHTTP, Endpoint: c.URL, SampleRatio: 1, ServiceVersion: "test",
		Headers: map[string]func() (string, error){"authorization": func() (string, error) {
			mu.Lock()
			defer mu.Unlock()
			return "Bearer " + token + "\n", nil
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "one")
	span.End()
	if err := tr.ForceFlush(t.Context()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	token = "rotated"
	mu.Unlock()
	_, span = tr.TracerProvider().Tracer("test").Start(t.Context(), "two")
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.spans(), ","); got != "one,two" {
		t.Errorf("collector got spans %q, want one,two", got)
	}
	if len(c.headers) != 2 {
		t.Fatalf("%d exports, want 2", len(c.headers))
	}
	for i, want := range []string{"Bearer first", "Bearer rotated"} {
		h := c.headers[i]
		if got := h.Get("Authorization"); got != want {
			t.Errorf("export %d: Authorization %q, want %q (read at each export)", i, got, want)
		}
		if h.Get("X-From-Env") != "" {
			t.Errorf("export %d: a header from the environment was sent", i)
		}
	}
}

// traceServer is an OTLP/gRPC receiver.
type traceServer struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
	auth  []string
}

func (s *traceServer) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auth = append(s.auth, md.Get("authorization")...)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				s.names = append(s.names, sp.Name)
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func TestGRPCExport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ts := &traceServer{}
	coltracepb.RegisterTraceServiceServer(srv, ts)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	tr, err := New(t.Context(), Config{Exporter: ExporterGRPC, Endpoint: "http://" + ln.Addr().String(), SampleRatio: 1,
		Headers: map[string]func() (string, error){"Authorization": func() (string, error) { return "Bearer g", nil }}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "over-grpc")
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if strings.Join(ts.names, ",") != "over-grpc" || strings.Join(ts.auth, ",") != "Bearer g" {
		t.Errorf("gRPC collector got spans %v with authorization %v", ts.names, ts.auth)
	}
}

func TestUnreadableHeaderFailsTheExportQuietly(t *testing.T) {
	c := newCollector(t)
	var logs bytes.Buffer
	tr, err := New(t.Context(), Config{Exporter: ExporterHTTP, Endpoint: c.URL, SampleRatio: 1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Headers: map[string]func() (string, error){
			"Authorization": func() (string, error) { return "Bearer s3cr3t\r\nX-Injected: 1", nil },
			"X-Other":       func() (string, error) { return "", errors.New("store unreachable") },
		}})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "lost")
	span.End()
	tr.Shutdown(t.Context())
	if n := len(c.spans()); n != 0 {
		t.Errorf("the collector got %d spans despite a bad header", n)
	}
	if !strings.Contains(logs.String(), "trace export failed") || strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("log:\n%s\nwant the failure, without the header's value", logs.String())
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown exporter", Config{Exporter: "zipkin", Endpoint: "https://c:4318"}, "exporter"},
		{"http to a remote host", Config{Exporter: ExporterHTTP, Endpoint: "http://collector.example:4318"}, "loopback"},
		{"password in the URL", Config{Exporter: ExporterHTTP, Endpoint: "https://u:p@collector.example"}, "user information"},
		{"grpc with a path", Config{Exporter: ExporterGRPC, Endpoint: "https://collector.example:4317/v1/traces"}, "no path"},
		{"ratio above 1", Config{Exporter: ExporterHTTP, Endpoint: "https://c:4318", SampleRatio: 1.5}, "between 0 and 1"},
		{"reserved header", Config{Exporter: ExporterHTTP, Endpoint: "https://c:4318",
			Headers: map[string]func() (string, error){"Content-Type": func() (string, error) { return "x", nil }}}, "exporter's own"},
		{"bad header name", Config{Exporter: ExporterHTTP, Endpoint: "https://c:4318",
			Headers: map[string]func() (string, error){"X Bad": func() (string, error) { return "x", nil }}}, "header name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestSampleRatioZeroStillGivesTraceIDs(t *testing.T) {
	c := newCollector(t)
	tr, err := New(t.Context(), Config{Exporter: ExporterHTTP, Endpoint: c.URL, SampleRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.TracerProvider().Tracer("test").Start(t.Context(), "unsampled")
	if !span.SpanContext().IsValid() || span.IsRecording() {
		t.Errorf("unsampled span: valid %v, recording %v; want a trace id and no recording", span.SpanContext().IsValid(), span.IsRecording())
	}
	span.End()
	tr.Shutdown(t.Context())
	if n := len(c.spans()); n != 0 {
		t.Errorf("%d spans exported at ratio 0", n)
	}
}

func TestNilTracingIsOff(t *testing.T) {
	var tr *Tracing
	if tr.TracerProvider() != nil || tr.ForceFlush(t.Context()) != nil || tr.Shutdown(t.Context()) != nil {
		t.Error("a nil Tracing is not off")
	}
}
