package build

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/config"
)

// auditKeysYAML is a gateway's file whose pseudonym key is a reference (a
// file, refreshed like any store), with a SQLite trail; previous is put
// under audit.previous_keys.
func auditKeysYAML(t *testing.T, previous ...string) *config.File {
	t.Helper()
	y := `authn:
  issuers:
    - {name: corp, type: oidc, issuer: "https://idp.example", audiences: [api://x]}
audit:
  sink: sqlite
  path: audit.db
  key: {file: audit-key}
  signing_key_file: audit-signing.pem
`
	if len(previous) > 0 {
		y += "  previous_keys:\n"
		for _, p := range previous {
			y += "    - {file: " + p + "}\n"
		}
	}
	f, err := config.Parse("g.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func writePrivate(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeSigningKey(t *testing.T, dir string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	writePrivate(t, dir, "audit-signing.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// syncBuffer is a log destination for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const (
	rotTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	rotAlice  = "00000000-0000-0000-66f3-3332eca7ea81"
	rotBob    = "00000000-0000-0000-c2a1-4f0e5a9b7d13"
)

// TestAuditKeyRotation: a gateway's trail takes up a rotated audit.key at
// run time, while requests are recorded concurrently through it as the
// pipeline records them (the trail's Principal, then its Recorder): events
// whose pseudonym was made before the swap carry key A's id and pseudonym,
// those after it key B's, and the trail verifies across. A new value that
// is no usable key is refused and logged without its value; the key in use
// stays. Readers find alice's events under both keys with previous_keys,
// and only the new half without.
func TestAuditKeyRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keyA, keyB := bytes.Repeat([]byte{0xA1}, 32), bytes.Repeat([]byte{0xB2}, 32)
	a, _ := audit.NewPseudonymizer(keyA)
	b, _ := audit.NewPseudonymizer(keyB)
	writePrivate(t, dir, "audit-key", keyA)
	writeSigningKey(t, dir)
	f := auditKeysYAML(t)

	var logs syncBuffer
	o := Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
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
	defer trail.Close()
	if id := trail.Pseudonyms.Current().KeyID(); id != a.KeyID() {
		t.Fatalf("the trail starts with key %s, want key A %s", id, a.KeyID())
	}

	// Writers record while the key rotates. phase: 0 before the rotation,
	// 1 while it is taken up, 2 after.
	var phase atomic.Int32
	var made atomic.Int64
	const writers, perWriter = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		subject := []string{rotAlice, rotBob}[w%2]
		wg.Go(func() {
			for i := range perWriter {
				before := phase.Load()
				p := trail.Pseudonyms.Principal(rotTenant, subject)
				after := phase.Load()
				made.Add(1)
				when := "during"
				switch {
				case after == 0:
					when = "before"
				case before == 2:
					when = "after"
				}
				if i%3 == 0 {
					runtime.Gosched()
				}
				ev := &audit.Event{RequestID: fmt.Sprintf("w%d-%d", w, i), Tenant: rotTenant, Principal: p, PrincipalKind: "user",
					Resource: when, Route: subject, Decision: audit.DecisionAllow, Status: 200}
				if err := trail.Recorder.Record(ctx, ev); err != nil {
					t.Errorf("Record during the rotation: %v", err)
					return
				}
			}
		})
	}
	for made.Load() < writers*perWriter/2 {
		runtime.Gosched()
	}
	phase.Store(1)
	writePrivate(t, dir, "audit-key", keyB)    // a new version in the store
	if err := s.Set.Refresh(ctx); err != nil { // as the schedule, SIGHUP or `secrets refresh` do
		t.Fatal(err)
	}
	phase.Store(2)
	wg.Wait()
	if id := trail.Pseudonyms.Current().KeyID(); id != b.KeyID() {
		t.Fatalf("after the rotation the trail uses key %s, want key B %s", id, b.KeyID())
	}
	if !strings.Contains(logs.String(), "pseudonym key rotated") || !strings.Contains(logs.String(), b.KeyID()) {
		t.Errorf("the rotation was not logged with the new key id:\n%s", logs.String())
	}

	// A new value that is no usable key: refused, key B stays.
	const short = "short-refused-value!"
	writePrivate(t, dir, "audit-key", []byte(short))
	if err := s.Set.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if id := trail.Pseudonyms.Current().KeyID(); id != b.KeyID() {
		t.Errorf("after a bad value the trail uses key %s, want key B %s still", id, b.KeyID())
	}
	last := &audit.Event{RequestID: "last", Tenant: rotTenant, Principal: trail.Pseudonyms.Principal(rotTenant, rotAlice),
		Resource: "after", Route: rotAlice, Decision: audit.DecisionAllow}
	if err := trail.Recorder.Record(ctx, last); err != nil || last.PseudonymKey != b.KeyID() {
		t.Errorf("after a bad value: Record = %v, key id %s; want key B", err, last.PseudonymKey)
	}
	if l := logs.String(); !strings.Contains(l, "rotated pseudonym key is refused") || !strings.Contains(l, "32 bytes") {
		t.Errorf("the refusal was not logged:\n%s", l)
	}
	for _, secret := range []string{short, string(keyA), string(keyB), fmt.Sprint(keyB)} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds a key or the refused value %q:\n%s", secret, logs.String())
		}
	}
	if err := trail.Close(); err != nil {
		t.Fatal(err)
	}

	// The trail, as its readers see it.
	readers := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	sink, err := AuditSink(ctx, f, readers, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	signer, err := SigningKey(f, readers)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(ctx, sink, signer.Public())
	if err != nil {
		t.Fatalf("Verify across the rotation: %v", err)
	}
	if want := int64(writers*perWriter + 1); rep.Events != want {
		t.Errorf("Verify read %d events, want %d", rep.Events, want)
	}
	all, err := sink.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*audit.Pseudonymizer{a.KeyID(): a, b.KeyID(): b}
	var aliceA, aliceB int
	for _, e := range all {
		p := byID[e.PseudonymKey]
		switch {
		case p == nil:
			t.Errorf("%s: key id %q is neither key's", e.RequestID, e.PseudonymKey)
			continue
		case e.Principal != p.Principal(rotTenant, e.Route):
			t.Errorf("%s: principal is not the pseudonym under its key %s", e.RequestID, e.PseudonymKey)
		case e.Resource == "before" && p != a, e.Resource == "after" && p != b:
			t.Errorf("%s: pseudonym made %s the rotation has key id %s", e.RequestID, e.Resource, e.PseudonymKey)
		}
		if e.Route == rotAlice && p == a {
			aliceA++
		} else if e.Route == rotAlice && p == b {
			aliceB++
		}
	}
	if aliceA == 0 || aliceB == 0 {
		t.Fatalf("alice has %d events under key A and %d under key B; want both", aliceA, aliceB)
	}

	// The operator puts a good key back, and keeps key A for readers.
	writePrivate(t, dir, "audit-key", keyB)
	writePrivate(t, dir, "audit-key.old", keyA)
	for _, tc := range []struct {
		name string
		f    *config.File
		want int
	}{
		{"without previous_keys: the new half", auditKeysYAML(t), aliceB},
		{"with previous_keys: both halves", auditKeysYAML(t, "audit-key.old"), aliceA + aliceB},
	} {
		keys, err := PseudonymKeys(tc.f, readers)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := sink.Query(ctx, audit.Filter{Principals: keys.Principals(rotTenant, rotAlice)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want {
			t.Errorf("%s: %d events for alice, want %d", tc.name, len(got), tc.want)
		}
	}
}

// A previous key is held to what audit.key is: at least 32 bytes, or
// readers and the gateway's start refuse it, naming its field.
func TestPreviousKeyTooShort(t *testing.T) {
	dir := t.TempDir()
	writePrivate(t, dir, "audit-key", bytes.Repeat([]byte{0xA1}, 32))
	writePrivate(t, dir, "audit-key.old", []byte("only-20-bytes-here!!"))
	writeSigningKey(t, dir)
	f := auditKeysYAML(t, "audit-key.old")
	o := Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	if _, err := PseudonymKeys(f, o); err == nil || !strings.Contains(err.Error(), "audit.previous_keys[0]") || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("PseudonymKeys with a short previous key = %v; want a refusal naming audit.previous_keys[0]", err)
	}
	if trail, err := AuditTrail(context.Background(), f, o); err == nil {
		trail.Close()
		t.Error("the trail opened with a short previous key")
	}
	if _, err := PseudonymKeys(auditKeysYAML(t, "missing"), o); err == nil || !strings.Contains(err.Error(), "audit.previous_keys[0]") {
		t.Errorf("PseudonymKeys with a missing previous key = %v; want a refusal naming audit.previous_keys[0]", err)
	}
}
