// Package cli is gatehouse's command line: one file per command, and wire.go,
// the only place that builds the pipeline's parts from a validated
// configuration.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// env is what every command gets: its streams and a logger. Commands take
// it instead of reaching for globals, so tests can run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	// isTerminal says whether a stream is a terminal (--log-format auto).
	isTerminal func(io.Writer) bool
	// ran is set when a command's RunE starts: an error before that is
	// one of usage (flags, arguments, an unknown command).
	ran bool
}

// exitError carries a specific exit code; its message has been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Exit codes beyond 0 (success) and 1 (failure).
const (
	exitUsage       = 2 // the command line is wrong: nothing was done
	exitUnavailable = 3 // a service needed (an issuer's keys, STS) cannot be reached
)

// Main runs the gatehouse command line with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, isTerminal: isTerminal}
	e.log = newLogger(logAuto, stderr, e.isTerminal)
	return run(ctx, e, args)
}

// run executes args with e, printing the error, if any, and returns the
// exit code.
func run(ctx context.Context, e *env, args []string) int {
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var xe exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	fmt.Fprintln(e.stderr, "gatehouse:", err)
	if !e.ran {
		fmt.Fprint(e.stderr, usageHint(cmd))
		return exitUsage
	}
	return 1
}

func newRoot(e *env) *cobra.Command {
	var logFormat string
	root := group(&cobra.Command{
		Use:   "gatehouse",
		Short: "Identity-aware gateway for serverless functions",
		Long: `gatehouse checks Microsoft Entra ID (or any OpenID Connect) access tokens,
decides by policy what the caller may do, gets short-lived AWS credentials for
exactly that, invokes the function and records an audit trail.

Start the local loop with 'gatehouse dev'.

Exit codes: 0 success, 1 failure (a rejected token, a denied request, a bad
configuration), 2 a wrong command line, 3 a service needed is unavailable
(an issuer's keys cannot be fetched, STS is down).`,
		Example: `  gatehouse dev
  gatehouse token --user alice | gatehouse verify -
  gatehouse serve --config gatehouse.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			e.log = newLogger(logFormat, e.stderr, e.isTerminal)
			return nil
		},
	})
	formatFlag(root, root.PersistentFlags(), &logFormat, "log-format", logAuto,
		"log lines as text (for people) or JSON (for machines); auto: text when standard error is a terminal", logAuto, logText, logJSON)
	root.SetFlagErrorFunc(flagError)
	// A group's usage is its subcommands', not "gatehouse policy [flags]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", `{{if and .Runnable (ne (index .Annotations "group") "true")}}`, 1))
	root.AddCommand(newDevCmd(e), newInitCmd(e), newServeCmd(e), newTokenCmd(e), newVerifyCmd(e), newPolicyCmd(e), newAWSCmd(e), newIssuerCmd(e), newAuditCmd(e), newJWKSCmd(e), newSecretsCmd(e), newRevokeCmd(e), newVersionCmd(e), newBuiltinCmd())
	root.SetHelpCommand(newHelpCmd())
	initCompletionCmd(root)
	markRuns(root, e)
	return root
}

// newHelpCmd replaces cobra's help command, which answers a misspelt
// command with the root's usage and success.
func newHelpCmd() *cobra.Command {
	find := func(cmd *cobra.Command, args []string) (*cobra.Command, error) {
		target, rest, err := cmd.Root().Find(args)
		if err == nil && len(rest) > 0 {
			err = groupArgs(target, rest)
		}
		return target, err
	}
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Example: `  gatehouse help
  gatehouse help policy explain`,
		Args: func(cmd *cobra.Command, args []string) error {
			_, err := find(cmd, args)
			return err
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
			target, err := find(cmd, args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range target.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := find(cmd, args)
			if err != nil {
				return err
			}
			target.InitDefaultHelpFlag() // listed in its help, as with --help
			return target.Help()
		},
	}
}

// initCompletionCmd adds cobra's completion command now, rather than when
// it runs, to give it examples and the usage errors of the others.
func initCompletionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		group(c).Example = `  source <(gatehouse completion bash)
  gatehouse completion zsh > "${fpath[1]}/_gatehouse"`
		examples := map[string]string{
			"bash":       "  source <(gatehouse completion bash)\n  gatehouse completion bash > /etc/bash_completion.d/gatehouse",
			"zsh":        "  gatehouse completion zsh > \"${fpath[1]}/_gatehouse\"",
			"fish":       "  gatehouse completion fish > ~/.config/fish/completions/gatehouse.fish",
			"powershell": "  gatehouse completion powershell | Out-String | Invoke-Expression",
		}
		for _, sh := range c.Commands() {
			sh.Args, sh.Example = noArgs, examples[sh.Name()]
		}
	}
}

// markRuns makes every command's RunE set e.ran first.
func markRuns(c *cobra.Command, e *env) {
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			e.ran = true
			return runE(cmd, args)
		}
	}
	for _, sub := range c.Commands() {
		markRuns(sub, e)
	}
}
