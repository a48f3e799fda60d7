//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"
	"syscall"
	"unsafe"
)

// terminal reports whether f is a terminal, and its width in columns (0
// when it does not say): the TIOCGWINSZ ioctl answers only for a terminal.
func terminal(f *os.File) (bool, int) {
	var ws struct{ Row, Col, X, Y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return false, 0
	}
	return true, int(ws.Col)
}
