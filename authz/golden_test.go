package authz

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestCedarGolden: the Cedar compiled from the sample configuration, as
// `gatehouse policy show` prints it.
func TestCedarGolden(t *testing.T) {
	got := mustNew(t, sampleConfig()).Cedar()
	path := filepath.Join("testdata", "sample.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./authz -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("Cedar() mismatch (-%s +got); run go test ./authz -update if intended:\n%s", path, diff)
	}
}

// TestCedarTextIsWhatRuns: the text Cedar() shows parses back to exactly
// the policies Decide evaluates, so what is shown is what runs.
func TestCedarTextIsWhatRuns(t *testing.T) {
	cfg := sampleConfig()
	cfg.Rules[0].Groups[0].Name = "finance\n@id(\"injected\") permit (principal, action, resource);\n//"
	e := mustNew(t, cfg)
	parsed, err := cedar.NewPolicyListFromBytes("show.cedar", []byte(e.Cedar()))
	if err != nil {
		t.Fatalf("Cedar() does not parse: %v", err)
	}
	st := e.state.Load()
	if len(parsed) != len(st.policies) {
		t.Fatalf("Cedar() holds %d policies, Decide evaluates %d", len(parsed), len(st.policies))
	}
	for i, p := range parsed {
		if got, want := p.MarshalCedar(), st.policies[i].policy.MarshalCedar(); !bytes.Equal(got, want) {
			t.Errorf("policy %d: text\n%s\nevaluated\n%s", i, got, want)
		}
	}
	if strings.Contains(e.Cedar(), "\n@id(\"injected\")") {
		t.Error("a group name broke out of its comment")
	}
}
