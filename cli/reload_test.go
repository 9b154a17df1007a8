package cli

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

const reloadYAML = `
authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.invalid
      audiences: [api://gatehouse]
authz:
  roles:
    - {name: reader, aws_role: "arn:aws:iam::123456789012:role/reader", actions: [invoke], functions: [hello]}
  rules:
    - {id: readers, effect: allow, roles: [reader], kind: user}
gateway:
  routes:
    - {id: hello, method: GET, path: /one, function: hello}
audit:
  sink: sqlite
`

// TestReloadIsWhole: a reload that changes a route and the policy together,
// with an error in the policy, keeps the running snapshot whole (the old
// route and the old policy); a good one swaps both at once.
func TestReloadIsWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadYAML)
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	opts := optionsFor(path, nil, filepath.Join(dir, "state"), log)
	ctx := context.Background()
	trail, err := build.AuditTrail(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	stack := &gatewayStack{opts: opts, trail: trail, publicURL: "https://gw.example", log: log}
	gw, err := stack.newGateway(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	rl := &reloader{path: path, opts: opts, log: log, apply: func(ctx context.Context, f *config.File) error {
		snap, err := stack.snapshot(ctx, f)
		if err != nil {
			return err
		}
		return gw.Swap(snap)
	}}
	status := func(p string) int {
		w := httptest.NewRecorder()
		gw.Handler().ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		return w.Code
	}
	if status("/one") != http.StatusUnauthorized || status("/two") != http.StatusNotFound {
		t.Fatalf("before: /one %d, /two %d", status("/one"), status("/two"))
	}
	before := gw.Pipeline()

	// The route moves and the policy names a role that does not exist.
	broken := strings.Replace(reloadYAML, "path: /one", "path: /two", 1)
	broken = strings.Replace(broken, "roles: [reader], kind: user", "roles: [nobody], kind: user", 1)
	write(broken)
	rl.reload(ctx, "test")
	if status("/one") != http.StatusUnauthorized || status("/two") != http.StatusNotFound || gw.Pipeline() != before {
		t.Errorf("after a broken reload: /one %d, /two %d, pipeline swapped %v; want the old snapshot whole", status("/one"), status("/two"), gw.Pipeline() != before)
	}

	// The route moves and a Cedar file the configuration now names does
	// not parse (found only when the policy is built).
	os.WriteFile(filepath.Join(dir, "bad.cedar"), []byte("permit(principal, action"), 0o600)
	write(strings.Replace(strings.Replace(reloadYAML, "path: /one", "path: /two", 1), "authz:\n", "authz:\n  policy_files: [bad.cedar]\n", 1))
	rl.reload(ctx, "test")
	if status("/one") != http.StatusUnauthorized || status("/two") != http.StatusNotFound || gw.Pipeline() != before {
		t.Errorf("after a reload with a broken Cedar file: /one %d, /two %d, pipeline swapped %v", status("/one"), status("/two"), gw.Pipeline() != before)
	}

	// The policy changes well, and a new route cannot be built (an HTTP
	// upstream needs gatehouse's issuer, which this stack has not).
	withWiki := strings.Replace(strings.Replace(reloadYAML, "kind: user", "kind: app", 1),
		"    - {id: hello, method: GET, path: /one, function: hello}\n",
		"    - {id: hello, method: GET, path: /one, function: hello}\n    - {id: wiki, path: /wiki, upstream: {url: \"https://wiki.example\"}}\n", 1)
	withWiki = strings.Replace(withWiki, "functions: [hello]}", "functions: [hello], routes: [wiki]}", 1)
	write(withWiki)
	if nf, err := config.Load(path); err != nil {
		t.Fatalf("the file itself is fine: %v", err)
	} else if _, err := stack.snapshot(ctx, nf); err == nil || !strings.Contains(err.Error(), "issuer") {
		t.Fatalf("snapshot = %v, want the upstream refused for want of an issuer", err)
	}
	rl.reload(ctx, "test")
	if gw.Pipeline() != before || status("/wiki") != http.StatusNotFound {
		t.Errorf("after a reload whose routes failed: the policy was swapped %v, /wiki %d", gw.Pipeline() != before, status("/wiki"))
	}

	// Both changes good: both at once.
	good := strings.Replace(reloadYAML, "path: /one", "path: /two", 1)
	good = strings.Replace(good, "kind: user", "kind: app", 1)
	write(good)
	rl.reload(ctx, "test")
	if status("/one") != http.StatusNotFound || status("/two") != http.StatusUnauthorized || gw.Pipeline() == before {
		t.Errorf("after a good reload: /one %d, /two %d, pipeline swapped %v", status("/one"), status("/two"), gw.Pipeline() != before)
	}
}
