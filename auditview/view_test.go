package auditview_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
	"github.com/gatehouse-dev/gatehouse/audit/jsonl"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
	"github.com/gatehouse-dev/gatehouse/auditview"
)

// The sample trail: alice (two pseudonyms: a key rotation), bob, dave
// (always denied), and report-agent acting for alice.
const (
	aliceOld, aliceNew = "p1:alice-under-the-old-key", "p1:alice-under-the-new-key"
	bob, dave          = "p1:bob", "p1:dave"
	agentID            = "8f5c3767-7276-4be0-b5db-808ab516452c"
)

var t0 = audittest.T0

// now is two hours after the first event: the default window (24 hours)
// holds them all.
var now = t0.Add(2 * time.Hour)

type fixture struct {
	t     *testing.T
	path  string
	sink  *sqlite.Sink
	view  *auditview.View
	srv   *httptest.Server
	users map[string][]string
}

func sampleEvents() []*audit.Event {
	var evs []*audit.Event
	for i := range 40 {
		e := &audit.Event{Time: t0.Add(time.Duration(i) * time.Minute), Tenant: "tenant-1", PrincipalKind: "user",
			Action: "invoke", Resource: "/whoami", Route: "whoami", Decision: audit.DecisionAllow, Role: "reader", Status: 200}
		switch i % 4 {
		case 0:
			e.Principal = aliceOld
			if i >= 20 {
				e.Principal = aliceNew
			}
		case 1:
			e.Principal, e.Route, e.Resource, e.Role = bob, "echo", "/echo", "operator"
		case 2:
			e.Principal, e.Decision, e.Role, e.Status, e.Check = dave, audit.DecisionDeny, "", 403, "policy"
		case 3:
			e.Principal = aliceNew
			e.Agents = []audit.Agent{{App: agentID, Via: "obo"}}
			e.Route, e.Resource = "reports", "/reports/q3"
		}
		evs = append(evs, e)
	}
	return evs
}

func newFixture(t *testing.T, evs ...*audit.Event) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "audit.db")}
	var err error
	if f.sink, err = sqlite.Open(t.Context(), sqlite.Config{Path: f.path, Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.sink.Close() })
	key := audittest.Key(t)
	r, err := audit.NewRecorder(audit.Config{Sink: f.sink, Replica: "gw-1", Signer: key, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		evs = sampleEvents()
	}
	for _, e := range evs {
		if err := r.Record(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	f.users = map[string][]string{"alice@contoso.example": {aliceNew, aliceOld}, "dave": {dave}}
	f.view, err = auditview.New(auditview.Config{
		Store: f.sink, Prefix: "/audit/", StoreName: "SQLite", VerifyKey: key.Public(),
		ResolveUser: func(user, tenant string) ([]string, error) {
			if ps, ok := f.users[user]; ok {
				return ps, nil
			}
			return nil, fmt.Errorf("user %q: not found", user)
		},
		Agents: map[string]string{agentID: "report-agent"},
		Routes: []string{"whoami", "echo", "reports"},
		Now:    func() time.Time { return now.Add(time.Since(started)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.view.Start(ctx)
	f.srv = httptest.NewServer(f.view)
	t.Cleanup(f.srv.Close)
	f.waitVerified(time.Time{})
	return f
}

// waitVerified waits for a verification that finished after since.
func (f *fixture) waitVerified(since time.Time) bool {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if at, ok := f.view.Verified(); !at.IsZero() && at.After(since) {
			return ok
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatal("no verification finished within 20s")
	return false
}

type answer struct {
	status int
	header http.Header
	body   string
}

// get fetches path without following redirects.
func (f *fixture) do(method, path string, header http.Header) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (f *fixture) get(path string) answer { return f.do("GET", path, nil) }

// rows counts the timeline's rows of a page, by decision.
func rows(body string) map[string]int {
	n := map[string]int{}
	for _, d := range []string{"allow", "deny", "error"} {
		n[d] = strings.Count(body, `<tr class="event `+d)
	}
	return n
}

func TestTimelineFilters(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		query string
		want  map[string]int
		has   []string
		hasnt []string
	}{
		{"everything", "", map[string]int{"allow": 30, "deny": 10}, []string{"whoami", "echo", "reports"}, nil},
		{"both of alice's pseudonyms", "?principal=" + aliceOld + "&principal=" + aliceNew, map[string]int{"allow": 20}, nil, []string{"p1:bob", "p1:dave"}},
		{"one pseudonym", "?principal=" + bob, map[string]int{"allow": 10}, []string{`<td class="route">echo`}, []string{`<td class="route">reports`}},
		{"agent by name", "?agent=report-agent", map[string]int{"allow": 10}, []string{"report-agent"}, []string{`<td class="route">echo`}},
		{"agent by client id", "?agent=" + agentID, map[string]int{"allow": 10}, nil, nil},
		{"route", "?route=echo", map[string]int{"allow": 10}, nil, nil},
		{"role", "?role=operator", map[string]int{"allow": 10}, nil, nil},
		{"decision", "?decision=deny", map[string]int{"deny": 10}, []string{"policy"}, nil},
		{"a window", "?from=2026-11-25T12:10&to=2026-11-25T12:20", map[string]int{"allow": 7, "deny": 3}, nil, nil},
		{"a window with nothing in it", "?window=1h", map[string]int{}, []string{"No events match."}, nil},
		{"page size", "?limit=25", map[string]int{"allow": 19, "deny": 6}, []string{`id="older"`}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.get("/audit/" + tc.query)
			if a.status != 200 {
				t.Fatalf("status %d:\n%s", a.status, a.body)
			}
			got := rows(a.body)
			for _, d := range []string{"allow", "deny", "error"} {
				if got[d] != tc.want[d] {
					t.Errorf("%s rows: %d, want %d", d, got[d], tc.want[d])
				}
			}
			for _, s := range tc.has {
				if !strings.Contains(a.body, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
			for _, s := range tc.hasnt {
				if strings.Contains(a.body, s) {
					t.Errorf("the page shows %q", s)
				}
			}
		})
	}
}

// TestPaging: the older link continues where the page ended, without
// repeating or skipping an event.
func TestPaging(t *testing.T) {
	f := newFixture(t)
	seen := map[string]bool{}
	path := "/audit/?limit=7"
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("more than 10 pages of 7 for 40 events")
		}
		a := f.get(path)
		for _, m := range strings.Split(a.body, `href="/audit/event/`)[1:] {
			id, _, _ := strings.Cut(m, `"`)
			if seen[id] {
				t.Fatalf("event %s shown twice", id)
			}
			seen[id] = true
		}
		path = ""
		if _, rest, ok := strings.Cut(a.body, `id="older" href="`); ok {
			path, _, _ = strings.Cut(rest, `"`)
			path = strings.ReplaceAll(path, "&amp;", "&")
		}
	}
	if len(seen) != 40 {
		t.Errorf("%d events over all pages, want 40", len(seen))
	}
}

// TestUserBecomesPseudonyms: a user named in the filter is turned into
// pseudonyms on the server, and the browser is sent to the page naming
// those: the name is in no page and no later URL.
func TestUserBecomesPseudonyms(t *testing.T) {
	f := newFixture(t)
	a := f.get("/audit/?user=alice%40contoso.example&decision=allow")
	if a.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", a.status)
	}
	loc := a.header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || u.Host != "" || u.Path != "/audit/" {
		t.Fatalf("redirect to %q: want the view's own page", loc)
	}
	if strings.Contains(strings.ToLower(loc), "alice") && !strings.Contains(loc, "p1%3Aalice") {
		t.Errorf("the redirect names the user: %s", loc)
	}
	q := u.Query()
	if got := q["principal"]; len(got) != 2 || q.Get("decision") != "allow" || q.Has("user") {
		t.Errorf("redirect query %v: want both pseudonyms, the decision, no user", q)
	}
	a = f.get(loc)
	if n := rows(a.body); n["allow"] != 20 || strings.Contains(a.body, "contoso") {
		t.Errorf("alice's page: %v rows; mentions the name: %v", n, strings.Contains(a.body, "contoso"))
	}
	// An unknown user: a clear message that does not echo the name.
	a = f.get("/audit/?user=mallory%40contoso.example")
	if a.status != 400 || strings.Contains(a.body, "mallory") || !strings.Contains(a.body, "no such user") {
		t.Errorf("unknown user: %d\n%s", a.status, a.body)
	}
}

// TestBoundedInputs: every input is bounded, and a bad one gets 400 with
// what is wrong.
func TestBoundedInputs(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", auditview.MaxValueBytes+1)
	var many string
	for i := range auditview.MaxPrincipals + 1 {
		many += fmt.Sprintf("&principal=p1:x%d", i)
	}
	for _, tc := range []struct{ query, want string }{
		{"?route=" + long, "route: longer than"},
		{"?agent=%ff", "agent: longer than 256 bytes or not UTF-8"},
		{"?decision=maybe", "decision: want allow, deny or error"},
		{"?limit=501", "limit: want a number from 1 to 500"},
		{"?limit=0", "limit:"},
		{"?window=5y", "window: want one of"},
		{"?from=2026-01-01T00:00&to=2026-06-01T00:00", "longer than 92 days"},
		{"?from=2026-11-25T13:00&to=2026-11-25T12:00", "from must be before to"},
		{"?from=yesterday", "from: want a time"},
		{"?after=12.x", "after: not a place"},
		{"?route=a&route=b", "route: given 2 times"},
		{"?" + many[1:], "more than 16 pseudonyms"},
	} {
		a := f.get("/audit/" + tc.query)
		if a.status != 400 || !strings.Contains(a.body, tc.want) {
			t.Errorf("%s: %d, want 400 saying %q", tc.query[:min(len(tc.query), 60)], a.status, tc.want)
		}
	}
	for _, p := range []string{"/audit/event/0", "/audit/event/-1", "/audit/event/x", "/audit/event/99999", "/audit/nothing", "/audit/verify"} {
		if a := f.get(p); a.status != 404 {
			t.Errorf("GET %s: %d, want 404", p, a.status)
		}
	}
}

// TestHeaders: every answer, a page, an error, an export or the style
// sheet, carries the strict headers, and no page has any script.
func TestHeaders(t *testing.T) {
	f := newFixture(t)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for _, p := range []string{"/audit/", "/audit/?decision=bad", "/audit/event/3", "/audit/event/404404", "/audit/export.csv", "/audit/export.jsonl", "/audit/style.css"} {
		a := f.get(p)
		for k, v := range want {
			if got := a.header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", p, k, got, v)
			}
		}
		if strings.Contains(strings.ToLower(a.body), "<script") || strings.Contains(a.body, "javascript:") || strings.Contains(a.body, ` style="`) {
			t.Errorf("GET %s: the answer has script or inline style", p)
		}
	}
	if ct := f.get("/audit/style.css").header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("style sheet Content-Type %q", ct)
	}
}

// TestLoopbackOnly: a Host that is not loopback (DNS rebinding) is
// refused; loopback names are served.
func TestLoopbackOnly(t *testing.T) {
	f := newFixture(t)
	for host, want := range map[string]int{
		"evil.example": http.StatusMisdirectedRequest, "evil.example:80": http.StatusMisdirectedRequest,
		"10.0.0.1": http.StatusMisdirectedRequest, "localhost.evil.example": http.StatusMisdirectedRequest,
		"localhost:9449": 200, "127.0.0.1": 200, "[::1]:9449": 200, "LOCALHOST": 200,
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/audit/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// TestReverifyIsSameOriginPOST: only a same-origin (or non-browser) POST
// starts a verification, and it returns to the view's page, keeping the
// filters; other methods and other paths change nothing.
func TestReverifyIsSameOriginPOST(t *testing.T) {
	f := newFixture(t)
	first, _ := f.view.Verified()
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
	if a := f.do("POST", "/audit/verify", cross); a.status != http.StatusForbidden {
		t.Errorf("cross-site POST: %d, want 403", a.status)
	}
	if a := f.do("POST", "/audit/verify", http.Header{"Origin": {"http://evil.example"}}); a.status != http.StatusForbidden {
		t.Errorf("POST from another origin: %d, want 403", a.status)
	}
	if at, _ := f.view.Verified(); !at.Equal(first) {
		t.Fatal("a refused POST started a verification")
	}
	for _, m := range []string{"PUT", "DELETE", "PATCH"} {
		if a := f.do(m, "/audit/verify", nil); a.status != 404 && a.status != 405 {
			t.Errorf("%s /audit/verify: %d", m, a.status)
		}
	}
	if a := f.do("POST", "/audit/", nil); a.status != 404 && a.status != 405 {
		t.Errorf("POST /audit/: %d", a.status)
	}
	a := f.do("POST", "/audit/verify?decision=deny&next=https://evil.example", http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/audit/?decision=deny" {
		t.Errorf("same-origin POST: %d to %q, want 303 to /audit/?decision=deny", a.status, a.header.Get("Location"))
	}
	f.waitVerified(first)
}

// TestTamperShown: after a row is edited in the database file, a new
// verification shows the break and where, the timeline marks the row, and
// the event's record says so.
func TestTamperShown(t *testing.T) {
	f := newFixture(t)
	if a := f.get("/audit/"); !strings.Contains(a.body, "CHAIN INTACT") || !strings.Contains(a.body, "Checkpoint signatures checked") {
		t.Fatalf("untouched trail not shown intact:\n%s", a.body)
	}
	raw, err := sql.Open("sqlite", f.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// dave's third denial becomes an allow.
	var pos int64
	if err := raw.QueryRow(`SELECT pos FROM audit_events WHERE principal = ? ORDER BY pos LIMIT 1 OFFSET 2`, dave).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE audit_events SET data = replace(data, '"decision":"deny"', '"decision":"allow"') WHERE pos = ?`, pos); err != nil {
		t.Fatal(err)
	}
	before, _ := f.view.Verified()
	f.do("POST", "/audit/verify", nil)
	if f.waitVerified(before) {
		t.Fatal("the edited trail verified intact")
	}
	a := f.get("/audit/")
	for _, want := range []string{"TAMPERED", fmt.Sprintf(`id="broken-pos" href="/audit/event/%d">%d</a>`, pos, pos), "event edited", "the chain breaks here",
		fmt.Sprintf("up to position %d, verifies", pos-1)} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if a := f.get(fmt.Sprintf("/audit/event/%d", pos)); !strings.Contains(a.body, "Verification found the chain broken at this event") ||
		!strings.Contains(a.body, "does not match the content") {
		t.Errorf("the edited event's record does not say so:\n%s", a.body)
	}
}

// TestEscaping: what callers sent (a path, a claim) is escaped wherever it
// shows.
func TestEscaping(t *testing.T) {
	evil := `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	f := newFixture(t, &audit.Event{Time: t0, Decision: audit.DecisionError, Resource: "/" + evil, Route: evil, Check: evil,
		Principal: "p1:" + evil, Agents: []audit.Agent{{App: evil, Via: "act"}}, Claims: map[string]string{"x": evil}})
	for _, p := range []string{"/audit/", "/audit/event/1", "/audit/?route=" + url.QueryEscape(evil)} {
		a := f.get(p)
		if a.status != 200 {
			t.Fatalf("GET %s: %d", p, a.status)
		}
		if strings.Contains(a.body, "<script>") || strings.Contains(a.body, "<img") {
			t.Errorf("GET %s: a stored value reached the page unescaped", p)
		}
	}
}

// TestExport: the exports hold what the filters select, all of it, and
// CSV cells a spreadsheet would run are defused.
func TestExport(t *testing.T) {
	evs := sampleEvents()
	evs[1].Resource = "=HYPERLINK(\"http://evil.example\")"
	f := newFixture(t, evs...)
	a := f.get("/audit/export.csv?decision=deny")
	if a.status != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") || !strings.Contains(a.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV export: %d %v", a.status, a.header)
	}
	recs, err := csv.NewReader(strings.NewReader(a.body)).ReadAll()
	if err != nil || len(recs) != 11 || recs[0][0] != "time" {
		t.Fatalf("CSV: %d records, %v", len(recs), err)
	}
	for _, r := range recs[1:] {
		if r[6] != "deny" || r[10] != dave {
			t.Errorf("CSV record %v: want dave's denials", r)
		}
	}
	a = f.get("/audit/export.csv?principal=" + bob)
	if !strings.Contains(a.body, `'=HYPERLINK`) {
		t.Errorf("a formula in a cell is not defused:\n%s", a.body)
	}
	a = f.get("/audit/export.jsonl?principal=" + aliceOld + "&principal=" + aliceNew)
	var n int
	for line := range strings.Lines(a.body) {
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Hash == "" || e.ChainHash() != e.Hash {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		n++
	}
	if n != 20 {
		t.Errorf("%d events of alice exported, want 20", n)
	}
}

// TestExportPages: an export reads the store page by page, past the first.
func TestExportPages(t *testing.T) {
	var evs []*audit.Event
	for i := range 1200 {
		evs = append(evs, &audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Decision: audit.DecisionAllow, Route: "r"})
	}
	f := newFixture(t, evs...)
	a := f.get("/audit/export.jsonl")
	if n := strings.Count(a.body, "\n"); n != 1200 {
		t.Errorf("%d events exported, want 1200", n)
	}
}

// TestCharts: the histogram and the top lists are drawn, and link to the
// views they summarise.
func TestCharts(t *testing.T) {
	f := newFixture(t)
	a := f.get("/audit/")
	for _, want := range []string{
		`<b id="total">40</b>`, "30 allowed", "10 denied",
		`id="top-principals"`, "p1:dave: 10 denied", `href="/audit/?principal=p1%3Adave"`,
		`id="top-agents"`, "No denials here.",
		`<rect class="deny"`, `<rect class="allow"`,
	} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// A bar opens its own interval.
	if !strings.Contains(a.body, `<a href="/audit/?from=2026-11-25T12%3A00&amp;to=`) {
		t.Error("no bar links to its interval")
	}
}

func TestNotBrowsable(t *testing.T) {
	if _, err := auditview.New(auditview.Config{Store: jsonl.New(io.Discard)}); !errors.Is(err, auditview.ErrNotBrowsable) {
		t.Errorf("New over the JSON-lines writer: %v, want ErrNotBrowsable", err)
	}
	if _, err := auditview.New(auditview.Config{}); !errors.Is(err, auditview.ErrNotBrowsable) {
		t.Errorf("New without a store: %v", err)
	}
}

// TestCapturedFile: a JSON-lines file read into memory is browsed too.
func TestCapturedFile(t *testing.T) {
	var buf bytes.Buffer
	r, err := audit.NewRecorder(audit.Config{Sink: jsonl.New(&buf), Replica: "gw", Signer: audittest.Key(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sampleEvents() {
		r.Record(t.Context(), e)
	}
	r.Close()
	path := filepath.Join(t.TempDir(), "trail.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o600)
	file, err := jsonl.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auditview.New(auditview.Config{Store: file, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	v.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/?decision=deny", nil))
	if n := rows(rec.Body.String()); rec.Code != 200 || n["deny"] != 10 {
		t.Errorf("captured file, denials: %d, %v", rec.Code, n)
	}
}

// TestShortKeysStayUTF8: a value shortened for a cell is cut at a rune
// boundary.
func TestShortKeysStayUTF8(t *testing.T) {
	f := newFixture(t, &audit.Event{Time: t0, Decision: audit.DecisionAllow, Principal: "p1:ééééééééééééééé", Route: "r"})
	a := f.get("/audit/")
	if !utf8.ValidString(a.body) {
		t.Error("the page is not valid UTF-8")
	}
}
