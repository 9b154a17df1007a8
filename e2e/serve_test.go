package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServe runs `gatehouse serve` with a production-shaped configuration
// against the dev IdP (as an ordinary Entra authority) and the dev STS,
// where gatehouse's own issuer is not registered: verification and policy
// work, and the credentials step fails closed with a 403 naming the role.
func TestServe(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	cfg, _, _ := run(t, "", "dev", "--print-config")
	dir := t.TempDir()
	gwAddr := freePort(t)

	// authn: the dev IdP by its URL, trusted through the dev CA.
	cfg = strings.Replace(cfg, "        authority: dev\n", "        authority: "+d.ready.IDP+"\n", 1)
	cfg = strings.Replace(cfg, "      audiences:\n", "      ca_file: "+d.ready.CAFile+"\n      audiences:\n", 1)
	// creds: gatehouse's own issuer, which the dev STS does not trust.
	cfg = strings.Replace(cfg, "  sts:\n    endpoint: dev\n", "  issuer:\n    url: https://gatehouse.example/oidc\n    key_dir: "+filepath.Join(dir, "issuer")+"\n  sts:\n    endpoint: "+d.ready.STS+"\n", 1)
	// audit: explicit files, keys made beforehand.
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(filepath.Join(dir, "audit-key"), key, 0o600)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	os.WriteFile(filepath.Join(dir, "audit-signing.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	cfg = strings.Replace(cfg, "  sink: sqlite\n", "  sink: sqlite\n  path: "+filepath.Join(dir, "audit.db")+"\n  key_file: "+filepath.Join(dir, "audit-key")+"\n  signing_key_file: "+filepath.Join(dir, "audit-signing.pem")+"\n", 1)
	cfg = strings.Replace(cfg, "gateway:\n", "gateway:\n  listen: "+gwAddr+"\n  public_url: http://"+gwAddr+"\n", 1)
	// gateway: the dev upstream by its URL.
	cfg = strings.Replace(cfg, "        url: dev\n", "        url: "+d.ready.Upstream+"\n", 1)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	base := startServe(t, path, "AWS_CA_BUNDLE="+d.ready.CAFile, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	c := &http.Client{Timeout: 30 * time.Second}

	if r := call(t, c, "GET", base+"/whoami", "", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("no token: %d %v", r.status, r.header)
	}
	if r := call(t, c, "GET", base+"/whoami", token(t, state, "--user", "dave"), ""); r.status != 403 {
		t.Errorf("dave: %d %s", r.status, r.body)
	}
	r := call(t, c, "GET", base+"/whoami", token(t, state, "--user", "alice"), "")
	if r.status != 403 || !strings.Contains(r.body, `role \"reader\"`) {
		t.Errorf("alice with an untrusted gatehouse issuer: %d %s; want a 403 naming the role", r.status, r.body)
	}
	// An upstream needs no AWS credentials: its request goes through with
	// an assertion from serve's issuer (which the dev upstream, trusting
	// the dev gateway's issuer, reports as not its own).
	r = call(t, c, "GET", base+"/api/x", token(t, state, "--user", "bob"), "")
	if r.status != 200 || !strings.Contains(r.body, `"authorization": "absent"`) || !strings.Contains(r.body, `"X-Gatehouse-Assertion": [`) {
		t.Errorf("bob GET /api/x through serve: %d %s", r.status, r.body)
	}
	if r := call(t, c, "GET", base+"/.gatehouse-missing/../whoami", "", ""); r.status == 200 {
		t.Errorf("non-canonical path served")
	}
	var out bytes.Buffer
	verify := exec.Command(gatehouseBin, "audit", "verify", "--config", path)
	verify.Stdout = &out
	verify.Stderr = &out
	// Four requests to routes and one refused for its path: five events.
	if err := verify.Run(); err != nil || !strings.Contains(out.String(), "ok: 5 events") {
		t.Errorf("audit verify on serve's trail: %v\n%s", err, out.String())
	}
}

// startServe runs `gatehouse serve --config path` (with env added to this
// process's) until the test ends, and returns its base URL once it answers.
func startServe(t *testing.T, path string, env ...string) string {
	t.Helper()
	ready, _ := startServeWith(t, env, path)
	return ready["gateway"]
}

// startServeWith runs `gatehouse serve --config path` with args and a
// ready file, and env added to this process's, until the test ends; it
// returns the ready file (the gateway's and admin listener's URLs, and
// "pid" the process id) once serve wrote it, and serve's standard error.
func startServeWith(t *testing.T, env []string, path string, args ...string) (map[string]string, *lockedBuffer) {
	t.Helper()
	readyPath := filepath.Join(t.TempDir(), "ready.json")
	cmd := exec.Command(gatehouseBin, append([]string{"serve", "--config", path, "--ready-file", readyPath}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ready map[string]string
		if b, err := os.ReadFile(readyPath); err == nil && json.Unmarshal(b, &ready) == nil && ready["gateway"] != "" {
			ready["pid"] = strconv.Itoa(cmd.Process.Pid)
			return ready, stderr
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited before ready: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve wrote no ready file:\n%s", stderr.String())
		}
	}
}

// TestServeLocal: serve, the production entry point, against a running
// `gatehouse dev` (its IdP, STS, Lambda host and upstream), configured two
// ways: by `gatehouse init --dev` (no edits, no hand-made keys) and by
// examples/serve-local.yaml. Alice gets 200 from a function route, which
// takes the whole pipeline including AWS credentials from the local STS,
// and from an upstream route, whose upstream accepts serve's assertion.
func TestServeLocal(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, ".local", "state", "gatehouse")
	d := startDev(t, state, "127.0.0.1:0")
	alice := token(t, state, "--user", "alice")
	c := &http.Client{Timeout: 30 * time.Second}
	served := func(t *testing.T, base, path string) {
		t.Helper()
		r := call(t, c, "GET", base+"/whoami", alice, "")
		if r.status != 200 || !strings.Contains(r.body, `"function":"whoami"`) {
			t.Errorf("alice GET /whoami through serve: %d %s", r.status, r.body)
		}
		r = call(t, c, "GET", base+"/api/x", alice, "")
		// The dev upstream trusts dev's issuer, whose keys serve signs with.
		if r.status != 200 || !strings.Contains(r.body, `"authorization": "absent"`) || !strings.Contains(r.body, `"issuer": "`+d.ready.Gateway+`"`) || strings.Contains(r.body, `"error"`) {
			t.Errorf("alice GET /api/x through serve: %d %s", r.status, r.body)
		}
		if r := call(t, c, "GET", base+"/whoami", token(t, state, "--user", "dave"), ""); r.status != 403 {
			t.Errorf("dave GET /whoami through serve: %d %s", r.status, r.body)
		}
		if out, errOut, code := run(t, "", "audit", "verify", "--config", path); code != 0 || !strings.Contains(out, "ok: 3 events") {
			t.Errorf("audit verify on serve's trail: exit %d\n%s%s", code, out, errOut)
		}
	}

	t.Run("init", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gatehouse")
		addr := freePort(t)
		out, errOut, code := run(t, "", "init", "--dev", "--state-dir", state, "--dir", dir, "--gateway-listen", addr)
		if code != 0 {
			t.Fatalf("init --dev: exit %d\n%s%s", code, out, errOut)
		}
		path := filepath.Join(dir, "gatehouse.yaml")
		for _, key := range []string{"gatehouse.yaml", "keys/audit-key", "keys/audit-signing.pem"} {
			if st, err := os.Stat(filepath.Join(dir, key)); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v %v; want a file readable by its owner alone", key, st.Mode(), err)
			}
		}
		if out, errOut, code := run(t, "", "serve", "--check", "--config", path); code != 0 || !strings.Contains(out, "ok: ") {
			t.Fatalf("serve --check: exit %d\n%s%s", code, out, errOut)
		}
		served(t, startServe(t, path), path)
	})

	t.Run("example", func(t *testing.T) {
		b, err := os.ReadFile("../examples/serve-local.yaml")
		if err != nil {
			t.Fatal(err)
		}
		// The example names dev's default ports; this dev runs on free ones.
		addr := freePort(t)
		text := strings.NewReplacer(
			"https://127.0.0.1:9443", d.ready.IDP,
			"https://127.0.0.1:9480", d.ready.Gateway,
			"https://127.0.0.1:9444", d.ready.STS,
			"https://127.0.0.1:9445", d.ready.Lambda,
			"http://127.0.0.1:9446", d.ready.Upstream,
			"127.0.0.1:8480", addr,
		).Replace(string(b))
		path := filepath.Join(t.TempDir(), "serve-local.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("HOME", home)
		t.Setenv("XDG_STATE_HOME", "")
		if out, errOut, code := run(t, "", "serve", "--check", "--config", path); code != 0 {
			t.Fatalf("serve --check: exit %d\n%s%s", code, out, errOut)
		}
		served(t, startServe(t, path), path)
	})
}

// TestServeCheckListsEveryProblem: a configuration made from `dev
// --print-config` with what a first try at serve gets wrong, in the file
// and in the files it names, gets every problem in one run of `serve
// --check`, each with the file and line; `serve` refuses to start with
// the same list.
func TestServeCheckListsEveryProblem(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "audit-key"), bytes.Repeat([]byte{7}, 32), 0o644) // readable by all
	os.WriteFile(filepath.Join(dir, "bad.cedar"), []byte("permit (principal, action, resource) when { principal.nosuch ==};\n"), 0o600)
	cfg = strings.NewReplacer(
		"authz:\n", "authz:\n  policy_files: [bad.cedar]\n",
		"creds:\n  mode: broker\n", "creds:\n  mode: broker\n  issuer:\n    url: http://gatehouse.example\n    key_dir: keys/issuer\n",
		"gateway:\n", "gateway:\n  listen: 0.0.0.0:8080\n  lambda:\n    endpoint: https://lambda.example\n    ca_file: missing-ca.pem\n",
		"audit:\n  sink: sqlite\n", "audit:\n  sink: sqlite\n  key_file: audit-key\n  signing_key_file: missing-signing.pem\n",
	).Replace(cfg)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"authn.issuers[0].entra.authority: \"dev\"",
		"creds.issuer.url: \"http://gatehouse.example\"",
		"creds.sts.endpoint: \"dev\"",
		"gateway.listen: \"0.0.0.0:8080\"",
		"gateway.lambda.ca_file: ",
		"upstream.url: \"dev\"",
		"audit.path: is required",
		"audit.key_file: ",
		"audit.signing_key_file: ",
		"bad.cedar:1:",
	}
	for _, args := range [][]string{{"serve", "--check", "--config", path}, {"serve", "--config", path}} {
		out, errOut, code := run(t, "", args...)
		if code == 0 || out != "" {
			t.Errorf("%v: exit %d, stdout %q; want a refusal", args, code, out)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		for _, w := range want {
			found := false
			for _, l := range lines {
				if strings.Contains(l, w) && (strings.HasPrefix(l, path+":") || strings.Contains(l, "bad.cedar:")) {
					found = true
				}
			}
			if !found {
				t.Errorf("%v: no line with %q, its file and line:\n%s", args, w, errOut)
			}
		}
		if len(lines) != len(want) {
			t.Errorf("%v: %d problems, want %d (each once):\n%s", args, len(lines), len(want), errOut)
		}
	}
}

// TestStaticBinary: the binary, built as the Dockerfile builds it, needs
// no dynamic loader or shared library (the image has none), and runs with
// an empty environment (no HOME, no PATH).
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(gatehouseBin)
	if err != nil {
		t.Skipf("not an ELF binary on this system: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	cmd := exec.Command(gatehouseBin, "version")
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gatehouse ") {
		t.Errorf("version with an empty environment: %v\n%s", err, out)
	}
}
