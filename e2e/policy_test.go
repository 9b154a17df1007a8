package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const policyTests = "../examples/policy-tests.yaml"

// TestPolicyTestExamples: the example policy tests pass on the development
// configuration, and flipping one expectation fails the run naming the case.
func TestPolicyTestExamples(t *testing.T) {
	out, errOut, code := run(t, "", "policy", "test", policyTests)
	if code != 0 || !strings.Contains(out, " passed, 0 failed") {
		t.Fatalf("policy test: exit %d\n%s%s", code, out, errOut)
	}

	b, err := os.ReadFile(policyTests)
	if err != nil {
		t.Fatal(err)
	}
	flipped := strings.Replace(string(b), "    expect: allow\n    expect_role: reader\n    expect_policies: [engineering-readers/reader]",
		"    expect: deny\n    expect_role: reader\n    expect_policies: [engineering-readers/reader]", 1)
	if flipped == string(b) {
		t.Fatal("could not flip the first case")
	}
	path := filepath.Join(t.TempDir(), "flipped.yaml")
	os.WriteFile(path, []byte(flipped), 0o600)
	out, _, code = run(t, "", "policy", "test", path)
	if code != 1 || !strings.Contains(out, "FAIL  an engineer invokes hello as the least privileged role") || !strings.Contains(out, " passed, 1 failed") {
		t.Fatalf("flipped case: exit %d\n%s", code, out)
	}
}

// TestPolicyExplainDevTokens: explain on real dev-IdP tokens.
func TestPolicyExplainDevTokens(t *testing.T) {
	state := t.TempDir()
	startDev(t, state, "127.0.0.1:0")

	alice := token(t, state, "--user", "alice")
	out, errOut, code := run(t, "", "policy", "explain", "--state-dir", state, "--token", alice, "--action", "invoke", "--resource", "function:hello")
	if code != 0 || !strings.Contains(out, "decision   allow") || !strings.Contains(out, "role       reader") || !strings.Contains(out, "engineering-readers") {
		t.Errorf("alice: exit %d\n%s%s", code, out, errOut)
	}

	dave := token(t, state, "--user", "dave")
	out, errOut, code = run(t, "", "policy", "explain", "--state-dir", state, "--token", dave, "--action", "invoke", "--resource", "function:hello")
	if code != 0 || !strings.Contains(out, "decision   deny") || !strings.Contains(out, "reason     no rule grants") {
		t.Errorf("dave: exit %d\n%s%s", code, out, errOut)
	}
}

// TestPolicyCheckListsEveryProblem: a broken policy names file, line and
// field of each problem, and exits non-zero.
func TestPolicyCheckListsEveryProblem(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	bad := strings.Replace(cfg, "        - jobs\n", "        - jobz\n", 1)
	bad = strings.Replace(bad, "      effect: allow\n", "      effect: allow\n      upn: [alice@contoso.example]\n", 1)
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(path, []byte(bad), 0o600)
	_, errOut, code := run(t, "", "policy", "check", "--config", path)
	if code != 1 || !strings.Contains(errOut, `role "jobz" is not declared`) || !strings.Contains(errOut, "nOAuth") || !strings.Contains(errOut, path+":") {
		t.Fatalf("policy check: exit %d\n%s", code, errOut)
	}

	// A Cedar syntax error points at the Cedar file and line.
	cedar := filepath.Join(filepath.Dir(path), "extra.cedar")
	os.WriteFile(cedar, []byte("permit (principal, action, resource)\nwhen { principal.kind == };\n"), 0o600)
	withFile := strings.Replace(cfg, "\n  agents:\n", "\n  policy_files:\n    - extra.cedar\n  agents:\n", 1)
	os.WriteFile(path, []byte(withFile), 0o600)
	_, errOut, code = run(t, "", "policy", "check", "--config", path)
	if code != 1 || !strings.Contains(errOut, "extra.cedar:2:") {
		t.Fatalf("cedar syntax error: exit %d\n%s", code, errOut)
	}
}

// TestPolicyReloadKeepsWorkingPolicy: a running `gatehouse dev` reloads the
// policy when the file changes, and keeps the old one when the new is broken.
func TestPolicyReloadKeepsWorkingPolicy(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	d := startDevConfig(t, filepath.Join(dir, "state"), path)

	os.WriteFile(path, []byte(strings.Replace(cfg, "        - jobs\n", "        - jobz\n", 1)), 0o600)
	waitFor(t, d, "policy reload failed")
	if !strings.Contains(d.stderr.String(), "jobz") {
		t.Errorf("reload failure does not name the problem:\n%s", d.stderr)
	}
	os.WriteFile(path, []byte(cfg+"\n"), 0o600)
	waitFor(t, d, "policy reloaded")
}

func waitFor(t *testing.T, d *devProcess, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(d.stderr.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 15s:\n%s", text, d.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
