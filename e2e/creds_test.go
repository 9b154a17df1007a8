package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokeredCredentials is the credentials issue's "done when": a dev
// user's token, a decision, brokered credentials, and GetCallerIdentity with
// them naming the assumed role and a session that names the user, with the
// source identity set.
func TestBrokeredCredentials(t *testing.T) {
	state := t.TempDir()
	startDev(t, state, "127.0.0.1:0")
	alice := token(t, state, "--user", "alice")
	out, errOut, code := run(t, "", "aws", "credentials", "--state-dir", state, "--token", alice,
		"--resource", "function:hello", "--format", "json", "--caller-identity")
	if code != 0 {
		t.Fatalf("aws credentials: exit %d\n%s", code, errOut)
	}
	var s struct {
		Role           string            `json:"role"`
		AssumedRoleARN string            `json:"assumed_role_arn"`
		SessionName    string            `json:"session_name"`
		SourceIdentity string            `json:"source_identity"`
		AccessKeyID    string            `json:"access_key_id"`
		Tags           map[string]string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("output: %v\n%s", err, out)
	}
	const aliceOID = "2d4acc68-9d83-4609-a6f0-96e989303d16"
	if s.Role != "reader" || s.SessionName != aliceOID || !strings.HasSuffix(s.AssumedRoleARN, ":assumed-role/gatehouse-reader/"+aliceOID) {
		t.Errorf("session = %+v; want role reader, session named after alice's object id", s)
	}
	if s.SourceIdentity == "" || strings.Contains(s.SourceIdentity, "alice") || s.Tags["kind"] != "user" {
		t.Errorf("source identity %q, tags %v: want a pseudonymous source identity and session tags", s.SourceIdentity, s.Tags)
	}
	if !strings.Contains(errOut, "caller identity: "+s.AssumedRoleARN) {
		t.Errorf("GetCallerIdentity does not answer with the assumed role:\n%s", errOut)
	}
	if strings.Contains(out, "alice@") || strings.Contains(out, "Alice Example") {
		t.Errorf("credentials carry personal data:\n%s", out)
	}

	// The policy decides before any credentials: dave gets none.
	dave := token(t, state, "--user", "dave")
	_, errOut, code = run(t, "", "aws", "credentials", "--state-dir", state, "--token", dave, "--resource", "function:hello")
	if code != 1 || !strings.Contains(errOut, "403 denied") {
		t.Errorf("dave: exit %d, %s; want a 403 denial", code, errOut)
	}
}

// TestTrustPolicyRefusal: a role whose trust policy does not match is
// refused by STS with AccessDenied, reported as a 403 naming the role.
func TestTrustPolicyRefusal(t *testing.T) {
	cfg, _, _ := run(t, "", "dev", "--print-config")
	cfg = strings.Replace(cfg, "  sts:\n    listen: 127.0.0.1:9444\n    roles:\n", `  sts:
    listen: 127.0.0.1:9444
    roles:
      - arn: arn:aws:iam::000000000000:role/gatehouse-jobs
        trust_policy: |
          {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/${gatehouse_issuer}"},
            "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity"],
            "Condition": {"StringLike": {"${gatehouse_issuer}:sub": "role:someone-else:*"}}}]}
`, 1)
	if !strings.Contains(cfg, "role:someone-else") {
		t.Fatal("could not add the role to dev.sts.roles")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	startDevConfig(t, state, path)
	agent := token(t, state, "--config", path, "--client", "report-agent")
	_, errOut, code := run(t, "", "aws", "credentials", "--config", path, "--state-dir", state, "--token", agent, "--resource", "jobs-nightly")
	if code != 1 || !strings.Contains(errOut, "403") || !strings.Contains(errOut, `role "jobs"`) || !strings.Contains(errOut, "trust policy") {
		t.Fatalf("refused role: exit %d, stderr %q; want a 403 naming the role and its trust policy", code, errOut)
	}
}
