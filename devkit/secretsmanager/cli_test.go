package secretsmanager

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAWSCLI reads a secret with the AWS CLI, when one is installed: the
// double needs no CLI, but a developer's CLI must work against it. Skipped
// without `aws` on PATH.
func TestAWSCLI(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("no aws CLI on PATH")
	}
	t.Parallel()
	f := newFixture(t)
	if _, _, err := f.srv.PutSecret("app/cli", []byte(`{"password":"from-the-cli"}`)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := f.creds(t, "reader", "")
	cmd := exec.CommandContext(testContext(t), aws, "secretsmanager", "get-secret-value", "--secret-id", "app/cli",
		"--endpoint-url", f.ts.URL, "--ca-bundle", ca, "--output", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey, "AWS_SESSION_TOKEN=" + c.SessionToken,
		"AWS_DEFAULT_REGION=" + testRegion, "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true"}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("aws secretsmanager get-secret-value: %v\n%s", err, stderr)
	}
	var got struct{ Name, SecretString string }
	if err := json.Unmarshal(out, &got); err != nil || got.Name != "app/cli" || got.SecretString != `{"password":"from-the-cli"}` {
		t.Errorf("aws CLI answered %s (%v)", out, err)
	}
}
