package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/google/go-cmp/cmp"
)

var updateExamples = flag.Bool("update", false, "rewrite the generated examples (examples/aws/gateway-iam.yaml)")

// templateConfig has a role of each mode, two logical roles sharing one
// IAM role, a role under a path, and a route naming a function by an ARN
// in another region and account.
const templateConfig = `
authn:
  issuers:
    - name: corp
      type: entra
      entra:
        authority: https://login.microsoftonline.com
        tenant: 72f988bf-86f1-41af-91ab-2d7cd011db47
      audiences: [6e74172b-be56-4843-9ff4-e66a39bb12e3]
authz:
  roles:
    - name: reader
      aws_role: arn:aws:iam::123456789012:role/gatehouse-reader
      actions: [invoke]
      functions: ["reports-*"]
    - name: auditor
      aws_role: arn:aws:iam::123456789012:role/gatehouse-reader
      actions: [invoke]
      functions: [audit-log]
    - name: operator
      aws_role: arn:aws:iam::123456789012:role/ops/gatehouse-operator
      actions: [invoke]
      functions: ["*"]
    - name: entra
      aws_role: arn:aws:iam::123456789012:role/entra-reader
      actions: [invoke]
      functions: [hello]
    - name: chained
      aws_role: arn:aws:iam::123456789012:role/gatehouse-chained
      actions: [invoke]
      functions: [hello]
  rules:
    - {id: readers, effect: allow, roles: [reader, auditor, entra, chained], app_roles: [Reports.Read]}
    - {id: operators, effect: allow, roles: [operator], app_roles: [Functions.Admin]}
creds:
  issuer: {url: https://gatehouse.example.com/oidc, key_dir: keys}
  sts: {region: eu-west-1}
  duration: 2h
  roles:
    - role: operator
      session_tags: [tenant, kind, agent, groups]
      group_tags: {5b4a2c1e-8f3d-4e6a-9b7c-1d2e3f4a5b6c: ops}
    - {role: entra, mode: web_identity}
    - {role: chained, mode: assume_role, duration: 1h}
gateway:
  routes:
    - {id: remote, path: /remote, function: "arn:aws:lambda:us-west-2:210987654321:function:reports-remote:live"}
    - {id: audit, path: /audit, function: audit-log}
`

const gatewayRole = "arn:aws:iam::123456789012:role/gatehouse-gateway"

func writeTemplateConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(templateConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliJSON runs the command line, which must succeed, and decodes its
// standard output as JSON; it returns the standard error too.
func cliJSON(t *testing.T, args ...string) (any, string) {
	t.Helper()
	out, errOut, code := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("gatehouse %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v, errOut
}

// at walks v by map keys and slice indexes.
func at(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %v", path, path[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no %q", path, k)
			}
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: no element %d", path, k)
			}
			v = s[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}

func TestAWSTemplate(t *testing.T) {
	cfg := writeTemplateConfig(t)
	tmpl, errOut := cliJSON(t, "aws", "template", "--config", cfg, "--format", "json")
	trust := func(role string, extra ...string) any {
		v, _ := cliJSON(t, append([]string{"aws", "trust-policy", "--config", cfg, "--role", role}, extra...)...)
		return v
	}
	if got := at(t, tmpl, "AWSTemplateFormatVersion"); got != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %v", got)
	}
	res := at(t, tmpl, "Resources").(map[string]any)
	var ids []string
	for id := range res {
		ids = append(ids, id)
	}
	if len(res) != 3 {
		t.Errorf("resources %v; want the provider, the shared reader role and the operator role", ids)
	}

	// The provider of gatehouse's issuer, audience sts.amazonaws.com, no thumbprint.
	if diff := cmp.Diff(map[string]any{"Type": "AWS::IAM::OIDCProvider", "Properties": map[string]any{
		"Url": "https://gatehouse.example.com/oidc", "ClientIdList": []any{"sts.amazonaws.com"}}}, res["GatehouseOIDCProvider"]); diff != "" {
		t.Errorf("provider (-want +got):\n%s", diff)
	}

	// A role of one logical role: exactly what aws trust-policy prints.
	op := at(t, res, "OpsGatehouseOperatorRole", "Properties")
	if diff := cmp.Diff(trust("operator"), at(t, op, "AssumeRolePolicyDocument")); diff != "" {
		t.Errorf("operator's trust policy differs from aws trust-policy's (-want +got):\n%s", diff)
	}
	if at(t, op, "RoleName") != "gatehouse-operator" || at(t, op, "Path") != "/ops/" {
		t.Errorf("operator role name %v path %v; want gatehouse-operator under /ops/", at(t, op, "RoleName"), at(t, op, "Path"))
	}
	if got := at(t, op, "MaxSessionDuration"); got != 7200.0 {
		t.Errorf("operator MaxSessionDuration = %v; want 7200 (creds.duration 2h)", got)
	}
	if diff := cmp.Diff([]string{"arn:aws:lambda:eu-west-1:123456789012:function:*",
		"arn:aws:lambda:us-west-2:210987654321:function:reports-remote:live"}, // "*" reaches it too
		strs(at(t, op, "Policies", 0, "PolicyDocument", "Statement", 0, "Resource"))); diff != "" {
		t.Errorf("operator invokes (-want +got):\n%s", diff)
	}

	// A role shared by two logical roles: one statement from each trust
	// policy; the functions of both.
	rd := at(t, res, "GatehouseReaderRole", "Properties")
	want := []any{at(t, trust("reader"), "Statement", 0), at(t, trust("auditor"), "Statement", 0)}
	if diff := cmp.Diff(want, at(t, rd, "AssumeRolePolicyDocument", "Statement")); diff != "" {
		t.Errorf("shared role's statements (-want +got):\n%s", diff)
	}
	stmt := at(t, rd, "Policies", 0, "PolicyDocument", "Statement", 0)
	if at(t, stmt, "Effect") != "Allow" || at(t, stmt, "Action") != "lambda:InvokeFunction" {
		t.Errorf("reader's permission statement = %v", stmt)
	}
	if diff := cmp.Diff([]string{
		"arn:aws:lambda:eu-west-1:123456789012:function:reports-*",
		"arn:aws:lambda:us-west-2:210987654321:function:reports-remote:live", // a route's ARN elsewhere
		"arn:aws:lambda:eu-west-1:123456789012:function:audit-log",
		"arn:aws:lambda:eu-west-1:123456789012:function:audit-log:*", // its versions and aliases
	}, strs(at(t, stmt, "Resource"))); diff != "" {
		t.Errorf("reader's invoke resources (-want +got):\n%s", diff)
	}
	for _, id := range []string{"GatehouseReaderRole", "OpsGatehouseOperatorRole"} {
		if at(t, res, id, "DependsOn") != "GatehouseOIDCProvider" {
			t.Errorf("%s does not depend on the provider its trust policy names", id)
		}
	}

	// web_identity and assume_role (without --principal) are left out,
	// named on standard error and in the metadata.
	left := at(t, tmpl, "Metadata", "Gatehouse", "LeftOut").([]any)
	if len(left) != 2 || at(t, left, 0, "Role") != "entra" || at(t, left, 0, "Mode") != "web_identity" ||
		at(t, left, 1, "Role") != "chained" || at(t, left, 1, "Mode") != "assume_role" {
		t.Errorf("LeftOut = %v; want entra (web_identity) and chained (assume_role)", left)
	}
	for _, s := range []string{"role entra (web_identity) is not in the template", "sub and azp", "role chained (assume_role) is not in the template", "--principal"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("standard error does not say %q:\n%s", s, errOut)
		}
	}

	// With gatehouse's own role, assume_role roles are in, with the trust
	// policy trust-policy prints for that principal.
	tmpl, errOut = cliJSON(t, "aws", "template", "--config", cfg, "--format", "json", "--principal", gatewayRole)
	ch := at(t, tmpl, "Resources", "GatehouseChainedRole", "Properties")
	if diff := cmp.Diff(trust("chained", "--principal", gatewayRole), at(t, ch, "AssumeRolePolicyDocument")); diff != "" {
		t.Errorf("chained's trust policy differs from aws trust-policy --principal's (-want +got):\n%s", diff)
	}
	if got := at(t, ch, "MaxSessionDuration"); got != 3600.0 {
		t.Errorf("chained MaxSessionDuration = %v; want 3600", got)
	}
	if strings.Contains(errOut, "chained") || !strings.Contains(errOut, "entra") {
		t.Errorf("with --principal, standard error = %q; want only entra left out", errOut)
	}
}

// TestAWSTemplateYAML: the YAML form is the JSON form.
func TestAWSTemplateYAML(t *testing.T) {
	cfg := writeTemplateConfig(t)
	want, _ := cliJSON(t, "aws", "template", "--config", cfg, "--format", "json", "--thumbprint", strings.Repeat("9e", 20))
	out, errOut, code := runCLI(t, "", "aws", "template", "--config", cfg, "--thumbprint", strings.Repeat("9e", 20))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var y any
	if err := yaml.Unmarshal([]byte(out), &y); err != nil {
		t.Fatalf("the YAML form does not parse: %v\n%s", err, out)
	}
	b, err := json.Marshal(y)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("YAML form differs from the JSON form (-json +yaml):\n%s", diff)
	}
	if tp := at(t, got, "Resources", "GatehouseOIDCProvider", "Properties", "ThumbprintList"); len(tp.([]any)) != 1 {
		t.Errorf("ThumbprintList = %v; want the one given", tp)
	}
}

func TestAWSTemplateRefuses(t *testing.T) {
	cfg := writeTemplateConfig(t)
	only := filepath.Join(t.TempDir(), "web.yaml")
	data := strings.Replace(templateConfig, "  duration: 2h\n", "  duration: 2h\n  mode: web_identity\n", 1)
	data = strings.Replace(data, "{role: chained, mode: assume_role, duration: 1h}", "{role: chained, duration: 1h}", 1)
	if err := os.WriteFile(only, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"thumbprint not sha1", []string{"--config", cfg, "--thumbprint", "abc"}, "40 hex digits"},
		{"six thumbprints", []string{"--config", cfg, "--thumbprint", strings.Repeat("a", 40), "--thumbprint", strings.Repeat("a", 40),
			"--thumbprint", strings.Repeat("a", 40), "--thumbprint", strings.Repeat("a", 40), "--thumbprint", strings.Repeat("a", 40),
			"--thumbprint", strings.Repeat("a", 40)}, "at most 5"},
		{"principal not an ARN", []string{"--config", cfg, "--principal", "gatehouse-gateway"}, "ARN"},
		{"nothing to create", []string{"--config", only}, "no role to put in the template"},
		{"unknown format", []string{"--config", cfg, "--format", "xml"}, "yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", append([]string{"aws", "template"}, tt.args...)...)
			if code == 0 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want a failure naming %q and no template", code, out, errOut, tt.want)
			}
		})
	}
}

// TestAWSTemplateExample: examples/aws/gateway-iam.yaml is what the
// command makes of examples/gatehouse.yaml (go test -update rewrites it).
func TestAWSTemplateExample(t *testing.T) {
	t.Setenv("AWS_REGION", "") // the example's region is its own
	out, errOut, code := runCLI(t, "", "aws", "template", "--config", filepath.Join("..", "examples", "gatehouse.yaml"))
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	path := filepath.Join("..", "examples", "aws", "gateway-iam.yaml")
	if *updateExamples {
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cli -run TestAWSTemplateExample -update)", err)
	}
	if diff := cmp.Diff(string(want), out); diff != "" {
		t.Errorf("%s is not what 'gatehouse aws template --config examples/gatehouse.yaml' prints; run go test ./cli -run TestAWSTemplateExample -update (-file +command):\n%s", path, diff)
	}
}
