package telemetry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Exporters, the values of Config.Exporter.
const (
	ExporterHTTP = "otlp_http" // OTLP over HTTP (protobuf), to <endpoint>/v1/traces unless the URL has a path
	ExporterGRPC = "otlp_grpc" // OTLP over gRPC
)

// Config configures tracing. Zero values mean the documented defaults.
type Config struct {
	// Exporter is ExporterHTTP or ExporterGRPC; required unless
	// SpanExporter is set.
	Exporter string
	// Endpoint is the collector's URL: https, or http to a loopback
	// address only (nothing else is sent in clear). For ExporterHTTP its
	// path, if any, is where spans are posted (default /v1/traces); for
	// ExporterGRPC it has no path.
	Endpoint string
	// Headers are sent with every export, by name: each value is asked
	// for at each export (a rotated secret is sent from the next export
	// on). A value that cannot be read fails that export, which is
	// logged; values are never logged.
	Headers map[string]func() (string, error)
	// RootCAs are the CAs trusted for the collector's certificate; nil
	// means the system's.
	RootCAs *x509.CertPool
	// SampleRatio is the fraction of new traces sampled, 0 to 1. A trace
	// whose parent the caller sent (when the front door trusts it) keeps
	// the parent's decision.
	SampleRatio float64
	// ServiceName names the service in every span's resource; "" means
	// "gatehouse". ServiceVersion and InstanceID, when set, are
	// service.version and service.instance.id.
	ServiceName, ServiceVersion, InstanceID string
	// SpanExporter, when set, receives the spans instead of an OTLP
	// exporter (tests).
	SpanExporter sdktrace.SpanExporter
	// Logger receives export failures; nil means slog.Default().
	Logger *slog.Logger
}

// Tracing is the process's tracing: a TracerProvider and its exporter.
// The nil *Tracing is tracing switched off: its TracerProvider is nil and
// its methods do nothing.
type Tracing struct {
	tp *sdktrace.TracerProvider
}

// Attribute and event limits of every span: gatehouse's spans need far
// less; the limits only bound what a mistake could make of them.
var spanLimits = sdktrace.SpanLimits{
	AttributeValueLengthLimit:   256,
	AttributeCountLimit:         32,
	EventCountLimit:             8,
	LinkCountLimit:              4,
	AttributePerEventCountLimit: 8,
	AttributePerLinkCountLimit:  8,
}

// exportTimeout bounds one export.
const exportTimeout = 10 * time.Second

// New checks cfg and builds the tracing. It makes no network call: the
// exporter connects at its first export.
func New(ctx context.Context, cfg Config) (*Tracing, error) {
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 || math.IsNaN(cfg.SampleRatio) {
		return nil, fmt.Errorf("telemetry: sample ratio %v is not between 0 and 1", cfg.SampleRatio)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	exp := cfg.SpanExporter
	if exp == nil {
		var err error
		if exp, err = otlpExporter(ctx, cfg); err != nil {
			return nil, err
		}
	}
	name := cfg.ServiceName
	if name == "" {
		name = "gatehouse"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", cfg.ServiceVersion))
	}
	if cfg.InstanceID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.InstanceID))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: log}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithRawSpanLimits(spanLimits),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
	return &Tracing{tp: tp}, nil
}

// TracerProvider is what spans are started with; nil when t is nil
// (tracing off).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// ForceFlush exports the spans ended so far, within ctx: a Lambda function
// calls it before each invocation returns, as Lambda may freeze the
// process right after.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown exports what is queued, within ctx, and stops: spans started
// later are not exported.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// CheckEndpoint says what is wrong with an endpoint for exporter, or nil.
func CheckEndpoint(exporter, endpoint string) error {
	u, err := url.Parse(endpoint)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("endpoint %q: want the collector's URL, such as https://collector:4318", endpoint)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("endpoint %q: the scheme must be https (or http to a loopback address)", endpoint)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return fmt.Errorf("endpoint %q: spans are sent in clear to a loopback address only: use https", endpoint)
	case u.User != nil:
		return errors.New("endpoint: no user information in the URL: send credentials as a header")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("endpoint %q: no query or fragment", endpoint)
	case exporter == ExporterGRPC && strings.Trim(u.Path, "/") != "":
		return fmt.Errorf("endpoint %q: a gRPC endpoint has no path", endpoint)
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func otlpExporter(ctx context.Context, cfg Config) (sdktrace.SpanExporter, error) {
	if cfg.Exporter != ExporterHTTP && cfg.Exporter != ExporterGRPC {
		return nil, fmt.Errorf("telemetry: exporter %q: want %s or %s", cfg.Exporter, ExporterHTTP, ExporterGRPC)
	}
	if err := CheckEndpoint(cfg.Exporter, cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	headers, err := newHeaderSet(cfg.Headers)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.Endpoint)
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs}
	// Exports to a collector on this host (an agent) go uncompressed:
	// gzip costs more CPU per request than the export itself, and saves
	// nothing on loopback. Elsewhere they are gzipped.
	compress := !loopback(u.Hostname())
	if cfg.Exporter == ExporterHTTP {
		if strings.Trim(u.Path, "/") == "" {
			u.Path = "/v1/traces" // OTLP/HTTP's default path
		}
		tr := &http.Transport{
			Proxy:                 nil, // the collector's address comes from configuration only
			DialContext:           (&net.Dialer{Timeout: exportTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   exportTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: exportTimeout,
			ForceAttemptHTTP2:     true,
		}
		compression := otlptracehttp.NoCompression
		if compress {
			compression = otlptracehttp.GzipCompression
		}
		return otlptracehttp.New(ctx,
			otlptracehttp.WithEndpointURL(u.String()),
			otlptracehttp.WithHTTPClient(&http.Client{Transport: &headerTransport{base: tr, headers: headers}, Timeout: exportTimeout}),
			otlptracehttp.WithHeaders(map[string]string{}), // none from the environment
			otlptracehttp.WithCompression(compression),
			otlptracehttp.WithTimeout(exportTimeout),
		)
	}
	opts := []otlptracegrpc.Option{
		otlptracegrpc.WithEndpointURL(u.String()),
		otlptracegrpc.WithHeaders(map[string]string{}),
		otlptracegrpc.WithTimeout(exportTimeout),
		otlptracegrpc.WithDialOption(grpc.WithPerRPCCredentials(&rpcHeaders{headers: headers, secure: u.Scheme == "https"})),
	}
	if compress {
		opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
	}
	if u.Scheme == "https" {
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsCfg)))
	} else {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	return otlptracegrpc.New(ctx, opts...)
}

// headerSet is the configured headers, by canonical name, in name order.
type headerSet struct {
	names  []string
	values map[string]func() (string, error)
}

// reservedHeaders are set by the exporter itself.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Type": true, "Content-Length": true, "Content-Encoding": true, "Transfer-Encoding": true,
	"Connection": true, "Te": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true, "User-Agent": true,
}

func newHeaderSet(h map[string]func() (string, error)) (*headerSet, error) {
	s := &headerSet{values: map[string]func() (string, error){}}
	for name, v := range h {
		if !tokenName(name) || v == nil {
			return nil, fmt.Errorf("telemetry: header %q: want a header name and a value", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if reservedHeaders[canon] || strings.HasPrefix(name, ":") {
			return nil, fmt.Errorf("telemetry: header %q is the exporter's own", name)
		}
		s.names = append(s.names, canon)
		s.values[canon] = v
	}
	sort.Strings(s.names)
	return s, nil
}

// read returns every header's current value.
func (s *headerSet) read() (map[string]string, error) {
	out := make(map[string]string, len(s.names))
	for _, name := range s.names {
		v, err := s.values[name]()
		if err != nil {
			return nil, fmt.Errorf("telemetry: header %s: its value is unavailable: %w", name, err)
		}
		v = strings.TrimSpace(v)
		if v == "" || !headerValue(v) {
			// The value itself is never repeated.
			return nil, fmt.Errorf("telemetry: header %s: its value is empty or not a valid header value", name)
		}
		out[name] = v
	}
	return out, nil
}

func tokenName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func headerValue(s string) bool {
	if len(s) > 8<<10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// headerTransport adds the configured headers to each export request.
type headerTransport struct {
	base    http.RoundTripper
	headers *headerSet
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if len(t.headers.names) == 0 {
		return t.base.RoundTrip(r)
	}
	h, err := t.headers.read()
	if err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	r = r.Clone(r.Context())
	for name, v := range h {
		r.Header.Set(name, v)
	}
	return t.base.RoundTrip(r)
}

// rpcHeaders adds the configured headers to each gRPC export.
type rpcHeaders struct {
	headers *headerSet
	secure  bool
}

func (c *rpcHeaders) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	h, err := c.headers.read()
	if err != nil {
		return nil, err
	}
	md := make(map[string]string, len(h))
	for name, v := range h {
		md[strings.ToLower(name)] = v // gRPC metadata keys are lower case
	}
	return md, nil
}

// RequireTransportSecurity: headers (credentials, typically) go over TLS,
// or in clear to a loopback address only (CheckEndpoint).
func (c *rpcHeaders) RequireTransportSecurity() bool { return c.secure }

// loggingExporter logs export failures (at most one line a minute, with
// the number of failures since the last) instead of handing them to the
// SDK's global error handler, and never fails the batch processor.
type loggingExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger

	mu       sync.Mutex
	last     time.Time
	failures int
	lost     int
}

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	e.mu.Lock()
	e.failures++
	e.lost += len(spans)
	now := time.Now()
	if now.Sub(e.last) < time.Minute {
		e.mu.Unlock()
		return nil
	}
	failures, lost := e.failures, e.lost
	e.last, e.failures, e.lost = now, 0, 0
	e.mu.Unlock()
	e.log.Warn("telemetry: trace export failed; spans lost", "exports", failures, "spans", lost, "err", err)
	return nil
}
