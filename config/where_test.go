package config

import (
	"strings"
	"testing"
)

// The dev configuration as serve would read it unchanged: every problem
// that keeps serve from running, reported at once with its line.
func TestServeChecksListEveryProblem(t *testing.T) {
	_, err := ParseFor("dev.yaml", DefaultYAML(), WhereServe)
	var got []string
	for _, p := range Problems(err) {
		if p.File != "dev.yaml" || p.Line == 0 {
			t.Errorf("problem without file and line: %v", p)
		}
		got = append(got, p.Field)
	}
	for _, want := range []string{
		"authn.issuers[0].entra.authority", "creds.sts.endpoint", "creds.issuer.url", "creds.issuer.key_dir",
		"gateway.routes[2].upstream.url", "audit.path", "audit.key_file", "audit.signing_key_file", "gateway.listen",
	} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("serve checks of the dev configuration miss %s; got %q", want, got)
		}
	}
	// The same file is fine for dev.
	if _, err := ParseFor("dev.yaml", DefaultYAML(), WhereDev); err != nil {
		t.Errorf("dev checks of the dev configuration: %v", err)
	}
}

func TestLambdaChecks(t *testing.T) {
	yaml := `authn:
  issuers:
    - name: corp
      type: oidc
      issuer: https://idp.example
      audiences: [api://x]
authz:
  roles:
    - name: reader
      aws_role: arn:aws:iam::123456789012:role/r
      actions: [read]
      routes: [wiki]
creds:
  mode: broker
gateway:
  routes:
    - id: wiki
      path: /wiki/{rest...}
      upstream: {url: "https://wiki.example"}
audit:
  sink: sqlite
`
	_, err := ParseFor("fn.yaml", []byte(yaml), WhereLambda)
	s := err.Error()
	for _, want := range []string{"fn.yaml:14:3: creds.mode: role reader is in broker mode", "fn.yaml:21:3: audit.sink"} {
		if !strings.Contains(s, want) {
			t.Errorf("lambda checks: %v\nwant %q", err, want)
		}
	}
	_, err = ParseFor("fn.yaml", []byte(yaml), WhereAuthorizer)
	s = err.Error()
	if strings.Contains(s, "broker mode") || !strings.Contains(s, "gateway.routes[0]: route wiki: an authorizer decides") {
		t.Errorf("authorizer checks: %v", err)
	}
	if _, err := ParseFor("fn.yaml", []byte(yaml), ""); err != nil {
		t.Errorf("no place, no checks: %v", err)
	}
}
