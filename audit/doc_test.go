package audit

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func readDoc(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// TestSchemaDocumented: docs/audit.md has a row for every JSON field, and
// no row for a field that does not exist.
func TestSchemaDocumented(t *testing.T) {
	doc := readDoc(t)
	fields := map[string]bool{}
	ty := reflect.TypeFor[eventJSON]()
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		fields[name] = true
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("docs/audit.md has no schema row for %q", name)
		}
	}
	schema := doc[strings.Index(doc, "## Event schema"):strings.Index(doc, "## Personal data")]
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(schema, -1) {
		if !fields[m[1]] {
			t.Errorf("docs/audit.md documents %q, which events do not have", m[1])
		}
	}
}

// TestDocumentedEventsVerify: the example events in docs/audit.md are in
// canonical form, and their hashes are what ChainHash computes, so the
// documented hash definition is the implemented one.
func TestDocumentedEventsVerify(t *testing.T) {
	n := 0
	var prev string
	for line := range strings.Lines(readDoc(t)) {
		line = strings.TrimSuffix(line, "\n")
		if !strings.HasPrefix(line, `{"version"`) {
			continue
		}
		n++
		e, err := DecodeStored([]byte(line), "")
		if err != nil {
			t.Fatalf("example %d: %v", n, err)
		}
		if e.ChainHash() != e.Hash {
			t.Errorf("example %d: hash %s, ChainHash %s", n, e.Hash, e.ChainHash())
		}
		if prev != "" && e.PrevHash != prev {
			t.Errorf("example %d does not link to the one before", n)
		}
		prev = e.Hash
	}
	if n < 2 {
		t.Errorf("found %d example events, want 2", n)
	}
}

// TestPersonalClaimsDocumented: the documented never-stored list is the
// implemented one.
func TestPersonalClaimsDocumented(t *testing.T) {
	doc := readDoc(t)
	start := strings.Index(doc, "even when allow-listed:")
	end := strings.Index(doc, "`audit.IsPersonalClaim`")
	if start < 0 || end < start {
		t.Fatal("docs/audit.md lost the personal claims list")
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(doc[start:end], -1) {
		listed[m[1]] = true
		if !personalClaims[m[1]] {
			t.Errorf("docs/audit.md lists %q, which SanitizeClaims stores", m[1])
		}
	}
	for c := range personalClaims {
		if !listed[c] {
			t.Errorf("docs/audit.md does not list the personal claim %q", c)
		}
	}
}
