package config

import (
	"strings"
	"testing"
)

const previousKeysAudit = `audit:
  sink: sqlite
  key:
    aws_secrets_manager: {secret_id: gatehouse/audit-key}
    encoding: base64
  previous_keys:
    - aws_secrets_manager: {secret_id: gatehouse/audit-key, version_stage: AWSPREVIOUS}
      encoding: base64
    - file: keys/audit-key.2025
`

// audit.previous_keys are secret references like audit.key, listed by
// SecretRefs after it, each under its own field, and printed back.
func TestPreviousKeys(t *testing.T) {
	f, err := Parse("g.yaml", []byte(secretsBase+previousKeysAudit))
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, r := range f.SecretRefs() {
		fields = append(fields, r.Field+" "+r.Ref.String())
	}
	want := []string{
		"audit.key aws-secretsmanager:gatehouse/audit-key",
		"audit.previous_keys[0] aws-secretsmanager:gatehouse/audit-key@AWSPREVIOUS",
		"audit.previous_keys[1] file:keys/audit-key.2025",
	}
	if strings.Join(fields, "\n") != strings.Join(want, "\n") {
		t.Errorf("SecretRefs:\n%s\nwant:\n%s", strings.Join(fields, "\n"), strings.Join(want, "\n"))
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("printed.yaml", out)
	if err != nil {
		t.Fatalf("printed configuration does not read back: %v\n%s", err, out)
	}
	if len(again.Audit.PreviousKeys) != 2 || again.Audit.PreviousKeys[1].File != "keys/audit-key.2025" {
		t.Errorf("printed and read back: %+v", again.Audit.PreviousKeys)
	}
}

// A previous key written inline, or taken from the environment, is refused
// where it is written, like audit.key; so are references that name
// nothing, audit.key itself or one listed twice.
func TestPreviousKeysRefused(t *testing.T) {
	for _, tc := range []struct {
		name, keys string
		want       []string
	}{
		{"inline", "    - 0123456789abcdef0123456789abcdef\n",
			[]string{"g.yaml:12:7: audit.previous_keys[0]: a secret is never written in the configuration"}},
		{"environment", "    - file: ok\n    - ${OLD_AUDIT_KEY}\n",
			[]string{"g.yaml:13:7: audit.previous_keys[1]: a secret is never taken from the environment"}},
		{"not a list", "    file: k\n", []string{"audit.previous_keys: must be a list"}},
		{"empty reference", "    - {}\n", []string{"audit.previous_keys[0]: names no place"}},
		{"bad reference", "    - aws_secrets_manager: {secret_id: \"\"}\n      encoding: hex\n",
			[]string{"audit.previous_keys[0].aws_secrets_manager.secret_id: is required", "audit.previous_keys[0].encoding: \"hex\": want raw or base64"}},
		{"the current key", "    - aws_secrets_manager: {secret_id: gatehouse/audit-key}\n",
			[]string{"audit.previous_keys[0]: is audit.key itself"}},
		{"twice", "    - file: old\n    - file: old\n", []string{"g.yaml:13:7: audit.previous_keys[1]: is audit.previous_keys[0] again"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("g.yaml", []byte(secretsBase+`audit:
  sink: sqlite
  key:
    aws_secrets_manager: {secret_id: gatehouse/audit-key}
  previous_keys:
`+tc.keys))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %v\nwant %q", err, want)
				}
			}
			for _, leak := range []string{"0123456789abcdef", "OLD_AUDIT_KEY"} {
				if strings.Contains(tc.keys, leak) && strings.Contains(err.Error(), leak) {
					t.Errorf("the problem repeats the value %q: %v", leak, err)
				}
			}
		})
	}
}
