package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs the command line in-process with stdin, and returns stdout,
// stderr and the exit code; isTerm answers --log-format auto's question.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	out, errOut, code, _ := runEnv(t, stdin, func(io.Writer) bool { return false }, args...)
	return out, errOut, code
}

func runEnv(t *testing.T, stdin string, isTerm func(io.Writer) bool, args ...string) (string, string, int, *env) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, isTerminal: isTerm}
	e.log = newLogger(logAuto, &errOut, isTerm)
	code := run(context.Background(), e, args)
	return out.String(), errOut.String(), code, e
}

// commands is every command of the tree under c.
func commands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, commands(sub)...)
	}
	return out
}

// exampleInvocations splits a command's Example into the gatehouse
// invocations it holds: lines joined at a trailing backslash, split at
// pipes, && and ;, with $(...) taken as invocations of their own and
// redirections left out.
func exampleInvocations(example string) [][]string {
	text := strings.ReplaceAll(example, "\\\n", " ")
	var out [][]string
	sub := regexp.MustCompile(`\$\(([^()]*)\)`)
	for _, m := range sub.FindAllStringSubmatch(text, -1) {
		out = append(out, exampleInvocations(m[1])...)
	}
	text = sub.ReplaceAllString(text, "SUBST")
	for _, line := range strings.Split(text, "\n") {
		for _, seg := range regexp.MustCompile(`\||&&|;`).Split(line, -1) {
			words := shellWords(seg)
			var args []string
			for i := 0; i < len(words); i++ {
				if w := words[i]; w == ">" || w == "<" || w == "2>" {
					i++ // and its file
					continue
				}
				args = append(args, words[i])
			}
			if len(args) > 0 && args[0] == "gatehouse" {
				out = append(out, args[1:])
			}
		}
	}
	return out
}

// shellWords splits s at blanks, keeping quoted strings whole.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quote, in := rune(0), false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// TestEveryCommandHasExamples: every command a user can run shows
// examples in its help, and each gatehouse invocation in them is one the
// command line accepts: the command exists, its flags exist and hold valid
// values, its arguments, required flags and flag groups are right.
func TestEveryCommandHasExamples(t *testing.T) {
	e := &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler), isTerminal: func(io.Writer) bool { return false }}
	checked := 0
	for _, c := range commands(newRoot(e)) {
		if !c.Runnable() || c.Hidden {
			continue
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
			continue
		}
		invocations := exampleInvocations(c.Example)
		if len(invocations) == 0 {
			t.Errorf("%s: no gatehouse invocation in its Example:\n%s", c.CommandPath(), c.Example)
		}
		for _, args := range invocations {
			checked++
			root := newRoot(e) // flags keep their values: a fresh tree for each
			cmd, rest, err := root.Find(args)
			if err == nil {
				err = cmd.ParseFlags(rest)
			}
			if err == nil {
				err = cmd.ValidateArgs(cmd.Flags().Args())
			}
			if err == nil {
				err = cmd.ValidateRequiredFlags()
			}
			if err == nil {
				err = cmd.ValidateFlagGroups()
			}
			if err != nil {
				t.Errorf("%s: example gatehouse %s: %v", c.CommandPath(), strings.Join(args, " "), err)
			}
		}
	}
	if checked < 40 {
		t.Errorf("checked %d example invocations; the examples were not found", checked)
	}
}

// TestUsageErrors: a wrong command line exits 2 and says what is wrong and
// how to call the command, in words rather than cobra's; an unknown
// command or flag gets the ones meant.
func TestUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want []string // each in stderr
	}{
		{[]string{"verify"}, []string{"gatehouse: verify needs a TOKEN argument, or - to read it from standard input\nusage: gatehouse verify [--config F] TOKEN|-\n"}},
		{[]string{"verify", "a", "b"}, []string{"verify takes one TOKEN argument, got 2", "usage: gatehouse verify"}},
		{[]string{"verify", "Bearer", "abc"}, []string{`without "Bearer "`}},
		{[]string{"issuer", "export"}, []string{"issuer export needs a DIR argument", "usage: gatehouse issuer export DIR"}},
		{[]string{"jwks", "snapshot"}, []string{"jwks snapshot needs an ISSUER argument", "usage: gatehouse jwks snapshot ISSUER"}},
		{[]string{"policy", "test"}, []string{"policy test needs a FILE argument", "usage: gatehouse policy test FILE"}},
		{[]string{"token", "alice"}, []string{"token takes no arguments, got 1", "usage: gatehouse token (--user NAME | --client APP)"}},
		{[]string{"verfy", "x"}, []string{`unknown command "verfy" for "gatehouse"`, "Did you mean this?\n\tverify\n", "usage: gatehouse COMMAND"}},
		{[]string{"policy", "chek"}, []string{`unknown command "chek" for "gatehouse policy"`, "\tcheck\n", "usage: gatehouse policy COMMAND"}},
		{[]string{"dev", "rotate-key"}, []string{`unknown command "rotate-key" for "gatehouse dev"`, "\trotate-keys\n"}},
		{[]string{"token", "--usr", "alice"}, []string{"unknown flag: --usr", "Did you mean this?\n\t--user\n"}},
		{[]string{"token", "--user", "alice", "--format", "yaml"}, []string{`invalid argument "yaml" for "--format" flag: want text or json`}},
		{[]string{"token", "--user", "alice", "--json", "--format", "text"}, []string{"[format json] were all set"}},
		{[]string{"policy", "explain", "--principal", "p.json", "--resource", "hello", "--format", "xml"}, []string{"want text or json"}},
		{[]string{"audit", "query", "--format", "yaml"}, []string{"want table, json or csv"}},
		{[]string{"aws", "credentials", "--token", "t", "--resource", "hello", "--format", "yaml"}, []string{"want process, env or json"}},
		{[]string{"--log-format", "xml", "version"}, []string{`for "--log-format" flag: want auto, text or json`}},
		{[]string{"policy", "explain", "--principal", "p.json"}, []string{`required flag(s) "resource" not set`, "usage: gatehouse policy explain"}},
		{[]string{"help", "policy", "chek"}, []string{`unknown command "chek" for "gatehouse policy"`, "\tcheck\n"}},
		{[]string{"completion", "bsh"}, []string{`unknown command "bsh" for "gatehouse completion"`, "\tbash\n"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, "", tt.args...)
			if code != exitUsage || out != "" {
				t.Errorf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "arg(s)") {
				t.Errorf("cobra's own message:\n%s", errOut)
			}
			if !strings.Contains(errOut, "--help' for more") {
				t.Errorf("no pointer to the help:\n%s", errOut)
			}
		})
	}
}

// TestUsageErrorsShowNoToken: an argument given where none is taken may
// be a token pasted in the wrong place: it is not repeated.
func TestUsageErrorsShowNoToken(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	for _, args := range [][]string{
		{"aws", "credentials", "--resource", "hello", tok},
		{"verify", tok, tok},
		{"policy", tok},
		{tok},
	} {
		_, errOut, code := runCLI(t, "", args...)
		if code != exitUsage || strings.Contains(errOut, "eyJ") {
			t.Errorf("%v: exit %d, stderr shows the token:\n%s", args[:len(args)-1], code, errOut)
		}
	}
}

// TestGroupsShowHelp: a command that only holds others prints its help
// and succeeds when run alone.
func TestGroupsShowHelp(t *testing.T) {
	for _, g := range []string{"policy", "aws", "audit", "issuer", "jwks"} {
		out, errOut, code := runCLI(t, "", g)
		if code != 0 || !strings.Contains(out, "Available Commands:") || !strings.Contains(out, "gatehouse "+g+" [command]") || strings.Contains(out, g+" [flags]") {
			t.Errorf("%s: exit %d\n%s%s", g, code, out, errOut)
		}
	}
}

// TestHelpCommand: help COMMAND is COMMAND --help.
func TestHelpCommand(t *testing.T) {
	viaHelp, _, code := runCLI(t, "", "help", "policy", "explain")
	viaFlag, _, _ := runCLI(t, "", "policy", "explain", "--help")
	if code != 0 || viaHelp != viaFlag || !strings.Contains(viaHelp, "gatehouse policy explain (--token T") {
		t.Errorf("help policy explain: exit %d\n%s\nwant\n%s", code, viaHelp, viaFlag)
	}
}

// TestHiddenAliases: --json and dev's --listen work and are not in help.
func TestHiddenAliases(t *testing.T) {
	for _, tt := range []struct{ cmd, alias string }{{"token", "--json"}, {"policy explain", "--json"}, {"dev", "--listen "}} {
		out, _, code := runCLI(t, "", append(strings.Fields(tt.cmd), "--help")...)
		if code != 0 || strings.Contains(out, tt.alias) || !strings.Contains(out, "--") {
			t.Errorf("%s --help: exit %d, shows %s:\n%s", tt.cmd, code, tt.alias, out)
		}
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler), isTerminal: func(io.Writer) bool { return false }}
	dev, rest, err := newRoot(e).Find([]string{"dev", "--listen", "127.0.0.1:7"})
	if err == nil {
		err = dev.ParseFlags(rest)
	}
	if got, _ := dev.Flags().GetString("idp-listen"); err != nil || got != "127.0.0.1:7" {
		t.Errorf("dev --listen 127.0.0.1:7: --idp-listen = %q, %v", got, err)
	}
}
