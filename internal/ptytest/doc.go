// Package ptytest gives tests a pseudo-terminal, for what a program draws
// when its output is a terminal: the child writes to the terminal end
// (tty), the test reads what it drew from the controlling end (ptm). It
// works on Linux only; its tests carry the linux build constraint.
package ptytest
