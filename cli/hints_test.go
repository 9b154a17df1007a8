package cli

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/config"
	"github.com/gatehouse-dev/gatehouse/internal/testkit"
)

// TestLogFormat: --log-format auto logs text to a terminal and JSON to
// anything else; text and json are what they say whatever stderr is.
func TestLogFormat(t *testing.T) {
	term := func(io.Writer) bool { return true }
	pipe := func(io.Writer) bool { return false }
	for _, tt := range []struct {
		name   string
		isTerm func(io.Writer) bool
		args   []string
		json   bool
	}{
		{"auto on a terminal", term, nil, false},
		{"auto elsewhere", pipe, nil, true},
		{"auto named", term, []string{"--log-format", "auto"}, false},
		{"text elsewhere", pipe, []string{"--log-format", "text"}, false},
		{"json on a terminal", term, []string{"--log-format=json"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code, e := runEnv(t, "", tt.isTerm, append(tt.args, "version")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var b bytes.Buffer
			h := e.log.Handler()
			if u, ok := h.(interface{ Unwrap() slog.Handler }); ok { // telemetry.LogHandler
				h = u.Unwrap()
			}
			switch h := h.(type) { // the logger the command ran with
			case *slog.JSONHandler:
				if !tt.json {
					t.Errorf("JSON logs, want text")
				}
			case *slog.TextHandler:
				if tt.json {
					t.Errorf("text logs, want JSON")
				}
			default:
				t.Errorf("handler %T", h)
			}
			// And what it writes is that format.
			newLogger(map[bool]string{true: logJSON, false: logText}[tt.json], &b, tt.isTerm).Info("hello", "k", "v")
			if got := json.Valid(b.Bytes()); got != tt.json {
				t.Errorf("log line %q: JSON %v, want %v", b.String(), got, tt.json)
			}
		})
	}
	var b bytes.Buffer
	newLogger(logAuto, &b, term).Info("hello", "k", "v")
	if !strings.Contains(b.String(), "msg=hello k=v") {
		t.Errorf("auto on a terminal wrote %q, want slog's text", b.String())
	}
	b.Reset()
	newLogger(logAuto, &b, pipe).Info("hello", "k", "v")
	if !json.Valid(b.Bytes()) {
		t.Errorf("auto elsewhere wrote %q, want JSON", b.String())
	}
	if isTerminal(&b) {
		t.Errorf("a buffer is a terminal")
	}
}

// TestReadToken: a token pasted with its "Bearer " (any case) or its whole
// Authorization header is taken without them, with a note that shows none
// of it.
func TestReadToken(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, tt := range []struct {
		arg, stdin string
		note       bool
	}{
		{tok, "", false},
		{"  " + tok + "\n", "", false},
		{"Bearer " + tok, "", true},
		{"bearer   " + tok, "", true},
		{"BEARER " + tok, "", true},
		{"Authorization: Bearer " + tok, "", true},
		{"-", "Bearer " + tok + "\n", true},
		{"-", tok + "\n", false},
	} {
		var errOut bytes.Buffer
		e := &env{stdin: strings.NewReader(tt.stdin), stderr: &errOut}
		got, err := readToken(e, tt.arg)
		if err != nil || got != tok {
			t.Errorf("readToken(%.20q, stdin %.20q) = %.20q, %v", tt.arg, tt.stdin, got, err)
		}
		if note := strings.Contains(errOut.String(), `starts with "Bearer "`); note != tt.note {
			t.Errorf("readToken(%.20q): note %q, want one: %v", tt.arg, errOut.String(), tt.note)
		}
		if strings.Contains(errOut.String(), "eyJ") {
			t.Errorf("the note shows the token: %q", errOut.String())
		}
	}
}

// issuerConfig writes a configuration with iss as its one issuer, with
// audiences, and its CA when withCA; it returns the file's path.
func issuerConfig(t *testing.T, iss *testkit.Issuer, audiences string, withCA bool) string {
	t.Helper()
	dir := t.TempDir()
	ca := ""
	if withCA {
		u, _ := url.Parse(iss.URL())
		// The test issuer's certificate, as the system would see it.
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		cert := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		ca = filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		ca = "\n      ca_file: " + ca
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	cfg := fmt.Sprintf("authn:\n  issuers:\n    - name: corp\n      type: oidc\n      issuer: %s\n      audiences: %s%s\n", iss.URL(), audiences, ca)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func testClaims(iss *testkit.Issuer, aud any) map[string]any {
	now := time.Now()
	return map[string]any{"iss": iss.URL(), "sub": "alice", "aud": aud, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// TestVerifyHints: verify, policy explain --token and aws credentials say,
// with an audience mismatch, the token's audiences and the accepted ones
// with the field that sets them; with an issuer whose certificate no
// trusted authority signed, where to give its CA. Neither shows the token.
func TestVerifyHints(t *testing.T) {
	iss := testkit.NewIssuer(t, testkit.IssuerConfig{})
	good := issuerConfig(t, iss, "[api://gatehouse]", true)
	other := iss.Sign(testClaims(iss, []string{"api://other", "api://else"}))
	for _, args := range [][]string{
		{"verify", "--config", good, other},
		{"policy", "explain", "--config", good, "--token", other, "--resource", "hello"},
		{"aws", "credentials", "--config", good, "--token", other, "--resource", "hello"},
	} {
		out, errOut, code := runCLI(t, "", args...)
		if code != 1 || out != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1", args[0], code, out)
		}
		for _, w := range []string{"aud check failed", `the token's audience (aud) is "api://other", "api://else"`, `issuer corp accepts "api://gatehouse": authn.issuers[0].audiences in ` + good} {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", args[0], w, errOut)
			}
		}
		if strings.Contains(errOut, other[:20]) {
			t.Errorf("%s shows the token:\n%s", args[0], errOut)
		}
	}
	// The right audience verifies: the hint above is about aud alone.
	if out, errOut, code := runCLI(t, "", "verify", "--config", good, iss.Sign(testClaims(iss, "api://gatehouse"))); code != 0 || !strings.Contains(out, `"subject": "alice"`) {
		t.Errorf("verify with the right audience: exit %d\n%s%s", code, out, errOut)
	}

	noCA := issuerConfig(t, iss, "[api://gatehouse]", false)
	tok := iss.Sign(testClaims(iss, "api://gatehouse"))
	for _, args := range [][]string{
		{"verify", "--config", noCA, "--state-dir", "/gh-state", tok},
		{"aws", "credentials", "--config", noCA, "--state-dir", "/gh-state", "--token", tok, "--resource", "hello"},
	} {
		_, errOut, code := runCLI(t, "", args...)
		if code != exitUnavailable {
			t.Errorf("%s with an untrusted issuer certificate: exit %d, want 3\n%s", args[0], code, errOut)
		}
		if !strings.Contains(errOut, "hint: the issuer's certificate is signed by an authority this system does not trust: set authn.issuers[0].ca_file in the configuration") ||
			!strings.Contains(errOut, "/gh-state/ca.pem") {
			t.Errorf("%s: no hint naming ca_file and dev's CA:\n%s", args[0], errOut)
		}
	}
	// The issuer's CA given, a different failure has no CA hint.
	iss.Close()
	_, errOut, code := runCLI(t, "", "verify", "--config", good, tok)
	if code != exitUnavailable || strings.Contains(errOut, "hint:") {
		t.Errorf("verify with the issuer down: exit %d, want 3 without a hint\n%s", code, errOut)
	}
}

// TestAudienceHintValues: the hint shows the token's aud as a string or a
// list, quoted and cut, and every issuer's accepted audiences.
func TestAudienceHintValues(t *testing.T) {
	payload := func(v string) string {
		return "e30." + base64.RawURLEncoding.EncodeToString([]byte(v)) + ".c2ln"
	}
	f := loadTestConfig(t, "authn:\n  issuers:\n    - {name: a, type: oidc, issuer: https://a.example, audiences: [x, y]}\n    - {name: b, type: oidc, issuer: https://b.example, audiences: [z]}\n")
	got := audienceHint(f, "", payload(`{"aud":"one\u001b[31m"}`))
	for _, w := range []string{`aud) is "one\x1b[31m"`, `issuer a accepts "x", "y": authn.issuers[0].audiences in the embedded development configuration`, `issuer b accepts "z": authn.issuers[1].audiences`} {
		if !strings.Contains(got, w) {
			t.Errorf("hint lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("the hint writes a control character from the token:\n%q", got)
	}
	got = audienceHint(f, "f.yaml", payload(`{"aud":["1","2","3","4","5","6","7"]}`))
	if !strings.Contains(got, `"5", and 2 more`) {
		t.Errorf("seven audiences: %s", got)
	}
	if got = audienceHint(f, "f.yaml", "not a token"); strings.Contains(got, "token's audience") || !strings.Contains(got, "authn.issuers[1].audiences in f.yaml") {
		t.Errorf("no payload: %s", got)
	}
}

func loadTestConfig(t *testing.T, yaml string) *config.File {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTokenLookupListsKnown: a user or app that is not in the development
// directory fails before the IdP is asked, naming those there are.
func TestTokenLookupListsKnown(t *testing.T) {
	issuer := "https://127.0.0.1:1/" + devTenantID + "/v2.0" // nothing listens: the lookup comes first
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "nosuchuser"}, "known users: alice, bob, carol, dave\n"},
		{[]string{"--client", "nosuchapp"}, "known apps: gatehouse-api, gatehouse-cli, report-agent, legacy-api\n"},
		{[]string{"--user", "alice", "--app", "nosuchapp"}, "known apps: gatehouse-api, gatehouse-cli"},
	} {
		out, errOut, code := runCLI(t, "", append([]string{"token", "--issuer", issuer}, tt.args...)...)
		if code != 1 || out != "" || !strings.Contains(errOut, "not in the development directory") || !strings.Contains(errOut, tt.want) {
			t.Errorf("token %v: exit %d, stderr %q; want %q", tt.args, code, errOut, tt.want)
		}
	}
	// A known one goes on to the IdP, which does not answer here.
	if _, errOut, _ := runCLI(t, "", "token", "--issuer", issuer, "--user", "alice"); !strings.Contains(errOut, "discovery") {
		t.Errorf("token --user alice: %s", errOut)
	}
}

// TestExplainFormat: policy explain prints text by default, JSON with
// --format json or the hidden --json, the same JSON both ways.
func TestExplainFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(p, []byte(`{"subject": "x", "kind": "user", "tenant": "`+devTenantID+`"}`), 0o600)
	base := []string{"policy", "explain", "--principal", p, "--resource", "hello"}
	text, errOut, code := runCLI(t, "", base...)
	if code != 0 || !strings.HasPrefix(text, "decision   deny\n") {
		t.Fatalf("text: exit %d\n%s%s", code, text, errOut)
	}
	asJSON, _, code := runCLI(t, "", append(base, "--format", "json")...)
	var d struct {
		Allow   bool   `json:"allow"`
		Subject string `json:"subject"`
	}
	if code != 0 || json.Unmarshal([]byte(asJSON), &d) != nil || d.Subject != "x" || d.Allow {
		t.Errorf("--format json: exit %d: %s", code, asJSON)
	}
	alias, _, code := runCLI(t, "", append(base, "--json")...)
	if code != 0 || alias != asJSON {
		t.Errorf("--json: exit %d:\n%s\nwant\n%s", code, alias, asJSON)
	}
	if again, _, _ := runCLI(t, "", append(base, "--format", "text")...); again != text {
		t.Errorf("--format text:\n%s\nwant\n%s", again, text)
	}
}
