package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/examples/functions/echo/echo"
	"github.com/gatehouse-dev/gatehouse/examples/functions/protected/protected"
	"github.com/gatehouse-dev/gatehouse/examples/functions/whoami/whoami"
)

// builtinFunctions are the example functions the binary carries, so that
// `gatehouse dev` runs them anywhere, without Go or the source tree: the
// local Lambda host starts this binary as the function's process, with
// `builtin NAME` as its arguments, and it serves the Runtime API like any
// Lambda executable. config.BuiltinFunctions lists the same names.
var builtinFunctions = map[string]func(){
	"whoami":    whoami.Main,
	"echo":      echo.Main,
	"protected": protected.Main,
}

// builtinArgs are the arguments that make this binary run function name.
func builtinArgs(name string) []string { return []string{"builtin", name} }

func newBuiltinCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "builtin NAME",
		Short:  "Run a built-in example function under the Lambda Runtime API (the local Lambda host starts it)",
		Hidden: true,
		Args:   oneArg("NAME", ": a built-in function"),
		RunE: func(_ *cobra.Command, args []string) error {
			run, ok := builtinFunctions[args[0]]
			if !ok {
				names := slices.Sorted(func(yield func(string) bool) {
					for n := range builtinFunctions {
						if !yield(n) {
							return
						}
					}
				})
				return fmt.Errorf("no built-in function %q (there are %s)", args[0], strings.Join(names, ", "))
			}
			run() // returns only when the Runtime API goes away
			return nil
		},
	}
}
