package keyvault

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestStateFileSurvivesRestart: with a state file, a new vault (another
// process, another port) has the secrets and keys of the old one, and its
// keys sign as before.
func TestStateFileSurvivesRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "vault", "state.json")
	withState := func(c *Config) { c.StateFile = path }
	ctx := context.Background()

	f1 := newFixture(t, withState)
	secretID, err := f1.vault.SetSecret("db-password", "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	kid, err := f1.vault.CreateKey("signer", KeySpec{Type: "RSA", Size: 2048, Ops: []string{"sign", "verify"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(kid, f1.vaultURL+"/keys/signer/") {
		t.Errorf("CreateKey kid %q", kid)
	}
	k1 := f1.keys(t, f1.credential(t, tenantID, clientID, clientSecret))
	ec, err := k1.CreateKey(ctx, "signer-ec", azkeysEC(azkeys.CurveNameP256), nil)
	if err != nil {
		t.Fatal(err)
	}
	old, err := k1.GetKey(ctx, "signer", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k1.DeleteKey(ctx, "signer-ec", nil); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %04o, want 0600", fi.Mode().Perm())
	}

	f2 := newFixture(t, withState)
	c2 := f2.secrets(t, f2.credential(t, tenantID, clientID, clientSecret))
	version := secretID[strings.LastIndexByte(secretID, '/')+1:]
	if got, err := c2.GetSecret(ctx, "db-password", version, nil); err != nil || *got.Value != "hunter2" {
		t.Errorf("secret after restart = %v, %v", got.Value, err)
	}
	k2 := f2.keys(t, f2.credential(t, tenantID, clientID, clientSecret))
	digest := sha256.Sum256([]byte("m"))
	sig, err := k2.Sign(ctx, "signer", old.Key.KID.Version(), azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmPS256), Value: digest[:]}, nil)
	if err != nil {
		t.Fatalf("sign after restart: %v", err)
	}
	verifyLocally(t, publicKey(t, old.Key), azkeys.SignatureAlgorithmPS256, digest[:], sig.Result)
	if _, err := k2.RecoverDeletedKey(ctx, "signer-ec", nil); err != nil {
		t.Errorf("a key deleted before the restart is not recoverable after it: %v", err)
	}
	if got, err := k2.GetKey(ctx, "signer-ec", ec.Key.KID.Version(), nil); err != nil || string(got.Key.X) != string(ec.Key.X) {
		t.Errorf("EC key after restart = %v, %v", got.Key, err)
	}
}

// TestStateFileRefused: a state file others can read, or one that is not
// the vault's JSON, stops New rather than being replaced.
func TestStateFileRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content string
		mode    os.FileMode
		want    string
	}{
		"open":      {`{"format":1}`, 0o644, "accessible to other users"},
		"garbage":   {`not json`, 0o600, "invalid character"},
		"format":    {`{"format":2}`, 0o600, "format 2"},
		"bad key":   {`{"format":1,"keys":{"k":{"name":"k","versions":[{"id":"00","kty":"RSA","size":2048,"pkcs8":"AAAA"}]}}}`, 0o600, "key k/00"},
		"bad names": {`{"format":1,"secrets":{"x":{"name":"y","versions":[{"id":"00"}]}}}`, 0o600, "malformed"},
	} {
		if runtime.GOOS == "windows" && tc.mode != 0o600 {
			continue
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{VaultURL: "https://127.0.0.1:1", Authority: "https://127.0.0.1:2", Tenant: tenantID, StateFile: path})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// TestConfigErrors: New reports every problem at once.
func TestConfigErrors(t *testing.T) {
	_, err := New(Config{
		VaultURL:  "http://vault.example/path",
		Authority: "https://login.example/tenant",
		Tenant:    "contoso.example",
		Access: []Access{
			{ObjectID: "nope"},
			{ObjectID: clientSP, Secrets: []string{"get", "sign"}, Keys: []string{"wrapKey", "fly"}},
			{ObjectID: strings.ToUpper(clientSP)},
		},
	})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, want := range []string{"VaultURL", "Authority", "Tenant", "Access[0].ObjectID", `Access[1].Secrets: "sign"`, `Access[1].Keys: "fly"`, "Access[2].ObjectID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

// TestSeedingErrors: the Go seeding methods refuse what the wire refuses.
func TestSeedingErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if _, err := f.vault.SetSecret("bad name", "v"); err == nil || !strings.Contains(err.Error(), "invalid name") {
		t.Errorf("SetSecret with a bad name: %v", err)
	}
	if _, err := f.vault.SetSecret("big", strings.Repeat("x", maxSecretBytes+1)); err == nil {
		t.Error("SetSecret accepted 25 KiB + 1")
	}
	if _, err := f.vault.CreateKey("k", KeySpec{Type: "RSA", Size: 1024}); err == nil {
		t.Error("CreateKey accepted RSA 1024")
	}
	if _, err := f.vault.CreateKey("k", KeySpec{Type: "EC", Curve: "P-224"}); err == nil {
		t.Error("CreateKey accepted P-224")
	}
	kid, err := f.vault.CreateKey("k", KeySpec{Type: "EC", Curve: "P-521"})
	if err != nil || !strings.HasPrefix(kid, f.vaultURL+"/keys/k/") {
		t.Errorf("CreateKey P-521 = %q, %v", kid, err)
	}
}
