package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// TestDefault is what keeps Default from panicking: the embedded
// configuration parses and validates.
func TestDefault(t *testing.T) {
	if _, err := Parse("dev.yaml", DefaultYAML()); err != nil {
		t.Fatalf("Parse(embedded dev.yaml) = %v", err)
	}
	f := Default()
	if err := f.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	f.AuthN.Issuers[0].Name = "changed"
	if Default().AuthN.Issuers[0].Name != "dev" {
		t.Error("Default returned a File shared with an earlier call")
	}
	b := DefaultYAML()
	b[0] = 'X'
	if DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML returned the embedded bytes themselves")
	}
}

// TestDefaultRoundTrip checks that the effective configuration printed by
// `gatehouse dev --print-config` reads back as the same configuration.
func TestDefaultRoundTrip(t *testing.T) {
	want := Default()
	text, err := want.Marshal()
	if err != nil {
		t.Fatalf("Marshal = %v", err)
	}
	got, err := Parse("printed.yaml", text)
	if err != nil {
		t.Fatalf("Parse(Marshal(Default())) = %v\n%s", err, text)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(Marshal(Default())) mismatch (-want +got):\n%s", diff)
	}
	again, err := got.Marshal()
	if err != nil || !bytes.Equal(again, text) {
		t.Errorf("Marshal is not stable: %v\n%s\nthen\n%s", err, text, again)
	}
}

// TestDefaultGolden pins the effective development configuration, the
// text `gatehouse dev --print-config` prints. Run with -update to accept
// a change.
func TestDefaultGolden(t *testing.T) {
	got, err := Default().Marshal()
	if err != nil {
		t.Fatalf("Marshal = %v", err)
	}
	golden := filepath.Join("testdata", "dev-effective.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Default().Marshal() differs from %s (-want +got):\n%s", golden, diff)
	}
}

// TestDefaultContract checks what other parts of gatehouse rely on in the
// development configuration: the sample identities the CLI prints and the
// end-to-end tests use.
func TestDefaultContract(t *testing.T) {
	f := Default()
	is := f.AuthN.Issuers[0]
	if is.Name != "dev" || is.Type != IssuerEntra || is.Entra.Authority != AuthorityDev {
		t.Fatalf("issuer = %s %s %s, want dev entra dev", is.Name, is.Type, is.Entra.Authority)
	}
	if len(f.Dev.IDP.Tenants) != 1 {
		t.Fatalf("got %d dev tenants, want 1", len(f.Dev.IDP.Tenants))
	}
	tn := f.Dev.IDP.Tenants[0]
	if tn.ID != is.Entra.Tenant || tn.Domain != "contoso.example" {
		t.Errorf("tenant = %s %s, want the issuer's tenant, contoso.example", tn.ID, tn.Domain)
	}
	apps := map[string]App{}
	for _, a := range tn.Apps {
		apps[a.Name] = a
	}
	api := apps["gatehouse-api"]
	if !slices.Equal(is.Audiences, []string{api.ClientID, "api://gatehouse-api"}) {
		t.Errorf("audiences = %q, want gatehouse-api's client id and App ID URI", is.Audiences)
	}
	if !apps["gatehouse-cli"].PublicClient {
		t.Error("gatehouse-cli is not a public client")
	}
	if s := apps["report-agent"].Secrets; len(s) != 1 || s[0] != "dev-only-report-agent-secret" {
		t.Errorf("report-agent secrets = %q", s)
	}
	legacy := apps["legacy-api"]
	if legacy.AccessTokenVersion != 1 || !legacy.GroupClaims || legacy.GroupOverageLimit != 3 {
		t.Errorf("legacy-api = v%d groups %v limit %d, want v1 true 3", legacy.AccessTokenVersion, legacy.GroupClaims, legacy.GroupOverageLimit)
	}
	users := map[string]User{}
	for _, u := range tn.Users {
		users[u.UPN] = u
	}
	for upn, role := range map[string]string{"alice@contoso.example": "Functions.Admin", "bob@contoso.example": "Functions.Reader"} {
		if got := users[upn].AppRoles["gatehouse-api"]; !slices.Equal(got, []string{role}) {
			t.Errorf("%s roles on gatehouse-api = %q, want [%s]", upn, got, role)
		}
	}
	if carol := users["carol@contoso.example"]; len(carol.Groups) <= legacy.GroupOverageLimit {
		t.Errorf("carol is in %d groups; the overage demo needs more than %d", len(carol.Groups), legacy.GroupOverageLimit)
	}
}

// TestMarshalRoundTripsAwkwardStrings checks that Marshal quotes strings
// that YAML would otherwise read as something else.
func TestMarshalRoundTripsAwkwardStrings(t *testing.T) {
	awkward := []string{
		"null", "~", "true", "no", "0x10", "1e3", "2.0", "-", "- x", "? x", "x: y", "#x", "x #y",
		"&a", "*a", "!tag", "%x", "@x", "`x", "'x'", `"x"`, "{x}", "[x]", "|", ">", " lead", "trail ",
		"two\nlines", "tab\there", "ünï©ødé", "x\u00a0y", "\u200b", "a  b", "a : b", "a:b", "a :", "x:", "a #b", "a#b", "emoji \U0001F600", "bell\a", "nul\x00", "---", "...", "<<", "=", "x\\y",
	}
	f := Default()
	f.AuthN.Issuers[0].Audiences = append(f.AuthN.Issuers[0].Audiences, awkward...)
	f.Dev.IDP.Tenants[0].Users[0].Password = "multi\nline: secret\n"
	text, err := f.Marshal()
	if err != nil {
		t.Fatalf("Marshal = %v", err)
	}
	back, err := Parse("printed.yaml", text)
	if err != nil {
		t.Fatalf("Parse(Marshal(f)) = %v\n%s", err, text)
	}
	if diff := cmp.Diff(f, back); diff != "" {
		t.Errorf("Parse(Marshal(f)) mismatch (-want +got):\n%s", diff)
	}
}
