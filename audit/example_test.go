package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/audit/sqlite"
)

func ExamplePseudonymizer() {
	key := make([]byte, 32) // in production: 32 random bytes from the secret source
	p, err := audit.NewPseudonymizer(key)
	if err != nil {
		log.Fatal(err)
	}
	// The tenant (tid) and object id (oid) of the user, never the name or UPN.
	fmt.Println(p.Principal("72f988bf-86f1-41af-91ab-2d7cd011db47", "00000000-0000-0000-66f3-3332eca7ea81"))
	// Output: p1:yKRiJw9k0nwXbcgLyBQPwz65Xh8F-K8Qw-Gv5YR5Htk
}

func ExampleSanitizeClaims() {
	claims := map[string]any{
		"scp":   "orders.read",
		"roles": []any{"Reader"},
		"upn":   "alice@contoso.com", // personal: never stored
		"xms_x": "a\nb",              // not allow-listed
		"note":  "line one\nline two",
	}
	fmt.Println(audit.SanitizeClaims(claims, []string{"scp", "roles", "upn", "note"}))
	// Output: map[note:line one\u000Aline two roles:["Reader"] scp:orders.read]
}

// The gateway's wiring, in short: open a sink, start a Recorder, record one
// event per request, refuse the request when the trail is unavailable.
func ExampleRecorder() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	sink, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "audit.db"), Create: true})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	_, signer, _ := ed25519.GenerateKey(rand.Reader) // in production: the configured signing key
	rec, err := audit.NewRecorder(audit.Config{Sink: sink, Mode: audit.Sync, Replica: "gw-1", Signer: signer})
	if err != nil {
		log.Fatal(err)
	}

	ev := &audit.Event{RequestID: "01JDQ7ZK4M5YB8W3N2V6C0XHRT", Decision: audit.DecisionDeny, Status: 403, Route: "orders"}
	if err := rec.Record(ctx, ev); errors.Is(err, audit.ErrUnavailable) {
		fmt.Println("503") // fail closed: the request is refused
	} else if err != nil {
		log.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		log.Fatal(err)
	}

	rep, err := audit.Verify(ctx, sink, signer.Public())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Events, "event in", len(rep.Chains), "chain, closed:", rep.Chains[0].Final)
	// Output: 1 event in 1 chain, closed: true
}
