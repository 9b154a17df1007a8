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
	"syscall"

	"github.com/spf13/cobra"
)

// env is what every command gets: its streams and a logger. Commands take
// it instead of reaching for globals, so tests can run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
}

// exitError carries a specific exit code; its message has been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs the gatehouse command line with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr,
		log: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var xe exitError
	if errors.As(err, &xe) {
		return xe.code
	}
	fmt.Fprintln(stderr, "gatehouse:", err)
	return 1
}

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Identity-aware gateway for serverless functions",
		Long: `gatehouse checks Microsoft Entra ID (or any OpenID Connect) access tokens,
decides by policy what the caller may do, gets short-lived AWS credentials for
exactly that, invokes the function and records an audit trail.

Start the local loop with 'gatehouse dev'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newDevCmd(e), newInitCmd(e), newServeCmd(e), newTokenCmd(e), newVerifyCmd(e), newPolicyCmd(e), newAWSCmd(e), newIssuerCmd(e), newAuditCmd(e), newJWKSCmd(e), newVersionCmd(e), newBuiltinCmd())
	return root
}
