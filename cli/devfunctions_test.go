package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/runtime"
)

// TestDevFunctions: the embedded configuration's built-in examples run
// from this very binary; package directories are relative to the base, a
// missing one leaves its function out with a note, and each function gets
// the host's environment under its own.
func TestDevFunctions(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "fns/hello"), 0o755); err != nil {
		t.Fatal(err)
	}
	abs := t.TempDir() // an absolute package path stays as it is
	notDir := filepath.Join(base, "main.go")
	if err := os.WriteFile(notDir, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := config.Default()
	f.Dev.Lambda.Functions[0].Env = map[string]string{"GREETING": "hi", "SHARED": "mine"}
	f.Dev.Lambda.Functions = append(f.Dev.Lambda.Functions,
		config.DevFunction{Name: "hello", Package: "fns/hello"},
		config.DevFunction{Name: "gone", Package: "fns/gone"},
		config.DevFunction{Name: "elsewhere", Package: abs},
		config.DevFunction{Name: "prebuilt", Executable: "/opt/fn/bootstrap", MemoryMB: 256, Concurrency: 2},
		config.DevFunction{Name: "file", Package: "main.go"},
	)
	env := map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "host"}

	got, notes := devFunctions(f, base, env, "/usr/local/bin/gatehouse")

	hostEnv := map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "host"}
	fn := f.Dev.Lambda.Functions // limits as the embedded configuration sets them
	self := "/usr/local/bin/gatehouse"
	want := []runtime.Function{
		{Name: "whoami", Executable: self, Args: []string{"builtin", "whoami"}, ExecutionRole: fn[0].ExecutionRole,
			Timeout: fn[0].Timeout, MemoryMB: fn[0].MemoryMB, Concurrency: fn[0].Concurrency,
			Env: map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "mine", "GREETING": "hi"}},
		{Name: "echo", Executable: self, Args: []string{"builtin", "echo"},
			Timeout: fn[1].Timeout, MemoryMB: fn[1].MemoryMB, Concurrency: fn[1].Concurrency, Env: hostEnv},
		{Name: "protected", Executable: self, Args: []string{"builtin", "protected"}, ExecutionRole: fn[2].ExecutionRole,
			Timeout: fn[2].Timeout, URL: true, Env: hostEnv},
		{Name: "hello", Package: filepath.Join(base, "fns/hello"), Env: hostEnv},
		{Name: "elsewhere", Package: abs, Env: hostEnv},
		{Name: "prebuilt", Executable: "/opt/fn/bootstrap", MemoryMB: 256, Concurrency: 2, Env: hostEnv},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devFunctions (-want +got):\n%s", diff)
	}

	if len(notes) != 2 {
		t.Fatalf("notes = %q, want one for gone and one for file", notes)
	}
	for i, fn := range []struct{ name, dir string }{{"gone", filepath.Join(base, "fns/gone")}, {"file", notDir}} {
		if !strings.Contains(notes[i], "function "+fn.name+" left out") || !strings.Contains(notes[i], fn.dir) {
			t.Errorf("notes[%d] = %q, want %s left out, naming %s", i, notes[i], fn.name, fn.dir)
		}
	}

	// Each function has an environment of its own.
	got[1].Env["SHARED"] = "changed"
	if got[2].Env["SHARED"] != "host" || env["SHARED"] != "host" {
		t.Error("functions share one environment map")
	}
}

// The binary carries exactly the examples the configuration may name.
func TestBuiltinFunctionsMatchConfig(t *testing.T) {
	for _, n := range config.BuiltinFunctions {
		if builtinFunctions[n] == nil {
			t.Errorf("config names builtin %q, which the binary does not carry", n)
		}
	}
	if len(builtinFunctions) != len(config.BuiltinFunctions) {
		t.Errorf("the binary carries %d built-in functions, config names %d", len(builtinFunctions), len(config.BuiltinFunctions))
	}
}
