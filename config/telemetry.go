package config

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Telemetry is the `telemetry:` section: what gatehouse tells an operator's
// observability stack besides logs and metrics.
type Telemetry struct {
	// Tracing exports OpenTelemetry traces of requests: off unless
	// tracing.exporter is set.
	Tracing Tracing `yaml:"tracing,omitempty"`
}

// Exporters of telemetry.tracing.exporter.
const (
	TracingOTLPHTTP = "otlp_http" // OTLP over HTTP (protobuf)
	TracingOTLPGRPC = "otlp_grpc" // OTLP over gRPC
)

// DefaultServiceName is telemetry.tracing.service_name's default.
const DefaultServiceName = "gatehouse"

// Tracing is `telemetry.tracing`: one trace per request, a span per step,
// exported over OTLP. docs/observability.md lists the spans and what they
// say (pseudonyms, roles, decisions, routes and statuses: never a token, a
// name or a claim).
type Tracing struct {
	// Exporter is otlp_http or otlp_grpc; "" (the default) means no
	// tracing, and then no other field may be set.
	Exporter string `yaml:"exporter,omitempty"`
	// Endpoint is the collector's URL: https, or http to localhost or a
	// loopback address only. For otlp_http its path, if any, is where
	// spans are posted ("" means /v1/traces); otlp_grpc takes no path.
	// Required with an exporter.
	Endpoint string `yaml:"endpoint,omitempty"`
	// Headers are sent with every export (a vendor's API key, say), each
	// value from a secret reference, never written here; a rotated value is
	// sent from the next export after the secrets refresh.
	Headers map[string]SecretRef `yaml:"headers,omitempty"`
	// CAFile is a PEM file of CAs trusted for the endpoint besides the
	// system's; https endpoints only. A path: Validate does not read it.
	CAFile string `yaml:"ca_file,omitempty"`
	// SampleRatio is the fraction of new traces sampled, 0 to 1; unset
	// means 1 (every request). A trace continued from a trusted caller
	// keeps the caller's decision.
	SampleRatio *float64 `yaml:"sample_ratio,omitempty"`
	// TrustIncoming continues the W3C trace context (traceparent) callers
	// send; false (the default) starts a new trace for every request and
	// never passes a caller's trace headers on as gatehouse's own. Set it
	// only when every caller is a service of your own.
	TrustIncoming bool `yaml:"trust_incoming,omitempty"`
	// ServiceName is service.name in every span's resource; "" means
	// "gatehouse".
	ServiceName string `yaml:"service_name,omitempty"`
}

// Enabled reports whether requests are traced.
func (t *Tracing) Enabled() bool { return t.Exporter != "" }

// Ratio is the sampling ratio in effect.
func (t *Tracing) Ratio() float64 {
	if t.SampleRatio == nil {
		return 1
	}
	return *t.SampleRatio
}

// HeaderNames lists the headers in name order.
func (t *Tracing) HeaderNames() []string {
	names := make([]string, 0, len(t.Headers))
	for name := range t.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// HeaderField is the field of a header's reference, as SecretRefs and
// problems name it.
func HeaderField(name string) string { return keyPath("telemetry.tracing.headers", name) }

const maxTracingHeaders = 16

var (
	serviceNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	headerNameRE  = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
	// reservedTracingHeaders are the exporter's own.
	reservedTracingHeaders = []string{"Host", "Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding",
		"Connection", "Te", "Upgrade", "Keep-Alive", "Proxy-Connection", "User-Agent"}
)

// telemetry checks the telemetry section.
func (v *validator) telemetry(t *Telemetry) {
	tr := &t.Tracing
	const p = "telemetry.tracing"
	if !tr.Enabled() {
		off := "is only used with telemetry.tracing.exporter (otlp_http or otlp_grpc): tracing is off"
		v.run(
			check{tr.Endpoint != "", p + ".endpoint", off},
			check{len(tr.Headers) > 0, p + ".headers", off},
			check{tr.CAFile != "", p + ".ca_file", off},
			check{tr.SampleRatio != nil, p + ".sample_ratio", off},
			check{tr.TrustIncoming, p + ".trust_incoming", off},
			check{tr.ServiceName != "", p + ".service_name", off},
		)
		return
	}
	switch tr.Exporter {
	case TracingOTLPHTTP, TracingOTLPGRPC:
	default:
		v.add(p+".exporter", "%s: want otlp_http or otlp_grpc", short(tr.Exporter))
	}
	switch {
	case tr.Endpoint == "":
		v.add(p+".endpoint", "is required: the collector's URL, such as https://otel-collector:4318 (otlp_http) or https://otel-collector:4317 (otlp_grpc)")
	default:
		if msg := checkURL(tr.Endpoint, urlRules{localHTTP: true, noQuery: true}); msg != "" {
			v.add(p+".endpoint", "%s", msg)
		} else if u, _ := url.Parse(tr.Endpoint); tr.Exporter == TracingOTLPGRPC && strings.Trim(u.Path, "/") != "" {
			v.add(p+".endpoint", "%s: an otlp_grpc endpoint has no path", short(tr.Endpoint))
		} else if tr.CAFile != "" && u.Scheme != "https" {
			v.add(p+".ca_file", "is only used with an https endpoint")
		}
	}
	if len(tr.Headers) > maxTracingHeaders {
		v.add(p+".headers", "%d headers: at most %d", len(tr.Headers), maxTracingHeaders)
	}
	for _, name := range tr.HeaderNames() {
		field := HeaderField(name)
		switch {
		case !headerNameRE.MatchString(name):
			v.add(field, "%s is not a header name", short(name))
		case slices.Contains(reservedTracingHeaders, http.CanonicalHeaderKey(name)):
			v.add(field, "%s is set by the exporter itself", short(name))
		}
		if ref := tr.Headers[name]; ref.IsZero() {
			v.add(field, "is required: where the header's value lives (file: PATH, aws_secrets_manager: {secret_id: ...} or azure_key_vault: {vault: URL, name: ...})")
		} else {
			v.secretRef(field, ref)
		}
	}
	if r := tr.SampleRatio; r != nil && !(*r >= 0 && *r <= 1) {
		v.add(p+".sample_ratio", "%v: want a fraction from 0 to 1, such as 0.01 for one request in a hundred", *r)
	}
	if tr.ServiceName != "" && !serviceNameRE.MatchString(tr.ServiceName) {
		v.add(p+".service_name", "%s: want 1 to 64 letters, digits, '.', '_' or '-'", short(tr.ServiceName))
	}
}

// applyDefaults fills the defaults of an enabled tracing section;
// a disabled one stays empty, so the effective configuration does not
// show it.
func (t *Telemetry) applyDefaults() {
	tr := &t.Tracing
	if !tr.Enabled() {
		return
	}
	if tr.SampleRatio == nil {
		one := 1.0
		tr.SampleRatio = &one
	}
	setDefault(&tr.ServiceName, DefaultServiceName)
}
