package creds

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The trust policies TrustPolicy writes are text gatehouse promises (the
// CLI prints them, docs/aws-setup.md shows them): golden files. That each
// one works — admits what it should and refuses the rest — is shown by the
// end-to-end tests, whose local STS roles use exactly these policies.
func TestTrustPolicyGolden(t *testing.T) {
	params := TrustParams{
		AccountID:   "123456789012",
		IssuerURL:   "https://gatehouse.example.com/oidc",
		ProviderURL: "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
		Audience:    "6e74172b-be56-4843-9ff4-e66a39bb12e3",
		Principal:   "arn:aws:iam::123456789012:role/gatehouse-gateway",
	}
	for _, tt := range []struct {
		name string
		role Role
		edit func(*TrustParams)
	}{
		{"broker", Role{Name: "reader", ARN: "arn:aws:iam::123456789012:role/gatehouse-reader"}, nil},
		{"broker-groups", Role{Name: "admin", ARN: "arn:aws:iam::123456789012:role/gatehouse-admin",
			SessionTags: []string{TagTenant, TagKind, TagAgent, TagGroups}, GroupTags: map[string]string{groupOps: "ops"}}, nil},
		{"broker-untagged", Role{Name: "plain", ARN: "arn:aws:iam::123456789012:role/gatehouse-plain", SessionTags: []string{}}, nil},
		{"web-identity", Role{Name: "entra", ARN: "arn:aws:iam::123456789012:role/entra-reader", Mode: ModeWebIdentity},
			func(p *TrustParams) {
				p.Subjects = []string{"HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ"}
				p.Clients = []string{"c0000000-0000-4000-8000-000000000005"}
			}},
		{"assume-role", Role{Name: "chained", ARN: "arn:aws:iam::123456789012:role/gatehouse-chained", Mode: ModeAssumeRole}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := params
			if tt.edit != nil {
				tt.edit(&p)
			}
			got, err := TrustPolicy(tt.role, p)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "trust-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("TrustPolicy(%s) =\n%s\nwant (%s)\n%s", tt.name, got, path, want)
			}
		})
	}
}

func TestTrustPolicyRejects(t *testing.T) {
	ok := TrustParams{AccountID: "123456789012", IssuerURL: "https://gatehouse.example.com", ProviderURL: "https://login.microsoftonline.com/t/v2.0",
		Audience: "a", Principal: "arn:aws:iam::123456789012:role/g"}
	for _, tt := range []struct {
		name string
		role Role
		edit func(*TrustParams)
		want string
	}{
		{"bad account", Role{Name: "r", ARN: "arn:aws:iam::123456789012:role/r"}, func(p *TrustParams) { p.AccountID = "1234" }, "12 digits"},
		{"broker without issuer", Role{Name: "r", ARN: "arn:aws:iam::123456789012:role/r"}, func(p *TrustParams) { p.IssuerURL = "" }, "provider URL"},
		{"http issuer", Role{Name: "r", ARN: "arn:aws:iam::123456789012:role/r"}, func(p *TrustParams) { p.IssuerURL = "http://x" }, "provider URL"},
		{"web identity without audience", Role{Name: "r", ARN: "arn:aws:iam::123456789012:role/r", Mode: ModeWebIdentity}, func(p *TrustParams) { p.Audience = "" }, "Audience"},
		{"assume role without principal", Role{Name: "r", ARN: "arn:aws:iam::123456789012:role/r", Mode: ModeAssumeRole}, func(p *TrustParams) { p.Principal = "" }, "Principal"},
		{"bad role", Role{Name: "r:x", ARN: "arn:aws:iam::123456789012:role/r"}, nil, "role name"},
	} {
		p := ok
		if tt.edit != nil {
			tt.edit(&p)
		}
		if _, err := TrustPolicy(tt.role, p); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tt.name, err, tt.want)
		}
	}
}
