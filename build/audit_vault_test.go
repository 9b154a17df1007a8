package build

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/devkit/keyvault"
)

// TestAuditSigningKeyInKeyVault: the trail's checkpoints are signed through
// the local Key Vault (azkeys, a token of the IdP). A new key version,
// found by a refresh while events are recorded, signs the checkpoints that
// follow; verify passes with the current key and the previous version
// named in audit.previous_signing_keys, and fails without it.
func TestAuditSigningKeyInKeyVault(t *testing.T) {
	kv := startLocalKeyVault(t, keyvault.Access{Keys: []string{"get", "sign"}})
	firstKid, err := kv.vault.CreateKey("audit-checkpoints", keyvault.KeySpec{Type: "EC"})
	if err != nil {
		t.Fatal(err)
	}
	firstVersion := firstKid[strings.LastIndex(firstKid, "/")+1:]
	dir := t.TempDir()
	writePrivate(t, dir, "audit-key", bytes.Repeat([]byte{7}, 32))
	writePrivate(t, dir, "client-secret", []byte("dev-only-gatehouse"))
	yaml := func(previous string) *config.File {
		y := `authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
audit:
  sink: sqlite
  mode: async
  path: audit.db
  key_file: audit-key
  signing_key:
    azure_key_vault: {vault: "` + kv.url + `", name: audit-checkpoints}
` + previous + `secrets:
  azure:
    ca_file: ` + kv.caFile + `
    client:
      authority: ` + kv.idpURL + `
      tenant: ` + kvTenant + `
      client_id: ` + kvClientID + `
      client_secret: {file: client-secret}
`
		f, err := config.Parse("g.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := yaml("")
	ctx := context.Background()
	o := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	s, err := NewSecrets(ctx, f, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	o.Secrets = s
	trail, err := AuditTrail(ctx, f, o)
	if err != nil {
		t.Fatal(err)
	}
	record := func(prefix string, n int) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range n / 8 {
					ev := &audit.Event{RequestID: fmt.Sprintf("%s-%d-%d", prefix, w, i), Decision: audit.DecisionAllow, Status: 200}
					if err := trail.Recorder.Record(ctx, ev); err != nil {
						t.Errorf("Record: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	record("before", 1200) // one checkpoint every 1000 events
	if _, err := kv.vault.CreateKey("audit-checkpoints", keyvault.KeySpec{Type: "RSA"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	record("after", 1200)
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}

	readers := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	verify := func(f *config.File) (*audit.Report, error) {
		t.Helper()
		// A reader (audit verify) reads each key once, as the same app.
		keys, err := VerifyKeys(f, readers)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := AuditSink(ctx, f, readers, false)
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		return audit.Verify(ctx, sink, keys)
	}
	if _, err := verify(f); err == nil || !strings.Contains(err.Error(), "not a given key") {
		t.Errorf("verify without the previous version: %v, want a checkpoint signed by an unknown key", err)
	}
	rep, err := verify(yaml("  previous_signing_keys:\n    - azure_key_vault: {vault: \"" + kv.url + "\", name: audit-checkpoints, version: " + firstVersion + "}\n"))
	if err != nil {
		t.Fatalf("verify with the previous version: %v", err)
	}
	if !rep.Signed || rep.Checkpoints < 3 || rep.Events != 2400 {
		t.Errorf("verify: %+v, want 2400 events and at least 3 signed checkpoints (each version's, and the final one)", rep)
	}
}
