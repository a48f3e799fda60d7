package procs

import (
	"os/exec"
	"syscall"
)

// bind asks the kernel to send cmd's process SIGKILL when the thread that
// forks it exits: see forker for why that thread lives as long as the
// process.
func bind(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
