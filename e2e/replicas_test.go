package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReplicasRevocation: three `gatehouse serve` replicas share one
// PostgreSQL database for their audit trails and revocations. A
// round-robin client drives bounded load through them while alice is
// revoked with `gatehouse revoke`: from one second after the command
// returns, no replica serves her (cached tokens, decisions and
// credentials included), while bob is still served; the revocation is in
// the trail. Then one replica is killed with SIGKILL mid-load: the others
// keep serving, every request that got a 2xx has its event in PostgreSQL,
// and `audit verify` passes across every chain. Last, PostgreSQL drops
// every connection once: the replicas reconnect and go on serving, and
// still no acknowledged request lacks its event.
func TestReplicasRevocation(t *testing.T) {
	baseDSN := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if baseDSN == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx := t.Context()
	dsnFor := newDatabase(t, baseDSN)
	dsn := dsnFor("gatehouse-replicas")
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")

	dir := t.TempDir()
	gh := filepath.Join(dir, "gh")
	if out, errOut, code := run(t, "", "init", "--dev", "--state-dir", state, "--dir", gh, "--gateway-listen", freePort(t)); code != 0 {
		t.Fatalf("init --dev: %s%s", out, errOut)
	}
	os.WriteFile(filepath.Join(gh, "audit-dsn"), []byte(dsn), 0o600)
	b, _ := os.ReadFile(filepath.Join(gh, "gatehouse.yaml"))
	base := strings.NewReplacer(
		"  sink: sqlite\n", "  sink: postgres\n",
		"  path: audit.db\n", "  dsn: {file: audit-dsn}\n",
	).Replace(string(b)) + "revocation:\n  store: postgres\n  max_staleness: 5s\n"
	if !strings.Contains(base, "dsn: {file: audit-dsn}") {
		t.Fatalf("could not point the trail at PostgreSQL:\n%s", base)
	}
	type replica struct {
		url, pid string
	}
	var replicas []replica
	var cfgPath string
	for i := range 3 {
		cfgPath = filepath.Join(gh, fmt.Sprintf("replica-%d.yaml", i))
		os.WriteFile(cfgPath, []byte(strings.Replace(base, "audit:\n", fmt.Sprintf("audit:\n  replica: replica-%d\n", i), 1)), 0o600)
		ready, _ := startServeWith(t, nil, cfgPath, "--gateway-listen", "127.0.0.1:0", "--admin-listen", "off")
		replicas = append(replicas, replica{ready["gateway"], ready["pid"]})
	}
	alice := token(t, state, "--user", "alice")
	bob := token(t, state, "--user", "bob")

	type result struct {
		at     time.Time
		status int
		who    string
		id     string
	}
	var mu sync.Mutex
	var results []result
	var killed atomic.Int32
	killed.Store(-1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 10 * time.Second}
	var next atomic.Int64
	for w := range 6 {
		tok, who := alice, "alice"
		if w%2 == 1 {
			tok, who = bob, "bob"
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1)) % len(replicas)
				if int(killed.Load()) == i {
					continue
				}
				req, _ := http.NewRequest("GET", replicas[i].url+"/whoami", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				sent := time.Now()
				resp, err := c.Do(req)
				r := result{at: sent, who: who}
				if err == nil {
					r.status, r.id = resp.StatusCode, resp.Header.Get("X-Request-Id")
					resp.Body.Close()
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		})
	}
	time.Sleep(2 * time.Second)

	// Revoke alice.
	out, errOut, code := run(t, "", "revoke", "user", "2d4acc68-9d83-4609-a6f0-96e989303d16", "--tenant", d.ready.Tenant,
		"--reason", "left the company", "--by", "e2e-operator", "--config", cfgPath)
	acked := time.Now()
	if code != 0 {
		t.Fatalf("revoke: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(2 * time.Second)

	// Kill one replica.
	victim := 2
	killed.Store(int32(victim))
	pid, _ := strconv.Atoi(replicas[victim].pid)
	killAt := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	time.Sleep(2 * time.Second)

	// PostgreSQL drops every connection of the database once: the
	// replicas reconnect (the audit pool, the revocation listener); a
	// request whose event could not be written is refused, never
	// acknowledged without it.
	blipped := time.Now()
	if admin, err := pgx.Connect(ctx, baseDSN); err == nil {
		admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-replicas'`)
		admin.Close(context.Background())
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	var slipped, aliceBefore, bobOK, bobFailed int
	var firstRefused time.Duration = -1
	for _, r := range results {
		switch {
		case r.who == "alice" && r.at.After(acked.Add(time.Second)) && r.status == 200:
			slipped++
		case r.who == "alice" && r.at.Before(acked) && r.status == 200:
			aliceBefore++
		case r.who == "alice" && r.status == 401 && r.at.After(acked) && firstRefused < 0:
			firstRefused = r.at.Sub(acked)
		case r.who == "bob" && r.status == 200:
			bobOK++
		case r.who == "bob" && r.status != 200 && r.at.Before(killAt.Add(-500*time.Millisecond)):
			bobFailed++ // well before the kill: a failure is a failure
		}
	}
	var afterBlip, failedBlip int
	for _, r := range results {
		if r.who == "bob" && r.at.After(blipped) {
			if r.status == 200 {
				afterBlip++
			} else {
				failedBlip++
			}
		}
	}
	t.Logf("alice served %d times before the revocation; first refusal %v after it; bob served %d times; after the connection drop bob got %d answers 200 and %d others", aliceBefore, firstRefused, bobOK, afterBlip, failedBlip)
	if afterBlip == 0 {
		t.Error("no request served after PostgreSQL dropped the connections")
	}
	if slipped != 0 {
		t.Errorf("%d of alice's requests were served more than 1 s after the revocation was acknowledged", slipped)
	}
	if aliceBefore == 0 || bobOK == 0 || bobFailed != 0 {
		t.Errorf("load: alice served %d times before, bob served %d times, %d of bob's failed before the kill", aliceBefore, bobOK, bobFailed)
	}

	// Every acknowledged request has its event in PostgreSQL.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var ids []string
	rows, err := conn.Query(ctx, `SELECT doc->>'request_id' FROM audit_events`)
	if err != nil {
		t.Fatalf("reading the trail: %v", err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	missing := 0
	for _, r := range results {
		if r.status >= 200 && r.status < 300 {
			if _, ok := slices.BinarySearch(ids, r.id); !ok {
				missing++
			}
		}
	}
	if missing != 0 {
		t.Errorf("%d acknowledged requests have no audit event", missing)
	}
	if out, errOut, code := run(t, "", "audit", "verify", "--config", cfgPath); code != 0 || !strings.Contains(out, "ok: ") {
		t.Errorf("audit verify across the replicas: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := run(t, "", "audit", "query", "--config", cfgPath, "--route", "gatehouse revoke", "--format", "json"); code != 0 || !strings.Contains(out, `"action":"revoke"`) {
		t.Errorf("the revocation is not in the trail:\n%s", out)
	}
	if out, _, code := run(t, "", "revoke", "list", "--config", cfgPath); code != 0 || !strings.Contains(out, "left the company") {
		t.Errorf("revoke list:\n%s", out)
	}
}
