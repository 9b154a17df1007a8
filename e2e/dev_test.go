package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

var gatehouseBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatehouseBin = filepath.Join(dir, "gatehouse")
	// Built as the Dockerfile builds it: static, without cgo.
	build := exec.Command("go", "build", "-trimpath", "-o", gatehouseBin, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gatehouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestSourcesAreTracked reads every source file of the module. The binary
// under test is built from them in a subprocess, which go test's result
// cache cannot see; files a test opens are part of the cache key, so a
// change anywhere invalidates a cached pass of this package.
func TestSourcesAreTracked(t *testing.T) {
	n := 0
	filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != ".." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if name := d.Name(); strings.HasSuffix(name, ".go") || strings.HasSuffix(name, ".yaml") || name == "go.mod" || name == "go.sum" {
			f, err := os.Open(path)
			if err == nil {
				io.Copy(io.Discard, f)
				f.Close()
				n++
			}
		}
		return nil
	})
	if n < 50 {
		t.Fatalf("read %d source files; is the test run from the module?", n)
	}
}

type readyFile struct {
	Issuer   string `json:"issuer"`
	IDP      string `json:"idp"`
	Tenant   string `json:"tenant"`
	CAFile   string `json:"ca_file"`
	Gateway  string `json:"gateway"`
	STS      string `json:"sts"`
	Lambda   string `json:"lambda"`
	Upstream string `json:"upstream"`
	Admin    string `json:"admin"`
	KeyVault string `json:"keyvault"`
}

// devProcess is a running `gatehouse dev`.
type devProcess struct {
	cmd      *exec.Cmd
	stateDir string
	ready    readyFile
	stdout   *lockedBuffer
	stderr   *lockedBuffer
	done     chan error
}

// lockedBuffer is a bytes.Buffer the process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every service on a free port, so tests never collide with a developer's
// own `gatehouse dev` or with each other.
var freePorts = []string{"--sts-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--lambda-listen", "127.0.0.1:0", "--upstream-listen", "127.0.0.1:0", "--keyvault-listen", "127.0.0.1:0"}

func startDev(t *testing.T, stateDir, listen string) *devProcess {
	t.Helper()
	return startDevArgs(t, stateDir, append([]string{"--idp-listen", listen}, freePorts...)...)
}

func startDevConfig(t *testing.T, stateDir, configPath string) *devProcess {
	t.Helper()
	return startDevArgs(t, stateDir, append([]string{"--idp-listen", "127.0.0.1:0", "--config", configPath}, freePorts...)...)
}

func startDevArgs(t *testing.T, stateDir string, args ...string) *devProcess {
	t.Helper()
	return startDevProcess(t, gatehouseBin, "..", nil, stateDir, args...)
}

// startDevProcess runs bin dev in dir (env nil: this process's).
func startDevProcess(t *testing.T, bin, dir string, env []string, stateDir string, args ...string) *devProcess {
	t.Helper()
	readyPath := filepath.Join(t.TempDir(), "ready.json")
	d := &devProcess{stateDir: stateDir, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, append([]string{"dev", "--state-dir", stateDir, "--ready-file", readyPath}, args...)...)
	d.cmd.Dir = dir
	d.cmd.Env = env
	d.cmd.Stdout = d.stdout
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(readyPath); err == nil && json.Unmarshal(b, &d.ready) == nil && d.ready.Issuer != "" {
			return d
		}
		select {
		case err := <-d.done:
			t.Fatalf("gatehouse dev exited before ready: %v\n%s", err, d.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("gatehouse dev not ready after 30s")
		}
	}
}

func (d *devProcess) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// run runs gatehouse with args and stdin, returning stdout, stderr and the
// exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(gatehouseBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("gatehouse %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

type principal struct {
	Subject string   `json:"subject"`
	Tenant  string   `json:"tenant"`
	Kind    string   `json:"kind"`
	App     string   `json:"app"`
	Groups  []string `json:"groups"`
	Roles   []string `json:"roles"`
	Scopes  []string `json:"scopes"`
}

func verify(t *testing.T, stateDir, token string) (principal, string, int) {
	t.Helper()
	out, errOut, code := run(t, token, "verify", "--state-dir", stateDir, "-")
	var p principal
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("verify output is not a principal: %v\n%s", err, out)
		}
	}
	return p, errOut, code
}

func token(t *testing.T, stateDir string, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"token", "--state-dir", stateDir}, args...)...)
	if code != 0 {
		t.Fatalf("gatehouse token %v: exit %d: %s", args, code, errOut)
	}
	return strings.TrimSpace(out)
}

// TestDevAnywhere: the binary copied to an empty directory, with no Go on
// PATH, runs the whole local loop (its example functions are built in),
// and the curl line its banner prints answers 200.
func TestDevAnywhere(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	b, err := os.ReadFile(gatehouseBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + dir}
	d := startDevProcess(t, bin, dir, env, filepath.Join(dir, "state"), append([]string{"--idp-listen", "127.0.0.1:0"}, freePorts...)...)
	banner := d.stdout.String()
	if strings.Contains(banner, "left out") || strings.Contains(d.stderr.String(), "left out") {
		t.Errorf("a function was left out:\n%s\n%s", banner, d.stderr)
	}
	var line string
	for l := range strings.Lines(banner) {
		if strings.Contains(l, "curl") && strings.Contains(l, "/whoami") {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" || strings.Contains(line, "eyJ") || !strings.Contains(line, bin+" token") {
		t.Fatalf("no curl line with a short token command in the banner:\n%s", banner)
	}
	cmd := exec.Command("sh", "-c", line+` -s -o /dev/null -w '%{http_code}'`)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "200" {
		t.Errorf("the banner's curl line: %v, status %q\n%s\n%s", err, out, line, d.stderr)
	}
}

// TestDevTokenVerify is the foundation's "done when": dev serves the IdP, a
// token for alice verifies with groups, roles and scopes, and the same token
// with one payload byte changed is rejected by the signature check.
func TestDevTokenVerify(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	if !strings.Contains(d.stdout.String(), d.ready.Issuer) || !strings.Contains(d.stdout.String(), "alice@") {
		t.Errorf("banner lacks the issuer or sample users:\n%s", d.stdout)
	}

	tok := token(t, state, "--user", "alice")
	p, errOut, code := verify(t, state, tok)
	if code != 0 {
		t.Fatalf("verify alice's token: exit %d: %s", code, errOut)
	}
	if p.Kind != "user" || p.Tenant != d.ready.Tenant || len(p.Groups) == 0 || len(p.Roles) == 0 || len(p.Scopes) == 0 {
		t.Errorf("alice's principal = %+v, want a user with groups, roles and scopes", p)
	}

	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	i := bytes.Index(payload, []byte(`"oid":"`)) + len(`"oid":"`)
	payload[i] ^= 0x01 // one changed byte
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	_, errOut, code = verify(t, state, tampered)
	if code != 1 || !strings.Contains(errOut, "signature") {
		t.Errorf("tampered token: exit %d, stderr %q; want exit 1 naming the signature check", code, errOut)
	}

	for _, bad := range []string{"not-a-token", "a.b.c", tok + "x", strings.Repeat("A", 20000)} {
		if _, errOut, code := verify(t, state, bad); code != 1 || !strings.Contains(errOut, "check failed") {
			t.Errorf("verify(garbage %.20q): exit %d, stderr %q; want exit 1 naming a check", bad, code, errOut)
		}
	}

	app := token(t, state, "--client", "report-agent")
	p, errOut, code = verify(t, state, app)
	if code != 0 || p.Kind != "app" || len(p.Roles) == 0 {
		t.Errorf("report-agent token: exit %d %s, principal %+v; want an app with roles", code, errOut, p)
	}

	_, errOut, code = run(t, "", "token", "--state-dir", state, "--user", "alice", "--password", "wrong")
	if code == 0 || !strings.Contains(errOut, "invalid_grant") {
		t.Errorf("wrong password: exit %d, stderr %q; want the IdP's invalid_grant", code, errOut)
	}
}

// TestDevKeysSurviveRestartAndRotate: keys live in the state directory, so a
// token stays valid across a restart; rotation keeps old tokens valid and
// signs new ones with the new key. The restart uses --listen, the hidden
// name --idp-listen had before, which still works.
func TestDevKeysSurviveRestartAndRotate(t *testing.T) {
	state := t.TempDir()
	listen := freePort(t)
	d := startDev(t, state, listen)
	before := token(t, state, "--user", "bob")
	d.stop(t)

	d = startDevArgs(t, state, append([]string{"--listen", listen}, freePorts...)...)
	if d.ready.IDP != "https://"+listen {
		t.Errorf("dev --listen %s: the IdP is at %s", listen, d.ready.IDP)
	}
	if _, errOut, code := verify(t, state, before); code != 0 {
		t.Fatalf("token from before the restart: exit %d: %s", code, errOut)
	}

	if _, errOut, code := run(t, "", "dev", "rotate-keys", "--state-dir", state); code != 0 {
		t.Fatalf("rotate-keys: exit %d: %s", code, errOut)
	}
	var after string
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = token(t, state, "--user", "bob")
		if kid(t, after) != kid(t, before) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if kid(t, after) == kid(t, before) {
		t.Fatal("tokens are still signed with the old key after rotate-keys")
	}
	for name, tok := range map[string]string{"old key": before, "new key": after} {
		if _, errOut, code := verify(t, state, tok); code != 0 {
			t.Errorf("token signed with the %s: exit %d: %s", name, code, errOut)
		}
	}
}

// TestDevWithMSAL: MSAL for Go, unchanged, gets a token from the running
// binary over HTTPS with the local CA, and gatehouse verifies it.
func TestDevWithMSAL(t *testing.T) {
	state := t.TempDir()
	d := startDev(t, state, "127.0.0.1:0")
	pem, err := os.ReadFile(d.ready.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}

	out, _, _ := run(t, "", "dev", "--print-config")
	secret, clientID := devApp(t, out, "report-agent")
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(d.ready.IDP+"/"+d.ready.Tenant, clientID, cred,
		confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := app.AcquireTokenByCredential(ctx, []string{"api://gatehouse-api/.default"})
	if err != nil {
		t.Fatalf("MSAL client credentials: %v", err)
	}
	p, errOut, code := verify(t, state, res.AccessToken)
	if code != 0 || p.Kind != "app" || p.App != clientID {
		t.Fatalf("MSAL token: exit %d %s, principal %+v", code, errOut, p)
	}
}

// devApp reads an app's client id and first secret from the printed
// development configuration.
func devApp(t *testing.T, yaml, name string) (secret, clientID string) {
	t.Helper()
	yaml = yaml[strings.Index(yaml, "\ndev:"):]
	i := strings.Index(yaml, "name: "+name)
	if i < 0 {
		t.Fatalf("no app %s in the development configuration", name)
	}
	rest := yaml[i:]
	field := func(key string) string {
		j := strings.Index(rest, key)
		if j < 0 {
			t.Fatalf("app %s has no %s", name, key)
		}
		line := strings.SplitN(rest[j+len(key):], "\n", 2)[0]
		return strings.Trim(strings.TrimSpace(line), `"'`)
	}
	clientID = field("client_id:")
	j := strings.Index(rest, "secrets:")
	if j < 0 {
		t.Fatalf("app %s has no secrets", name)
	}
	line := strings.SplitN(rest[j:], "\n", 3)[1]
	secret = strings.Trim(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "-")), `"'`)
	return secret, clientID
}

func kid(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	json.Unmarshal(h, &hdr)
	return hdr.Kid
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
