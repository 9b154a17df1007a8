package sqlite_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/audittest"
)

// TestSQLite3ShellEdit: what an operator with the sqlite3 shell can do. The
// columns a query filters on cannot be edited apart from the event; editing
// the event makes Verify fail naming that row.
func TestSQLite3ShellEdit(t *testing.T) {
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("the sqlite3 shell is not installed")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	sink := open(t, path)
	key := audittest.Key(t)
	r, err := audit.NewRecorder(audit.Config{Sink: sink, Signer: key})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := r.Record(t.Context(), &audit.Event{Decision: audit.DecisionDeny, Principal: "p1:alice"}); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()

	run := func(sql string) (string, error) {
		out, err := exec.Command(shell, path, sql).CombinedOutput()
		return string(out), err
	}
	if out, err := run(`UPDATE audit_events SET decision = 'allow' WHERE pos = 3`); err == nil || !strings.Contains(out, "generated column") {
		t.Errorf("editing a generated column: %v %s; want refused", err, out)
	}
	if out, err := run(`UPDATE audit_events SET data = replace(data, '"deny"', '"allow"') WHERE pos = 3`); err != nil {
		t.Fatalf("editing the event: %v %s", err, out)
	}
	var ce *audit.ChainError
	if _, err := audit.Verify(t.Context(), sink, key.Public()); !errors.As(err, &ce) || ce.Position != 3 || ce.Seq != 3 {
		t.Errorf("Verify after the edit = %v; want seq 3 at position 3", err)
	}
}
