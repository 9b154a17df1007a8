package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gatehouse/config"
	"gatehouse/devkit/runtime"
)

// TestDevFunctions: the embedded configuration's functions, run from a
// directory that holds only some of their packages: package directories
// are relative to the base, a missing one leaves its function out with a
// note, and each function gets the host's environment under its own.
func TestDevFunctions(t *testing.T) {
	base := t.TempDir()
	for _, dir := range []string{"examples/functions/whoami", "examples/functions/echo"} {
		if err := os.MkdirAll(filepath.Join(base, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	abs := t.TempDir() // an absolute package path stays as it is
	notDir := filepath.Join(base, "main.go")
	if err := os.WriteFile(notDir, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := config.Default()
	f.Dev.Lambda.Functions[0].Env = map[string]string{"GREETING": "hi", "SHARED": "mine"}
	f.Dev.Lambda.Functions = append(f.Dev.Lambda.Functions,
		config.DevFunction{Name: "elsewhere", Package: abs},
		config.DevFunction{Name: "prebuilt", Executable: "/opt/fn/bootstrap", MemoryMB: 256, Concurrency: 2},
		config.DevFunction{Name: "file", Package: "main.go"},
	)
	env := map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "host"}

	got, notes := devFunctions(f, base, env)

	hostEnv := map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "host"}
	fn := f.Dev.Lambda.Functions // limits as the embedded configuration sets them
	want := []runtime.Function{
		{Name: "whoami", Package: filepath.Join(base, "examples/functions/whoami"), ExecutionRole: fn[0].ExecutionRole,
			Timeout: fn[0].Timeout, MemoryMB: fn[0].MemoryMB, Concurrency: fn[0].Concurrency,
			Env: map[string]string{"AWS_ENDPOINT_URL_STS": "https://127.0.0.1:9444", "SHARED": "mine", "GREETING": "hi"}},
		{Name: "echo", Package: filepath.Join(base, "examples/functions/echo"),
			Timeout: fn[1].Timeout, MemoryMB: fn[1].MemoryMB, Concurrency: fn[1].Concurrency, Env: hostEnv},
		{Name: "elsewhere", Package: abs, Env: hostEnv},
		{Name: "prebuilt", Executable: "/opt/fn/bootstrap", MemoryMB: 256, Concurrency: 2, Env: hostEnv},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("devFunctions (-want +got):\n%s", diff)
	}

	if len(notes) != 2 {
		t.Fatalf("notes = %q, want one for protected and one for file", notes)
	}
	for i, fn := range []struct{ name, dir string }{{"protected", filepath.Join(base, "examples/functions/protected")}, {"file", notDir}} {
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
