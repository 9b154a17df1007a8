package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouteReload: editing the configuration of a running gateway swaps
// its routes without a restart; a broken edit keeps the running ones.
func TestRouteReload(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cfg = strings.ReplaceAll(cfg, "package: examples/", "package: "+filepath.Join(root, "examples")+"/")
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	d := startDevConfig(t, filepath.Join(dir, "state"), path)
	c := gatewayClient(t, d)
	bob := token(t, d.stateDir, "--user", "bob")
	if r := call(t, c, "GET", d.ready.Gateway+"/whoami", bob, ""); r.status != 200 {
		t.Fatalf("GET /whoami before the edit: %d %s", r.status, r.body)
	}

	moved := strings.Replace(cfg, "      path: /whoami\n", "      path: /me\n", 1)
	os.WriteFile(path, []byte(moved), 0o600)
	waitFor(t, d, `"routes":`)
	if r := call(t, c, "GET", d.ready.Gateway+"/me", bob, ""); r.status != 200 {
		t.Errorf("GET /me after the edit: %d %s", r.status, r.body)
	}
	if r := call(t, c, "GET", d.ready.Gateway+"/whoami", bob, ""); r.status != 404 {
		t.Errorf("GET /whoami after the edit: %d, want 404", r.status)
	}

	// A route no role reaches is refused; /me keeps working.
	broken := strings.Replace(moved, "      function: whoami\n", "      function: payroll\n      role: reader\n", 1)
	os.WriteFile(path, []byte(broken), 0o600)
	waitFor(t, d, "policy reload failed")
	if r := call(t, c, "GET", d.ready.Gateway+"/me", bob, ""); r.status != 200 {
		t.Errorf("GET /me after a refused edit: %d %s", r.status, r.body)
	}
}
