package sqlite_test

import (
	"bufio"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
)

// The helper process reads these.
const (
	envCrashDB  = "GATEHOUSE_AUDIT_CRASH_DB"
	envCrashKey = "GATEHOUSE_AUDIT_CRASH_KEY"
)

// TestCrashHelper is not a test: TestCrash runs the test binary again with
// envCrashDB set, and this records in Sync mode from 64 goroutines, printing
// "ack ID" once Record returned nil, until it is killed.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		t.Skip("helper process for TestCrash")
	}
	seed, err := hex.DecodeString(os.Getenv(envCrashKey))
	if err != nil {
		t.Fatal(err)
	}
	sink := open(t, path)
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Mode: audit.Sync, Replica: "crash",
		Signer: ed25519.NewKeyFromSeed(seed), CheckpointEvery: 100})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	for g := range 64 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				if err := r.Record(t.Context(), &audit.Event{ID: id, Decision: audit.DecisionAllow, Route: "load"}); err != nil {
					fmt.Fprintln(os.Stderr, "record:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", id) // unbuffered: a write(2) per line
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestCrash: a process recording in Sync mode under load is killed with
// SIGKILL; every event whose Record returned nil is in the database, and
// the database verifies.
func TestCrash(t *testing.T) {
	if os.Getenv(envCrashDB) != "" {
		t.Skip("inside the helper")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(i)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashKey+"="+hex.EncodeToString(seed))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	killed := false
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked[id] = true
		if len(acked) == 3000 && !killed {
			// Kill under load; lines already in the pipe are still read.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatalf("the helper stopped after %d events: %s", len(acked), stderr.String())
	}

	sink := open(t, path)
	stored := map[string]bool{}
	evs, err := sink.Query(t.Context(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		stored[e.ID] = true
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events are missing after SIGKILL", missing, len(acked))
	}
	rep, err := audit.Verify(t.Context(), sink, ed25519.NewKeyFromSeed(seed).Public())
	if err != nil {
		t.Fatalf("Verify after SIGKILL: %v", err)
	}
	t.Logf("acknowledged %d, stored %d, unanchored tail %d", len(acked), len(stored), rep.Chains[0].Unanchored)
}
