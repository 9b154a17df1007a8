package audit_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/audit"
)

func TestPseudonymizer(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	p, err := audit.NewPseudonymizer(key)
	if err != nil {
		t.Fatal(err)
	}
	const tenant, oid = "72f988bf-86f1-41af-91ab-2d7cd011db47", "00000000-0000-0000-66f3-3332eca7ea81"
	got := p.Principal(tenant, oid)

	// The construction is part of the stored format: a change must be a new
	// prefix, never a silent change of every pseudonym.
	const want = "p1:Zqo9-5yV-zmmD9JjuZZCoLCBZ2p-fmg4FTvuPY4460g" // computed independently (Python hmac)
	if got != want {
		t.Errorf("Principal = %q, want %q", got, want)
	}
	if again := p.Principal(tenant, oid); again != got {
		t.Errorf("not stable: %q then %q", got, again)
	}
	key[0] = 0 // NewPseudonymizer copied the key
	if again := p.Principal(tenant, oid); again != got {
		t.Error("the pseudonymizer shares the caller's key slice")
	}
	other, _ := audit.NewPseudonymizer(bytes.Repeat([]byte{0x43}, 32))
	for name, q := range map[string]string{
		"another key":        other.Principal(tenant, oid),
		"another tenant":     p.Principal("other-tenant", oid),
		"another subject":    p.Principal(tenant, oid+"x"),
		"tenant and subject": p.Principal(tenant+oid, ""),
	} {
		if q == got {
			t.Errorf("%s gives the same pseudonym", name)
		}
	}
	if strings.Contains(got, oid) || strings.Contains(got, tenant) {
		t.Error("the pseudonym contains the subject or tenant")
	}
	// The key id is part of the stored format too.
	const wantID = "k1:2CdTCDSQoyABvRvg" // computed independently (Python hmac)
	if id := p.KeyID(); id != wantID {
		t.Errorf("KeyID = %q, want %q", id, wantID)
	}
	if other.KeyID() == p.KeyID() {
		t.Error("two keys have the same key id")
	}
	if _, err := audit.NewPseudonymizer(make([]byte, 31)); err == nil {
		t.Error("NewPseudonymizer accepted a 31-byte key")
	}
	var buf bytes.Buffer
	// Without the time, whose digits could hold the key byte's "66".
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("x", "p", p)
	if strings.Contains(buf.String(), fmt.Sprint(0x42)) || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("logged as %q", buf.String())
	}
}
