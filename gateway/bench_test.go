package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
	"github.com/gatehouse-dev/gatehouse/authn"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
	"github.com/gatehouse-dev/gatehouse/invoke"
	"github.com/gatehouse-dev/gatehouse/mint"
	"github.com/gatehouse-dev/gatehouse/telemetry"
)

// The benchmarks run the gateway with its real steps (verifier with its
// cache, Cedar policy, asynchronous SQLite trail, the HTTP upstream target)
// in front of a trivial upstream, beside a bare httputil.ReverseProxy to
// the same upstream: the difference is what gatehouse adds per request,
// without TLS or a load generator in the way (bench/ measures those).

func benchUpstream(b *testing.B) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true,"service":"bench","padding":"xxxxxxxxxxxxxxxxxxxx"}`))
	}))
	b.Cleanup(up.Close)
	return up
}

func benchTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	return t
}

func BenchmarkBareReverseProxy(b *testing.B) {
	up := benchUpstream(b)
	u, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.SetXForwarded() }, Transport: benchTransport()}
	runParallel(b, rp, "")
}

func BenchmarkGatewayUpstream(b *testing.B) {
	up := benchUpstream(b)
	g, iss := newRealGateway(b, up.URL)
	runParallel(b, g.Handler(), benchToken(iss)) // its first request fetches the issuer's keys, before the timer starts
}

// BenchmarkGatewayUpstreamTracing is BenchmarkGatewayUpstream with tracing
// off, and on with 1% and 100% of requests sampled: spans go through the
// real batch processor and OTLP/HTTP exporter to a local collector that
// reads and discards them, so the exporter's work is measured too.
func BenchmarkGatewayUpstreamTracing(b *testing.B) {
	up := benchUpstream(b)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(collector.Close)
	for _, tc := range []struct {
		name  string
		ratio float64
		off   bool
	}{{name: "off", off: true}, {name: "sampled=1%", ratio: 0.01}, {name: "sampled=100%", ratio: 1}} {
		b.Run(tc.name, func(b *testing.B) {
			var tp trace.TracerProvider
			if !tc.off {
				tr, err := telemetry.New(context.Background(), telemetry.Config{Exporter: telemetry.ExporterHTTP, Endpoint: collector.URL, SampleRatio: tc.ratio})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { tr.Shutdown(context.Background()) })
				tp = tr.TracerProvider()
			}
			g, iss := newRealGateway(b, up.URL, tp)
			runParallel(b, g.Handler(), benchToken(iss))
		})
	}
}

func benchToken(iss *testkit.Issuer) string {
	now := time.Now()
	return iss.Sign(map[string]any{
		"iss": iss.URL(), "aud": "api://gatehouse", "sub": "user-1", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "nbf": now.Unix(), "jti": "t1", "groups": []string{readersGroup}, "azp": "cli",
	})
}

const readersGroup = "15dd7745-cbbe-45b1-9b2a-ee1ef7644785"

// newRealGateway builds a gateway with its real steps in front of the
// upstream at upstreamURL: a verifier trusting the returned issuer (its
// Sign makes the tokens), a Cedar policy letting readersGroup read route
// "api" (/api/...), an asynchronous SQLite trail and the HTTP target with
// gatehouse's assertion; traced with tracer, when one is given.
func newRealGateway(tb testing.TB, upstreamURL string, tracer ...trace.TracerProvider) (*Gateway, *testkit.Issuer) {
	tb.Helper()
	iss := testkit.NewIssuer(tb, testkit.IssuerConfig{})
	v, err := authn.NewVerifier(authn.Config{Issuers: []authn.IssuerConfig{{
		Name: "corp", Issuer: iss.URL(), Audiences: []string{"api://gatehouse"},
	}}, HTTPClient: iss.Client()})
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := authz.New(authz.Config{
		Roles: []authz.Role{{Name: "reader", Actions: []string{authz.ActionRead}, Routes: []string{"api"}}},
		Rules: []authz.Rule{{ID: "readers", Effect: authz.EffectAllow, Roles: []string{"reader"}, Groups: []authz.GroupRef{{ID: readersGroup}}}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	sink, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(tb.TempDir(), "audit.db"), Create: true})
	if err != nil {
		tb.Fatal(err)
	}
	rec, err := audit.NewRecorder(audit.Config{Sink: sink, Mode: audit.Async, Replica: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rec.Close(); sink.Close() })
	pseudo, _ := audit.NewPseudonymizer(make([]byte, 32))
	issuer, err := mint.NewIssuer(mint.Config{URL: "https://gatehouse.example"})
	if err != nil {
		tb.Fatal(err)
	}
	target, err := invoke.NewHTTP(invoke.HTTPConfig{URL: upstreamURL, Transport: benchTransport(),
		Assert: func(p *authn.Principal, aud, role string) (string, error) {
			return issuer.Assertion(p, aud, role, time.Now())
		}})
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(Config{Snapshot: Snapshot{
		Routes: []Route{{ID: "api", Path: "/api/{rest...}", Target: target, TargetName: "api",
			Resource: authz.Resource{Kind: authz.ResourceRoute, Name: "api"}, NoCredentials: true}},
		Pipeline: steps{verifier: v, policy: pol, broker: &countingBroker{}, recorder: rec, pseudo: pseudo.Principal,
			claims: []string{"azpacr", "idtyp"}, tracer: firstOr(tracer)}.pipeline(tb),
	}, Metrics: NewMetrics()})
	if err != nil {
		tb.Fatal(err)
	}
	return g, iss
}

func firstOr(tps []trace.TracerProvider) trace.TracerProvider {
	if len(tps) == 0 {
		return nil
	}
	return tps[0]
}

func runParallel(b *testing.B, h http.Handler, bearer string) {
	// One request first: keys fetched, connections open, caches warm.
	serve := func() int {
		req := httptest.NewRequest("GET", "/api/items/7?page=2", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := serve(); code != 200 {
		b.Fatalf("warm-up request: %d", code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := serve(); code != 200 {
				b.Errorf("status %d", code)
				return
			}
		}
	})
}
