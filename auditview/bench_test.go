package auditview_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
	"github.com/gatehouse-dev/gatehouse/auditview"
)

// benchEventsEnv sizes the generated trail; unset, it holds 1,000,000
// events. benchTrailEnv names a file to keep the trail in and to reuse on
// the next run (with the pseudonym key beside it); unset, each run makes
// its own in a temporary directory.
const (
	benchEventsEnv = "GATEHOUSE_BENCH_EVENTS"
	benchTrailEnv  = "GATEHOUSE_BENCH_TRAIL"
)

// The generated trail spans a week up to benchEnd: a gateway answering
// about 1.7 requests a second, every one of them recorded.
var (
	benchEnd  = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	benchSpan = 7 * 24 * time.Hour
)

const (
	benchTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	benchUsers  = 2000
	benchAlice  = 37 // the user the "user" views ask for: a frequent caller, not the busiest
)

var benchAgents = []string{
	"8f5c3767-7276-4be0-b5db-808ab516452c", "a3f2c1d0-5b6e-4c7d-8e9f-0a1b2c3d4e5f", "0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e",
	"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b", "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
}

var benchRoutes = []string{"orders", "orders-write", "reports", "reports-export", "billing", "whoami", "echo", "api", "jobs", "admin", "search", "profile"}

// userOID is the object id of the i-th generated user.
func userOID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// generate writes n events through a Recorder, as a gateway would: a
// skewed spread of users (a few call a lot), one call in five through an
// agent, 5% denied and 3% failed, events about 900 bytes of JSON each,
// with a signed checkpoint every 1,000.
func generate(b *testing.B, path string, n int, keys *audit.Pseudonymizer) audit.Sink {
	sink, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Create: true})
	if err != nil {
		b.Fatal(err)
	}
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Mode: audit.Async, Replica: "gw-1", Signer: audittest.Key(b), BatchSize: 4096, QueueSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	rng := mrand.New(mrand.NewPCG(19, 2))
	zipf := mrand.NewZipf(rng, 1.1, 4, benchUsers-1)
	principals := make([]string, benchUsers)
	for i := range principals {
		principals[i] = keys.Principal(benchTenant, userOID(i))
	}
	start := benchEnd.Add(-benchSpan)
	began := time.Now()
	for i := range n {
		u := int(zipf.Uint64())
		route := benchRoutes[rng.IntN(len(benchRoutes))]
		e := &audit.Event{
			Time:      start.Add(time.Duration(float64(benchSpan) * float64(i) / float64(n))),
			RequestID: fmt.Sprintf("01JD%022d", i), Tenant: benchTenant,
			Principal: principals[u], PrincipalKind: "user", App: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
			Action: "invoke", Resource: "/" + route + "/" + strconv.Itoa(rng.IntN(100000)), Route: route, Decision: audit.DecisionAllow,
			Policies: []string{"allow-" + route + "-readers"}, Role: []string{"reader", "writer", "operator"}[u%3], STSSession: "gh-5f0c1e2a9b",
			Target: "arn:aws:lambda:eu-west-1:123456789012:function:" + route, TargetRequestID: "8f5c2a1e-7d3b-4c9a-9e2f-1a2b3c4d5e6f",
			Status: 200, LatencyMicros: int64(1000 + rng.IntN(50000)), Claims: map[string]string{"scp": "orders.read", "ver": "2.0"},
		}
		if rng.IntN(5) == 0 {
			e.Agents = []audit.Agent{{Subject: benchAgents[rng.IntN(len(benchAgents))], App: benchAgents[rng.IntN(len(benchAgents))], Via: "obo"}}
			e.Agents[0].Subject = e.Agents[0].App
		}
		switch x := rng.IntN(100); {
		case x < 5:
			e.Decision, e.Status, e.Role, e.Target, e.TargetRequestID, e.STSSession, e.ErrorClass = audit.DecisionDeny, 403, "", "", "", "", "access_denied"
		case x < 8:
			e.Decision, e.Status, e.ErrorClass = audit.DecisionError, 502, "upstream_error"
		}
		if err := r.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d events in %s", n, time.Since(began).Round(time.Second))
	return sink
}

// BenchmarkViewMillion: the auditor's view answers one page (timeline,
// decisions chart, top denied lists, verification banner), as a browser
// asks for it, over a generated trail of a million events, for each
// filter, in the default window (the last 24 hours: about 143,000 events)
// and in a window holding the whole trail (7 days). The trail is made once
// per run, in a temporary directory (a few minutes), and verified once
// before the pages are timed.
//
//	go test -run '^$' -bench ViewMillion -benchtime 20x ./auditview/
func BenchmarkViewMillion(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv(benchEventsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("%s=%q: want a number of events, at least 1000", benchEventsEnv, v)
		}
	}
	path := os.Getenv(benchTrailEnv)
	if path == "" {
		path = filepath.Join(b.TempDir(), "audit.db")
	}
	// The pseudonym key is kept beside a trail that is kept.
	key, err := os.ReadFile(path + ".key")
	reuse := err == nil
	if _, err := os.Stat(path); err != nil {
		reuse = false
	}
	if !reuse {
		os.Remove(path)
		key = make([]byte, 32)
		rand.Read(key)
		if err := os.WriteFile(path+".key", key, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	keys, err := audit.NewPseudonymizer(key)
	if err != nil {
		b.Fatal(err)
	}
	var sink audit.Sink
	if reuse {
		if sink, err = sqlite.Open(context.Background(), sqlite.Config{Path: path, Create: true}); err != nil {
			b.Fatal(err)
		}
		b.Logf("reusing the trail in %s", path)
	} else {
		sink = generate(b, path, n, keys)
	}
	defer sink.Close()

	view, err := auditview.New(auditview.Config{
		Store: sink, Prefix: "/audit/", StoreName: "SQLite",
		ResolveUser: func(user, tenant string) ([]string, error) {
			return []string{keys.Principal(benchTenant, user)}, nil
		},
		Agents: map[string]string{benchAgents[0]: "report-agent"},
		Now:    func() time.Time { return benchEnd },
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	view.Start(ctx)
	for {
		if at, ok := view.Verified(); !at.IsZero() {
			if !ok {
				b.Fatal("the generated trail does not verify")
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Logf("verified in %s", time.Since(began).Round(time.Second))
	srv := httptest.NewServer(view)
	defer srv.Close()

	// The user filter goes through the view as a browser sends it: the
	// name first, then the page of its pseudonyms the view redirects to.
	loc := get(b, srv, "/audit/?user="+userOID(benchAlice), http.StatusSeeOther).Header.Get("Location")
	alice, err := url.Parse(loc)
	if err != nil || alice.Query().Get("principal") == "" {
		b.Fatalf("the user filter redirects to %q", loc)
	}
	// A cursor half-way down the trail, as "older" links carry after many
	// pages: keyset pagination reads from there, not past what is skipped.
	mid := benchEnd.Add(-benchSpan / 2)
	deep := fmt.Sprintf("%d.%d", mid.UnixMicro(), n/2)

	views := []struct{ name, query string }{
		{"none", ""},
		{"user", alice.RawQuery},
		{"agent", "agent=report-agent"},
		{"route", "route=admin"},
		{"role", "role=operator"},
		{"decision", "decision=deny"},
		{"user+decision", alice.RawQuery + "&decision=deny"},
	}
	for _, window := range []string{"24h", "7d"} {
		for _, v := range views {
			q := v.query + "&window=" + window
			b.Run(window+"/"+v.name, func(b *testing.B) { benchPage(b, srv, "/audit/?"+q) })
		}
	}
	b.Run("7d/none/deep-page", func(b *testing.B) { benchPage(b, srv, "/audit/?window=7d&after="+deep) })
}

func benchPage(b *testing.B, srv *httptest.Server, path string) {
	var worst time.Duration
	for b.Loop() {
		began := time.Now()
		get(b, srv, path, http.StatusOK)
		worst = max(worst, time.Since(began))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
	b.ReportMetric(math.Round(float64(worst.Microseconds())/100)/10, "worst-ms")
}

// get fetches path without following redirects, reads the whole answer
// and checks its status.
func get(b *testing.B, srv *httptest.Server, path string, status int) *http.Response {
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get(srv.URL + path)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		b.Fatalf("GET %s: %d, want %d\n%s", path, resp.StatusCode, status, body)
	}
	return resp
}
