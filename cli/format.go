package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Output formats of --format; a command may accept others of its own.
const (
	formatText = "text"
	formatJSON = "json"
)

// choiceValue is a flag value that must be one of a list, checked when
// the flag is parsed: a misspelt value stops the command before it does
// anything.
type choiceValue struct {
	p        *string
	accepted []string
}

func (v *choiceValue) String() string { return *v.p }
func (v *choiceValue) Type() string   { return strings.Join(v.accepted, "|") }

func (v *choiceValue) Set(s string) error {
	for _, a := range v.accepted {
		if s == a {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want %s", orList(v.accepted))
}

// orList is "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// formatFlag defines a flag on fs that takes one of accepted (def first
// among them in help), with shell completion of the values.
func formatFlag(cmd *cobra.Command, fs *pflag.FlagSet, p *string, name, def, usage string, accepted ...string) {
	*p = def
	fs.Var(&choiceValue{p: p, accepted: accepted}, name, usage)
	cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(accepted, cobra.ShellCompDirectiveNoFileComp))
}

// jsonAlias is --json, kept hidden for the command lines written before
// --format: it means --format json.
type jsonAlias struct{ format *string }

func (a jsonAlias) String() string { return "false" }
func (a jsonAlias) Type() string   { return "bool" }

func (a jsonAlias) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err == nil && on {
		*a.format = formatJSON
	}
	return err
}

// outputFormat gives cmd --format text|json (default text), and the
// hidden --json alias.
func outputFormat(cmd *cobra.Command, p *string, usage string) {
	formatFlag(cmd, cmd.Flags(), p, "format", formatText, usage, formatText, formatJSON)
	cmd.Flags().Var(jsonAlias{p}, "json", "same as --format json")
	cmd.Flags().Lookup("json").NoOptDefVal = "true"
	cmd.Flags().MarkHidden("json")
	cmd.MarkFlagsMutuallyExclusive("json", "format")
}
