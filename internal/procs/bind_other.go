//go:build !linux

package procs

import "os/exec"

// bind does nothing: only Linux has a parent-death signal.
func bind(*exec.Cmd) {}
