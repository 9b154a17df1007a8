package cli

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-dev/gatehouse/internal/editdistance"
)

// What a user who typed a command line wrong is told: what is missing or
// extra, how to call the command, and the commands or flags they may have
// meant. Arguments are never echoed, unless they look like a command name:
// one may be a token pasted in the wrong place.

// cmdName is the command's path without "gatehouse ": "policy test".
func cmdName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return cmd.Name()
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// usageLine is how to call cmd, from its Use: "gatehouse verify [--config F] TOKEN|-".
func usageLine(cmd *cobra.Command) string {
	line := cmd.Use
	if cmd.HasParent() {
		line = cmd.Parent().CommandPath() + " " + cmd.Use
	}
	if isGroup(cmd) {
		line += " COMMAND"
	}
	return line
}

// usageHint follows a usage error: how to call the command and where its
// help is.
func usageHint(cmd *cobra.Command) string {
	if cmd == nil {
		return ""
	}
	return fmt.Sprintf("usage: %s\nrun '%s --help' for more\n", usageLine(cmd), cmd.CommandPath())
}

var commandLike = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// safeArg quotes an argument for a message if it looks like a command
// name, and otherwise does not show it.
func safeArg(s string) string {
	if commandLike.MatchString(s) {
		return fmt.Sprintf("%q", s)
	}
	return "(not shown)"
}

// didYouMean lists the candidates, as cobra does for commands.
func didYouMean(candidates []string) string {
	if len(candidates) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\nDid you mean this?\n")
	for _, c := range candidates {
		fmt.Fprintf(&b, "\t%s\n", c)
	}
	return b.String()
}

// suggestCommands are cmd's subcommands that name may have meant to be.
func suggestCommands(cmd *cobra.Command, name string) []string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	return cmd.SuggestionsFor(name)
}

// group makes cmd a command that holds subcommands: run alone, it prints
// its help; with an argument, the argument is an unknown subcommand.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = groupArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations["group"] = "true"
	return cmd
}

func isGroup(cmd *cobra.Command) bool { return cmd.Annotations["group"] == "true" }

// groupArgs is the Args of a command that only holds subcommands: an
// argument is a subcommand that does not exist.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("unknown command %s for %q%s", safeArg(args[0]), cmd.CommandPath(), didYouMean(suggestCommands(cmd, args[0])))
}

// noArgs is the Args of a command that takes its input in flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasAvailableSubCommands() {
		return groupArgs(cmd, args)
	}
	return fmt.Errorf("%s takes no arguments, got %d: its input is given with flags", cmdName(cmd), len(args))
}

// oneArg is the Args of a command that takes one argument, named name;
// what says what it is.
func oneArg(name, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return fmt.Errorf("%s needs %s %s argument%s", cmdName(cmd), article(name), name, what)
		case len(args) > 1:
			msg := fmt.Sprintf("%s takes one %s argument, got %d", cmdName(cmd), name, len(args))
			if strings.EqualFold(args[0], "bearer") {
				msg += `: give the token alone, without "Bearer "`
			} else {
				msg += ": quote an argument that holds spaces"
			}
			return fmt.Errorf("%s", msg)
		}
		return nil
	}
}

func article(word string) string {
	if strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// flagError is every command's FlagErrorFunc: pflag's message, and for an
// unknown flag the flags of the command it may have meant.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	var near []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && (editdistance.Levenshtein(name, f.Name) <= 2 || len(name) >= 3 && strings.HasPrefix(f.Name, name)) {
			near = append(near, "--"+f.Name)
		}
	})
	slices.Sort(near)
	return fmt.Errorf("%s%s", msg, didYouMean(near))
}
