//go:build !unix

package runtime

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing where there are no process groups.
func setProcessGroup(*exec.Cmd) {}

// killProcessGroup kills the process only: children it started survive.
func killProcessGroup(p *os.Process) { _ = p.Kill() }
