package build

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
)

// TestAzureClientSecretRotation: Key Vault is reached as an app whose
// client secret comes from a reference (a file here; AWS Secrets Manager
// in the end-to-end test). Rotated, the next request to the vault gets a
// token with the new secret; a rotated secret the IdP refuses makes the
// vault references fail while they keep their last good values.
func TestAzureClientSecretRotation(t *testing.T) {
	kv := startLocalKeyVault(t, keyvault.Access{Secrets: []string{"get"}})
	key := strings.Repeat("k", 32)
	if _, err := kv.vault.SetSecret("audit-key", base64.StdEncoding.EncodeToString([]byte(key))); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte("dev-only-gatehouse"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := config.Parse("g.yaml", []byte(`authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
audit:
  sink: sqlite
  key:
    azure_key_vault: {vault: "`+kv.url+`", name: audit-key}
    encoding: base64
secrets:
  azure:
    ca_file: `+kv.caFile+`
    client:
      authority: `+kv.idpURL+`
      tenant: `+kvTenant+`
      client_id: `+kvClientID+`
      client_secret: {file: `+secretFile+`}
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := NewSecrets(ctx, f, Options{Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(ctx); err != nil {
		t.Fatalf("Load as the app: %v", err)
	}
	if v, err := s.Field("audit.key").Get(); err != nil || string(v.Bytes) != key {
		t.Fatalf("audit.key through the app's identity: %q %v", v.Bytes, err)
	}
	last := func() string {
		kv.mu.Lock()
		defer kv.mu.Unlock()
		if len(kv.tokenSecrets) == 0 {
			return ""
		}
		return kv.tokenSecrets[len(kv.tokenSecrets)-1]
	}
	if got := last(); got != "dev-only-gatehouse" {
		t.Fatalf("the token request used %q", got)
	}

	// Rotated: the refresh reads the new secret first, and the vault read
	// after it authenticates with it.
	os.WriteFile(secretFile, []byte("dev-only-gatehouse-2"), 0o600)
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatalf("refresh after the rotation: %v", err)
	}
	if got := last(); got != "dev-only-gatehouse-2" {
		t.Errorf("after the rotation the token request used %q, want the new secret", got)
	}

	// A secret the IdP refuses: the vault reference fails, keeps its
	// value, and the error says why without any secret.
	os.WriteFile(secretFile, []byte("not-a-secret-of-the-app"), 0o600)
	err = s.Set.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "azure-keyvault:") {
		t.Errorf("refresh with a refused client secret: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "not-a-secret-of-the-app") {
		t.Errorf("the error holds the client secret: %v", err)
	}
	if v, err := s.Field("audit.key").Get(); err != nil || string(v.Bytes) != key {
		t.Errorf("audit.key lost its last good value: %v", err)
	}
}
