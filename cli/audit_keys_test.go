package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/build"
	"github.com/gatehouse-dev/gatehouse/config"
)

// TestAuditQueryAcrossKeyRotation: a gateway's trail whose pseudonym key
// rotated while it ran; `audit query --user` finds the user's events under
// the current key alone, and under every key once the old one is in
// audit.previous_keys; `audit verify` passes across the rotation.
func TestAuditQueryAcrossKeyRotation(t *testing.T) {
	const tenant, alice = "72f988bf-86f1-41af-91ab-2d7cd011db47", "00000000-0000-0000-66f3-3332eca7ea81"
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyA, keyB := bytes.Repeat([]byte{0xA1}, 32), bytes.Repeat([]byte{0xB2}, 32)
	write("audit-key", keyA)
	write("audit-key.old", keyA)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	write("audit-signing.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	base := `authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
audit:
  sink: sqlite
  path: audit.db
  key: {file: audit-key}
  signing_key_file: audit-signing.pem
`
	write("gatehouse.yaml", []byte(base))
	write("readers.yaml", []byte(base+"  previous_keys:\n    - {file: audit-key.old}\n"))

	// The gateway: three of alice's requests, the key rotates, two more.
	f, err := config.Parse("gatehouse.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	o := build.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	if o.Secrets, err = build.NewSecrets(ctx, f, o, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Secrets.Set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	trail, err := build.AuditTrail(ctx, f, o)
	if err != nil {
		t.Fatal(err)
	}
	record := func(n int) {
		for range n {
			ev := &audit.Event{Tenant: tenant, Principal: trail.Pseudonyms.Principal(tenant, alice), PrincipalKind: "user", Decision: audit.DecisionAllow, Status: 200}
			if err := trail.Recorder.Record(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	record(3)
	write("audit-key", keyB)
	if err := o.Secrets.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	record(2)
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}

	a, _ := audit.NewPseudonymizer(keyA)
	b, _ := audit.NewPseudonymizer(keyB)
	for _, tc := range []struct {
		config string
		want   map[string]int // events per key id
	}{
		{"gatehouse.yaml", map[string]int{b.KeyID(): 2}},
		{"readers.yaml", map[string]int{a.KeyID(): 3, b.KeyID(): 2}},
	} {
		out, errOut, code := runCLI(t, "", "audit", "query", "--config", filepath.Join(dir, tc.config),
			"--user", alice, "--tenant", tenant, "--limit", "0", "--format", "json")
		if code != 0 {
			t.Fatalf("audit query --config %s: exit %d: %s", tc.config, code, errOut)
		}
		got := map[string]int{}
		for line := range strings.Lines(out) {
			var e audit.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			got[e.PseudonymKey]++
		}
		if len(got) != len(tc.want) || got[a.KeyID()] != tc.want[a.KeyID()] || got[b.KeyID()] != tc.want[b.KeyID()] {
			t.Errorf("audit query --config %s: events per key id %v, want %v", tc.config, got, tc.want)
		}
	}
	out, errOut, code := runCLI(t, "", "audit", "verify", "--config", filepath.Join(dir, "gatehouse.yaml"))
	if code != 0 || !strings.HasPrefix(out, "ok: 5 events") || !strings.Contains(out, "signatures checked: true") {
		t.Errorf("audit verify across the rotation: exit %d\n%s%s", code, out, errOut)
	}
}
