package config

import (
	"strings"
	"testing"
)

const secretsBase = `authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example
      audiences: [api://x]
`

func TestSecretRefsDecode(t *testing.T) {
	f, err := Parse("g.yaml", []byte(secretsBase+`audit:
  sink: postgres
  key:
    aws_secrets_manager:
      secret_id: arn:aws:secretsmanager:eu-west-1:123456789012:secret:gatehouse/audit-key-AbCdEf
      json_key: key
    encoding: base64
  dsn:
    azure_key_vault:
      vault: https://contoso.vault.azure.net
      name: audit-dsn
secrets:
  refresh_interval: 1m
  aws:
    endpoint: https://secretsmanager.eu-west-1.amazonaws.com
`))
	if err != nil {
		t.Fatal(err)
	}
	refs := f.SecretRefs()
	if len(refs) != 2 || refs[0].Field != "audit.key" || refs[1].Field != "audit.dsn" {
		t.Fatalf("SecretRefs: %+v", refs)
	}
	if got := refs[0].Ref.String(); got != "aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:gatehouse/audit-key-AbCdEf#key" {
		t.Errorf("String: %s", got)
	}
	if got := refs[1].Ref.String(); got != "azure-keyvault:https://contoso.vault.azure.net/secrets/audit-dsn" {
		t.Errorf("String: %s", got)
	}
	if f.Secrets.MaxAge != DefaultSecretMaxAge {
		t.Errorf("max_age default: %s", f.Secrets.MaxAge)
	}
	// The effective configuration prints references, and reads back the same.
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secret_id: arn:aws:secretsmanager:", "vault: https://contoso.vault.azure.net", "encoding: base64"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal lacks %q:\n%s", want, out)
		}
	}
	if _, err := Parse("printed.yaml", out); err != nil {
		t.Errorf("printed configuration does not read back: %v", err)
	}
}

// A secret written inline, or taken from the environment, is refused where
// it is written; the message never repeats the value.
func TestInlineSecretRefused(t *testing.T) {
	for _, tc := range []struct {
		name, audit, want string
	}{
		{"inline key", "  key: 0123456789abcdef0123456789abcdef\n", "g.yaml:9:8: audit.key: a secret is never written in the configuration"},
		{"inline dsn", "  dsn: postgres://u:hunter2@db/x\n", "g.yaml:9:8: audit.dsn: a secret is never written in the configuration"},
		{"env var", "  dsn: ${AUDIT_DSN}\n", "g.yaml:9:8: audit.dsn: a secret is never taken from the environment"},
		{"env scheme", "  key: env:AUDIT_KEY\n", "g.yaml:9:8: audit.key: a secret is never taken from the environment"},
		{"list", "  key: [a, b]\n", "audit.key: a secret is never written in the configuration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(secretsBase+"audit:\n  sink: sqlite\n"+tc.audit))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %q", err, tc.want)
			}
			for _, leak := range []string{"hunter2", "0123456789abcdef", "AUDIT_DSN"} {
				if strings.Contains(tc.audit, leak) && strings.Contains(err.Error(), leak) {
					t.Errorf("the problem repeats the value %q: %v", leak, err)
				}
			}
		})
	}
}

func TestSecretRefProblems(t *testing.T) {
	_, err := Parse("g.yaml", []byte(secretsBase+`audit:
  sink: postgres
  dsn_file: dsn
  dsn:
    file: dsn2
  key:
    file: k
    aws_secrets_manager: {secret_id: ""}
    encoding: hex
  key_file: k
secrets:
  refresh_interval: 1s
  max_age: 1s
  aws:
    endpoint: http://sm.example
    region: Europe
`))
	got := err.Error()
	for _, want := range []string{
		"audit.dsn: and audit.dsn_file both name the connection string",
		"audit.key: and audit.key_file both name the pseudonym key",
		"audit.key.aws_secrets_manager.secret_id: is required",
		"audit.key: names 2 places",
		"audit.key.encoding: \"hex\": want raw or base64",
		"secrets.refresh_interval: 1s: want 10s to 24h",
		"secrets.aws.endpoint: http is allowed only for localhost",
		"secrets.aws.region: \"Europe\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	_, err = Parse("g.yaml", []byte(secretsBase+`audit:
  sink: sqlite
  key:
    azure_key_vault: {vault: https://contoso.vault.azure.net/secrets, name: "a b", version: latest}
`))
	got = err.Error()
	for _, want := range []string{
		"audit.key.azure_key_vault.vault: \"https://contoso.vault.azure.net/secrets\": want the vault's URL alone",
		"audit.key.azure_key_vault.name: \"a b\"",
		"audit.key.azure_key_vault.version: \"latest\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

// serve takes the pseudonym key from a reference as well as from key_file.
func TestServeAcceptsKeyReference(t *testing.T) {
	_, err := ParseFor("g.yaml", []byte(secretsBase+`audit:
  sink: sqlite
  key:
    aws_secrets_manager: {secret_id: gatehouse/audit-key}
`), WhereServe)
	if err != nil && strings.Contains(err.Error(), "audit.key_file") {
		t.Errorf("serve asks for key_file although audit.key is set: %v", err)
	}
}
