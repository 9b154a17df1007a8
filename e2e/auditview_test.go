package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	_ "modernc.org/sqlite" // the database/sql driver the trail's own store uses
)

// verifiedAt finds when the banner's verification finished.
var verifiedAt = regexp.MustCompile(`\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC, took`)

// screenshotsEnv names a directory to keep the auditor's view's
// screenshots in; unset, they go to the test's temporary directory.
const screenshotsEnv = "GATEHOUSE_SCREENSHOTS"

// chromium finds a Chromium to drive, or "".
func chromium() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestAuditViewInBrowser: headless Chromium opens the auditor's view under
// `gatehouse dev` after calls by alice, bob, an agent acting for alice, and
// dave (denied): the user filter turns alice into her pseudonym (her name
// reaches no URL and no page), the agent filter finds the agent's call, the
// verification shows the chain intact; after a row of the SQLite file is
// edited, a new verification shows the break and its position. Each step
// leaves a screenshot.
func TestAuditViewInBrowser(t *testing.T) {
	chrome := chromium()
	if chrome == "" {
		t.Skip("no chromium at /usr/bin/chromium or on PATH; install it (apt-get install chromium) to run the browser test")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	var ep struct {
		AuditView string `json:"audit_view"`
	}
	if b, err := os.ReadFile(filepath.Join(state, "endpoints.json")); err != nil || json.Unmarshal(b, &ep) != nil || ep.AuditView == "" {
		t.Fatalf("dev wrote no auditor's view URL (%v):\n%s", err, d.stdout)
	}
	if !strings.Contains(d.stdout.String(), "audit view  "+ep.AuditView) {
		t.Errorf("the banner does not list the auditor's view:\n%s", d.stdout)
	}

	c := gatewayClient(t, d)
	calls := []struct {
		who  []string
		want int
	}{
		{[]string{"--user", "alice"}, 200},
		{[]string{"--user", "bob"}, 200},
		{[]string{"--user", "alice", "--app", "report-agent"}, 403}, // whoami is not among the agent's functions
		{[]string{"--user", "dave"}, 403},
	}
	for _, cl := range calls {
		if r := call(t, c, "GET", d.ready.Gateway+"/whoami", token(t, state, cl.who...), "").status; r != cl.want {
			t.Fatalf("%v GET /whoami: %d, want %d", cl.who, r, cl.want)
		}
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	defer cancel()
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// verdict verifies again (the button posts to the view, which starts
	// a run before it answers) and waits until no run is going (the button
	// is enabled again), returning the banner's text, whose verdict must be
	// want.
	verdict := func(want string) string {
		t.Helper()
		clicked := time.Now().UTC().Truncate(time.Second)
		do("verify now", chromedp.Navigate(ep.AuditView), chromedp.Click(chromedp.CSS(`#verify button`)))
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := chromedp.Do(ctx, chromedp.Navigate(ep.AuditView))
			running := true
			if err == nil {
				running, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#verify button").disabled`))
			}
			// The click's POST may reach the view after this page's GET:
			// only a verification that started after the click counts.
			var banner string
			fresh := false
			if err == nil && !running {
				banner = get("read the banner", chromedp.Text(chromedp.CSS(`#verify`)))
				if m := verifiedAt.FindStringSubmatch(banner); m != nil {
					at, perr := time.Parse(time.DateTime, m[1])
					// The banner says the second: a run that ended in the
					// click's second may have started before it.
					fresh = perr == nil && at.After(clicked)
				}
			}
			if fresh {
				if v := get("read the verdict", chromedp.Text(chromedp.CSS(`#verdict`))); v != want {
					t.Fatalf("verdict %q, want %q:\n%s", v, want, banner)
				}
				return banner
			}
			if time.Now().After(deadline) {
				t.Fatalf("the verification did not end within 30s (%v)", err)
			}
			if err == nil && !running {
				// No run since the click: its POST was lost (this loop's
				// navigation can cancel it). Click again and let it land.
				do("verify now", chromedp.Click(chromedp.CSS(`#verify button`)))
				time.Sleep(time.Second)
				continue
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	rowsOf := func() [][]string {
		t.Helper()
		cells, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#timeline tr.event")).map(r => Array.from(r.cells).map(c => c.innerText.trim()))`))
		if err != nil {
			t.Fatalf("read the timeline: %v", err)
		}
		return cells
	}

	// Everything, verified intact.
	banner := verdict("CHAIN INTACT")
	if !strings.Contains(banner, "All 4 events") || !strings.Contains(banner, "Checkpoint signatures checked") {
		t.Errorf("the verification banner does not cover the four calls, signed:\n%s", banner)
	}
	if n := len(rowsOf()); n != 4 {
		t.Errorf("%d events in the timeline, want 4", n)
	}
	shot("1-timeline-intact")

	// The user filter: alice becomes her pseudonym.
	do("filter by user", chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), "alice@contoso.example"), chromedp.Click(chromedp.CSS(`#apply`)),
		chromedp.WaitVisible(chromedp.CSS(`#active`)))
	loc := get("read the location", chromedp.Location())
	page := get("read the page", chromedp.OuterHTML(chromedp.CSS(`html`)))
	if !strings.Contains(loc, "principal=p1") || strings.Contains(loc, "contoso") || strings.Contains(strings.ToLower(page), "contoso") || strings.Contains(page, "Alice") {
		t.Errorf("after the user filter: URL %s; the name on the page: %v", loc, strings.Contains(strings.ToLower(page), "contoso"))
	}
	alice := rowsOf()
	if len(alice) != 2 {
		t.Fatalf("alice's events: %d, want her call and the agent's for her:\n%v", len(alice), alice)
	}
	for _, r := range alice {
		if r[3] != alice[0][3] || !strings.HasPrefix(r[3], "p1:") {
			t.Errorf("alice's rows name principals %q and %q", alice[0][3], r[3])
		}
	}
	shot("2-filter-user-alice")

	// The agent filter, by the agent's name.
	do("filter by agent", chromedp.Navigate(ep.AuditView), chromedp.SendKeys(chromedp.CSS(`input[name="agent"]`), "report-agent"),
		chromedp.Click(chromedp.CSS(`#apply`)), chromedp.WaitVisible(chromedp.CSS(`#active`)))
	agent := rowsOf()
	if len(agent) != 1 || agent[0][1] != "deny" || agent[0][4] != "report-agent" || agent[0][3] != alice[0][3] {
		t.Errorf("the agent's events: %v; want one denial, by report-agent for alice", agent)
	}
	agents := get("read the top denied agents", chromedp.Text(chromedp.CSS(`#top-agents`)))
	if !strings.Contains(agents, "report-agent") {
		t.Errorf("the most denied agents do not list report-agent: %q", agents)
	}
	shot("3-filter-agent")

	// Edit dave's denial into an allow, in the file, while dev runs.
	out, errOut, code := run(t, "", "audit", "query", "--state-dir", state, "--user", "dave", "--format", "json")
	if code != 0 {
		t.Fatalf("audit query --user dave: %s", errOut)
	}
	var ev struct {
		Chain string `json:"chain"`
		Seq   int64  `json:"seq"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ev); err != nil {
		t.Fatalf("dave's event: %v\n%s", err, out)
	}
	db, err := sql.Open("sqlite", filepath.Join(state, "audit.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var pos int64
	if err := db.QueryRow(`SELECT pos FROM audit_events WHERE chain = ? AND seq = ?`, ev.Chain, ev.Seq).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec(`UPDATE audit_events SET data = replace(data, '"decision":"deny"', '"decision":"allow"') WHERE pos = ?`, pos)
	if n, _ := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("editing the row: %v (%d rows)", err, n)
	}

	banner = verdict("TAMPERED")
	shown := get("read the break", chromedp.Text(chromedp.CSS(`#broken-pos`)))
	if shown != strconv.FormatInt(pos, 10) || !strings.Contains(banner, fmt.Sprintf("sequence %d", ev.Seq)) || !strings.Contains(banner, "event edited") {
		t.Errorf("the break is shown at position %q, want %d (sequence %d, an edit):\n%s", shown, pos, ev.Seq, banner)
	}
	marked := get("read the marked row", chromedp.Text(chromedp.CSS(`#timeline tr.broken`)))
	if !strings.Contains(marked, "the chain breaks here") || !strings.Contains(marked, "#"+strconv.FormatInt(pos, 10)) {
		t.Errorf("the edited row is not marked: %q", marked)
	}
	shot("4-tampered")

	do("open the edited event", chromedp.Click(chromedp.CSS(`#broken-pos`)), chromedp.WaitVisible(chromedp.CSS(`#stored`)))
	record := get("read the record", chromedp.Text(chromedp.CSS(`main`)))
	if !strings.Contains(record, "Verification found the chain broken at this event") || !strings.Contains(record, "does not match the content") {
		t.Errorf("the edited event's record does not say so:\n%s", record)
	}
	shot("5-tampered-event")
}

// TestAuditServe: `gatehouse audit serve` refuses an address beyond
// loopback, saying why and what to do instead; on loopback it prints the
// view's URL and serves the trail dev writes, with its strict headers, and
// sends / to the view.
func TestAuditServe(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	c := gatewayClient(t, d)
	if r := call(t, c, "GET", d.ready.Gateway+"/whoami", token(t, state, "--user", "dave"), ""); r.status != 403 {
		t.Fatalf("dave GET /whoami: %d", r.status)
	}

	for _, addr := range []string{"0.0.0.0:9449", ":9449", "192.0.2.1:9449"} {
		_, errOut, code := run(t, "", "audit", "serve", "--state-dir", state, "--listen", addr)
		if code == 0 || !strings.Contains(errOut, "loopback") || !strings.Contains(errOut, "ssh -L") {
			t.Errorf("audit serve --listen %s: exit %d: %s", addr, code, errOut)
		}
	}

	cmd := exec.Command(gatehouseBin, "audit", "serve", "--state-dir", state, "--listen", "127.0.0.1:0")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	var view string
	for deadline := time.Now().Add(20 * time.Second); view == ""; {
		if _, rest, ok := strings.Cut(out.String(), "auditor's view: "); ok {
			view, _, _ = strings.Cut(rest, " ")
		} else if time.Now().After(deadline) {
			t.Fatalf("audit serve printed no URL:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(view, "http://127.0.0.1:") || !strings.HasSuffix(view, "/audit/") {
		t.Fatalf("audit serve's URL %q", view)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(view + "?decision=deny")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		strings.Count(string(body), `<tr class="event deny`) != 1 {
		t.Errorf("GET the view: %d, CSP %q, %d denials shown", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), strings.Count(string(body), `<tr class="event deny`))
	}
	root := strings.TrimSuffix(view, "audit/")
	resp, err = hc.Get(root)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/audit/" {
		t.Errorf("GET / ends at %s, want the view", resp.Request.URL)
	}
}
