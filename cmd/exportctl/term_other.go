//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "os"

// terminal reports whether f is a terminal (a character device), and its
// width in columns: 0, unknown here.
func terminal(f *os.File) (bool, int) {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0, 0
}
