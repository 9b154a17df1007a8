package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/mint"
)

// TestInitIssuerKeyInVault: with --issuer-key, init writes a configuration
// whose issuer signs through the vault, creates no issuer key file, and
// prints the commands that create the key; a malformed reference is
// refused before anything is written.
func TestInitIssuerKeyInVault(t *testing.T) {
	for _, tt := range []struct {
		ref, want, command string
	}{
		{"aws-kms:alias/gatehouse-issuer", "aws-kms:alias/gatehouse-issuer", "aws kms create-alias --region us-east-1 --alias-name alias/gatehouse-issuer"},
		{"azure-keyvault:https://contoso.vault.azure.net/keys/gh-issuer", "azure-keyvault:https://contoso.vault.azure.net/keys/gh-issuer", "az keyvault key create --vault-name contoso --name gh-issuer"},
	} {
		dir := filepath.Join(t.TempDir(), "gh")
		out, errOut, code := runCLI(t, "", "init", "--issuer", "https://127.0.0.1:1", "--audience", "api://x", "--dir", dir, "--issuer-key", tt.ref)
		if code != 0 {
			t.Fatalf("init --issuer-key %s: exit %d\n%s%s", tt.ref, code, out, errOut)
		}
		if !strings.Contains(out, tt.command) {
			t.Errorf("init --issuer-key %s does not print how to create the key:\n%s", tt.ref, out)
		}
		f, err := config.LoadFor(filepath.Join(dir, "gatehouse.yaml"), config.WhereServe)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Creds.Issuer.SigningKey.String(); got != tt.want {
			t.Errorf("creds.issuer.signing_key = %s, want %s", got, tt.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "keys", "issuer", mint.KeyFileName)); err == nil {
			t.Error("init created an issuer key file although the key is in a vault")
		}
	}
	dir := filepath.Join(t.TempDir(), "gh")
	if _, errOut, code := runCLI(t, "", "init", "--issuer", "https://127.0.0.1:1", "--audience", "api://x", "--dir", dir, "--issuer-key", "aws-kms:my key"); code == 0 || !strings.Contains(errOut, "--issuer-key") {
		t.Errorf("a malformed --issuer-key: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("init wrote something before refusing --issuer-key")
	}
}
