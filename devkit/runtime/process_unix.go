//go:build unix

package runtime

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup starts the process in a new process group, so that a
// kill reaches the children it started too.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup sends SIGKILL to the process group led by p.
func killProcessGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}
