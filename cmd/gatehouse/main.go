// Command gatehouse is the identity-aware gateway for serverless functions.
// All wiring is in package cli.
package main

import (
	"os"

	"github.com/gatehouse-dev/gatehouse/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
