package ptytest_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/internal/ptytest"
)

// A child on the terminal end is on a terminal of the size asked for (the
// kernel's 0 by 0 without one), and everything it draws is read, through
// the terminal's own line discipline (LF becomes CRLF), once it exits.
func TestScreen(t *testing.T) {
	for _, tc := range []struct {
		cols uint16
		size string
	}{{100, "24 100"}, {0, "0 0"}} {
		ptm, tty := ptytest.Open(t, tc.cols)
		cmd := exec.Command("sh", "-c", "[ -t 1 ] && stty size && printf 'drawn\\n'")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if err := procs.Start(cmd); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		screen := ptytest.Read(ptm)
		select {
		case <-screen.First():
		case <-time.After(time.Minute):
			t.Fatal("nothing drawn")
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if got, want := screen.Wait(t, time.Minute), tc.size+"\r\ndrawn\r\n"; got != want {
			t.Fatalf("cols %d: screen %q, want %q", tc.cols, got, want)
		}
	}
}
