package config

import (
	"strings"
	"testing"
)

// TestParseSyntaxErrorPosition: a YAML syntax error is reported at the
// line and column of the mistake, where the parser gives up later (the
// next line, or the next quote or key of the file), and says what is
// wrong.
func TestParseSyntaxErrorPosition(t *testing.T) {
	// A comment that carries an apostrophe, which closes a quote left open
	// anywhere above it.
	const apostrophe = "      # the API's audience, as tokens carry it\n"
	for _, tt := range []struct {
		name, yaml string
		line, col  int
		msg        string // a part of the message
	}{
		{
			name: "key indented deeper than its siblings, in the middle",
			yaml: "authn:\n  issuers:\n    - name: corp\n      type: oidc\n        issuer: https://idp.example.com\n      audiences: [api://corp]\n",
			line: 5, col: 9, // the parser: 4:13, the value above
			msg: "this key is indented more than the line above it",
		},
		{
			name: "unclosed double quote, closed by the next line's",
			yaml: "authn:\n  issuers:\n    - name: corp\n      type: oidc\n      issuer: \"https://idp.example.com\n      audiences: [\"api://corp\"]\naudit:\n  sink: sqlite\n",
			line: 5, col: 15, // the parser: 6:20
			msg: "the quoted value that starts here runs on to line 6: is its closing quote missing? (at line 6, column 20:",
		},
		{
			name: "unclosed single quote, closed by an apostrophe lines below",
			yaml: "authn:\n  issuers:\n    - name: 'corp\n      type: oidc\n      issuer: https://idp.example.com\n" + strings.Repeat(apostrophe[:6]+"# a comment\n", 8) + "      audiences: [api://corp]\n" + apostrophe + "audit:\n  sink: sqlite\n",
			line: 3, col: 13, // the parser: 15:17
			msg: "runs on to line 15",
		},
		{
			name: "unclosed quotes in a chain",
			yaml: "authn:\n  issuers:\n    - name: \"corp\n      type: \"oidc\"\n      issuer: https://idp.example.com\n",
			line: 3, col: 13,
			msg: "is its closing quote missing?",
		},
		{
			name: "tab in the indentation",
			yaml: "authn:\n  issuers:\n    - name: corp\n\t  type: oidc\n",
			line: 4, col: 1,
			msg: "a tab character: YAML indents with spaces only",
		},
		{
			name: "tab after spaces",
			yaml: minimal + "audit:\n  sink: sqlite\n  \tmode: sync\n",
			line: 9, col: 3,
			msg: "a tab character",
		},
		{
			name: "[ left open at the end of its line",
			yaml: "authn:\n  issuers:\n    - name: corp\n      audiences: [a, b\n      # the API\n      type: oidc\n",
			line: 4, col: 18, // the parser: 6:7
			msg: "this [ is not closed on its line (at line 6, column 7: ',' or ']' must be specified)",
		},
		{
			name: "first key of a mapping indented oddly, found at its next key",
			yaml: "authn:\n   issuers:\n    - name: corp\n      type: oidc\n      issuer: https://idp.example.com\n      audiences: [api://corp]\n  max_token_bytes: 4096\n",
			line: 2, col: 4, // the parser: 7:3
			msg: "this key is at column 4, and the next key of its mapping (line 7) at column 3",
		},
		{
			name: "first key of a mapping indented less than the next",
			yaml: minimal + "creds:\n mode: broker\n  duration: 1h\naudit:\n  sink: sqlite\n",
			line: 8, col: 2, // the parser: 9:3
			msg: "this key is at column 2",
		},
		{
			name: "first key of the file indented",
			yaml: " authn:\n   issuers:\n     - name: corp\n       type: oidc\n       issuer: https://idp.example.com\n       audiences: [api://corp]\naudit:\n  sink: sqlite\n",
			line: 1, col: 2, // the parser: 7:1
			msg: "the first key is indented: top-level keys start at column 1",
		},
		{
			name: "list entry off the step moves its keys",
			yaml: "authn:\n  issuers:\n     - name: corp\n      type: oidc\n",
			line: 3, col: 6, // the parser: 4:7
			msg: "this '-' is at column 6, so its entry's keys start at column 8",
		},
		{
			name: "first entry of a list indented oddly",
			yaml: "authn:\n  issuers:\n    - name: corp\n      type: oidc\n      issuer: https://idp.example.com\n      audiences:\n         - api://corp\n        - api://other\n",
			line: 7, col: 10, // the parser: 8:9
			msg: "this '-' is at column 10, and the next '-' of its list (line 8) at column 9",
		},
		{
			name: "key without its colon",
			yaml: minimal + "creds:\n  mode broker\n  duration: 1h\n",
			line: 8, col: 3,
			msg: "a key without its ':'?",
		},
		{
			name: "list entry without its colon",
			yaml: "authn:\n  issuers:\n    - name corp\n      type: oidc\n",
			line: 3, col: 7, // the parser: 4:7, as if type were indented wrongly
			msg: "a key without its ':'?",
		},
		{
			name: "line deeper than a key whose value is given",
			yaml: minimal + "audit:\n  sink: sqlite\n  mode: [sync]\n    path: x\n",
			line: 10, col: 5,
			msg: "indented more than the entry above it (line 9), whose value is already given",
		},
		{
			name: "a line that lines up with nothing",
			yaml: "authn:\n  issuers:\n    - name: corp\n      type: oidc\n     issuer: https://idp.example.com\n",
			line: 5, col: 6,
			msg: "this line is indented to column 6, which lines up with nothing above it: the entries it follows are at column 7 (line 4)",
		},
		{
			name: "unclosed [ at the end of the file, where the parser is right",
			yaml: "authn:\n  issuers: [a\n",
			line: 2, col: 12,
			msg: "invalid YAML: sequence end token ']' not found",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("gatehouse.yaml", []byte(tt.yaml))
			ps := Problems(err)
			if len(ps) != 1 {
				t.Fatalf("Parse: %d problems, want 1: %v", len(ps), err)
			}
			p := ps[0]
			if p.Line != tt.line || p.Column != tt.col || !strings.Contains(p.Msg, tt.msg) || !strings.HasPrefix(p.Msg, "invalid YAML: ") {
				t.Errorf("Parse = %v\nwant gatehouse.yaml:%d:%d: ...%s...", err, tt.line, tt.col, tt.msg)
			}
		})
	}
}

// TestParseSyntaxErrorInDevYAML breaks each line of the development
// configuration in the ways a hand edit does, one at a time, and checks
// the syntax error names that line, or the next (where the mistake may be
// its own: a line indented less than the one above may be the wrong one).
func TestParseSyntaxErrorInDevYAML(t *testing.T) {
	lines := strings.Split(string(DefaultYAML()), "\n")
	content := func(l string) bool {
		s := strings.TrimSpace(l)
		return s != "" && !strings.HasPrefix(s, "#") && !strings.Contains(l, "#")
	}
	edits := map[string]func(string) (string, bool){
		"indent one more": func(l string) (string, bool) { return " " + l, content(l) },
		"indent two more": func(l string) (string, bool) { return "  " + l, content(l) },
		"indent one less": func(l string) (string, bool) { return l[min(1, len(l)):], content(l) && strings.HasPrefix(l, " ") },
		"tab": func(l string) (string, bool) {
			return "\t" + strings.TrimLeft(l, " "), content(l) && strings.HasPrefix(l, "  ")
		},
		"open quote": func(l string) (string, bool) {
			k, v, ok := strings.Cut(l, ": ")
			return k + ": '" + v, ok && content(l)
		},
		"drop ]": func(l string) (string, bool) {
			i := strings.LastIndex(l, "]")
			return l[:max(i, 0)] + l[i+1:], i > 0 && content(l)
		},
		"drop colon": func(l string) (string, bool) {
			k, v, ok := strings.Cut(l, ": ")
			return k + " " + v, ok && content(l)
		},
	}
	checked := 0
	for name, edit := range edits {
		for i, l := range lines {
			changed, ok := edit(l)
			if !ok {
				continue
			}
			in := strings.Join(append(append(append([]string{}, lines[:i]...), changed), lines[i+1:]...), "\n")
			_, err := Parse("dev.yaml", []byte(in))
			ps := Problems(err)
			if len(ps) == 0 || !strings.HasPrefix(ps[0].Msg, "invalid YAML") {
				continue // still YAML: a decoding or validation problem
			}
			checked++
			if p := ps[0]; p.Line != i+1 && p.Line != i+2 {
				t.Errorf("%s at line %d (%q): reported at %d:%d: %s", name, i+1, changed, p.Line, p.Column, p.Msg)
			}
		}
	}
	if checked < 500 {
		t.Errorf("only %d edits made a syntax error; want at least 500", checked)
	}
}
