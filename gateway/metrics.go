package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/creds"
)

// Metrics are the gateway's Prometheus metrics, served at /metrics. Labels
// are the configured route ids, statuses and decisions only: nothing a
// caller sends becomes a label (unbounded cardinality would be a denial of
// service).
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics creates the gateway's metrics in a registry of their own, with
// the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_requests_total",
			Help: "Requests by route, HTTP status and policy decision (allow, deny, error).",
		}, []string{"route", "status", "decision"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_request_duration_seconds",
			Help:    "Time from request to response (all five steps), by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
	}
	m.registry.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchVerifier exports the verifier's counters: verified-token cache hits
// and full verifications, and JWKS/discovery fetches and their failures.
func (m *Metrics) WatchVerifier(stats func() authn.Stats) {
	m.counters(map[string]func() int64{
		"gatehouse_token_cache_hits_total":    func() int64 { return stats().CacheHits },
		"gatehouse_token_verifications_total": func() int64 { return stats().CacheMisses },
		"gatehouse_jwks_fetches_total":        func() int64 { return stats().KeyFetches },
		"gatehouse_jwks_fetch_failures_total": func() int64 { return stats().KeyFetchErrors },
	})
}

// WatchBroker exports the credential broker's counters: cached sessions
// served, misses, and STS calls and their failures.
func (m *Metrics) WatchBroker(stats func() creds.Stats) {
	m.counters(map[string]func() int64{
		"gatehouse_credential_cache_hits_total":   func() int64 { return stats().CacheHits },
		"gatehouse_credential_cache_misses_total": func() int64 { return stats().CacheMisses },
		"gatehouse_sts_calls_total":               func() int64 { return stats().STSCalls },
		"gatehouse_sts_call_failures_total":       func() int64 { return stats().STSErrors },
	})
}

// Register exports the metrics of another part (such as the secrets'
// ages and refresh failures).
func (m *Metrics) Register(c prometheus.Collector) { m.registry.MustRegister(c) }

// WatchCounter exports one more counter read from f, such as the identity
// assertion cache's hits.
func (m *Metrics) WatchCounter(name, help string, f func() int64) {
	m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) }))
}

var counterHelp = map[string]string{
	"gatehouse_token_cache_hits_total":        "Tokens answered from the verified-token cache (time and key validity re-checked).",
	"gatehouse_token_verifications_total":     "Tokens verified in full (parse, signature, claims).",
	"gatehouse_jwks_fetches_total":            "Discovery and JWKS fetch attempts, all issuers.",
	"gatehouse_jwks_fetch_failures_total":     "Discovery and JWKS fetch attempts that failed.",
	"gatehouse_credential_cache_hits_total":   "Requests served a cached STS session.",
	"gatehouse_credential_cache_misses_total": "Requests that needed a new STS session.",
	"gatehouse_sts_calls_total":               "Calls made to AWS STS.",
	"gatehouse_sts_call_failures_total":       "Calls to AWS STS that failed.",
}

func (m *Metrics) counters(fs map[string]func() int64) {
	for name, f := range fs {
		m.WatchCounter(name, counterHelp[name], f)
	}
}

func (m *Metrics) observe(route string, status int, decision string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status), decision).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
