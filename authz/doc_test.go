package authz

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaDocumented: docs/policy.md shows the schema Schema returns.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```cedarschema\n"+Schema()+"```\n") {
		t.Error("docs/policy.md does not show Schema() verbatim in a cedarschema block")
	}
}

// TestDocumentedCedarIsGenerated: the compiled Cedar shown in
// docs/policy.md is what the sample configuration compiles to.
func TestDocumentedCedarIsGenerated(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	cedar := mustNew(t, sampleConfig()).Cedar()
	for block := range strings.SplitSeq(string(doc), "```cedar\n") {
		block, _, ok := strings.Cut(block, "```")
		if !ok || !strings.Contains(block, "@id(\"allow-") && !strings.Contains(block, "@id(\"agent/") {
			continue
		}
		for stmt := range strings.SplitSeq(strings.TrimSpace(block), "\n\n") {
			if !strings.Contains(cedar, stmt) {
				t.Errorf("docs/policy.md shows Cedar the sample does not compile to:\n%s", stmt)
			}
		}
	}
}

// TestDocumentedCedarFilesLoad: the raw Cedar examples in docs/policy.md
// load beside the sample rules.
func TestDocumentedCedarFilesLoad(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, block := range strings.Split(string(doc), "```cedar\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if strings.Contains(block, "@id(\"allow-") || strings.Contains(block, "@id(\"agent/") {
			continue // compiled from the sample: TestDocumentedCedarIsGenerated
		}
		cfg := sampleConfig()
		cfg.Policies = []PolicyFile{{Name: "doc.cedar", Text: []byte(block)}}
		if _, err := New(cfg); err != nil {
			t.Errorf("docs/policy.md Cedar block %d does not load: %v\n%s", i+1, err, block)
		}
		n++
	}
	if n < 2 {
		t.Errorf("found %d raw Cedar examples in docs/policy.md, want at least 2", n)
	}
}
