package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// TestPackageRebuild: a Package is built by Start, and rebuilt when its
// sources change (looked at most once a second); a broken build fails
// invocations with Runtime.BuildError until it is fixed.
func TestPackageRebuild(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "rawfn", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "fn")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/rawfn\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(version string) {
		t.Helper()
		s := strings.Replace(string(src), `const version = "v1"`, `const version = "`+version+`"`, 1)
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	clock := testkit.NewClock(time.Now())
	host, logs := newHost(t, Config{StateDir: filepath.Join(dir, "state"), Now: clock.Now, Functions: []Function{{Name: "raw", Package: pkg}}})
	if err := host.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "bin", "raw")); err != nil {
		t.Fatalf("Start built no executable: %v", err)
	}
	call := func() string {
		t.Helper()
		res := invoke(t, host, "raw", map[string]string{}, InvokeOptions{})
		if res.FunctionError != "" {
			return functionErr(t, res).ErrorType
		}
		return string(res.Payload)
	}
	steps := []struct {
		edit    string // new version, "" for none, "!" for a syntax error
		advance time.Duration
		want    string
	}{
		{want: `{"version":"v1"}`},
		{edit: "v2-edited", want: `{"version":"v1"}`}, // not looked at yet
		{advance: 2 * time.Second, want: `{"version":"v2-edited"}`},
		{edit: "!", advance: 2 * time.Second, want: "Runtime.BuildError"},
		{want: "Runtime.BuildError"},
		{edit: "v3", advance: 2 * time.Second, want: `{"version":"v3"}`},
	}
	for i, s := range steps {
		switch s.edit {
		case "":
		case "!":
			if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte("package main\n\nfunc main() {"), 0o644); err != nil {
				t.Fatal(err)
			}
		default:
			write(s.edit)
		}
		clock.Add(s.advance)
		if got := call(); got != s.want {
			t.Fatalf("step %d: got %s, want %s", i, got, s.want)
		}
		if s.edit == "!" {
			// The operator sees the compiler's output; a caller does not.
			res := invoke(t, host, "raw", map[string]string{}, InvokeOptions{})
			if strings.Contains(string(res.Payload), "syntax error") {
				t.Errorf("a caller saw the compiler output: %s", res.Payload)
			}
			clock.Add(2 * time.Second)
			if err := host.Start(testContext(t)); err == nil || !strings.Contains(err.Error(), "syntax error") {
				t.Errorf("Start = %v, want the compiler's output", err)
			}
		}
	}
	if r := logs.find(func(r logRecord) bool { return r.Msg == "runtime: go build failed" }); len(r) != 1 {
		t.Errorf("%d build failures logged, want 1", len(r))
	}
}

// TestPackageNotRebuiltOnRestart: a host started again on the same state
// directory uses what the last one built when the sources have not changed,
// and builds again when they have.
func TestPackageNotRebuiltOnRestart(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("testdata", "rawfn", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkg := filepath.Join(dir, "fn")
	os.MkdirAll(pkg, 0o755)
	os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module example.com/rawfn\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(pkg, "main.go"), src, 0o644)
	state := filepath.Join(dir, "state")
	start := func() (*Host, *logRecorder) {
		t.Helper()
		host, logs := newHost(t, Config{StateDir: state, Functions: []Function{{Name: "raw", Package: pkg}}})
		if err := host.Start(testContext(t)); err != nil {
			t.Fatalf("Start: %v", err)
		}
		return host, logs
	}
	built := func(logs *logRecorder) int {
		return len(logs.find(func(r logRecord) bool { return r.Msg == "runtime: built function" }))
	}
	h1, logs1 := start()
	if built(logs1) != 1 {
		t.Fatalf("first start: %d builds, want 1", built(logs1))
	}
	h1.Close()

	h2, logs2 := start()
	if built(logs2) != 0 {
		t.Errorf("second start with the same sources: %d builds, want none", built(logs2))
	}
	if res := invoke(t, h2, "raw", map[string]string{}, InvokeOptions{}); res.FunctionError != "" || !strings.Contains(string(res.Payload), "v1") {
		t.Errorf("the reused executable answered %s %s", res.FunctionError, res.Payload)
	}
	h2.Close()

	edited := strings.Replace(string(src), `const version = "v1"`, `const version = "v9"`, 1)
	os.WriteFile(filepath.Join(pkg, "main.go"), []byte(edited), 0o644)
	os.Chtimes(filepath.Join(pkg, "main.go"), time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	h3, logs3 := start()
	if built(logs3) != 1 {
		t.Errorf("start after an edit: %d builds, want 1", built(logs3))
	}
	if res := invoke(t, h3, "raw", map[string]string{}, InvokeOptions{}); !strings.Contains(string(res.Payload), "v9") {
		t.Errorf("after the edit the function answered %s", res.Payload)
	}
}

// TestPackageInModule: a package of this module (as `gatehouse dev` runs
// the examples) is built, and the directories it depends on are watched.
func TestPackageInModule(t *testing.T) {
	t.Parallel()
	host, _ := newHost(t, Config{StateDir: t.TempDir(), Functions: []Function{{Name: "echo", Package: filepath.Join("..", "..", "examples", "functions", "echo")}}})
	if err := host.Start(testContext(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	res := invoke(t, host, "echo", echoEvent(t, `{"message":"built"}`, false), InvokeOptions{})
	if res.FunctionError != "" || !strings.Contains(string(res.Payload), `BUILT`) {
		t.Errorf("Invoke = %s %s", res.FunctionError, res.Payload)
	}
	src := host.funcs["echo"].src
	src.mu.Lock()
	watch := slices.Clone(src.watch)
	src.mu.Unlock()
	abs, _ := filepath.Abs(filepath.Join("..", "..", "examples", "functions", "echo"))
	if !slices.Contains(watch, abs) {
		t.Errorf("watched directories %v lack the package's own", watch)
	}
}
