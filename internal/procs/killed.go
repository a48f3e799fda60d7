package procs

import (
	"errors"
	"os/exec"
	"syscall"
)

// Killed reports whether err, from a Wait or Run, says the process ended
// by SIGKILL: what a crash test expects of the process it killed.
func Killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
