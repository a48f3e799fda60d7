package ptytest

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Open opens a pseudo-terminal of cols columns and 24 rows; with cols 0
// its size stays the kernel's (0 by 0, which a program reads as "unknown").
// Both ends are closed when the test ends. A test that starts a child on
// tty closes its own tty at once, so that reads of ptm end (EIO) when the
// child exits.
func Open(t testing.TB, cols uint16) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		t.Helper()
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), req, uintptr(arg)); errno != 0 {
			t.Fatalf("ioctl %#x: %v", req, errno)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	if cols > 0 {
		ws := struct{ Row, Col, X, Y uint16 }{Row: 24, Col: cols}
		ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
	}
	tty, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return ptm, tty
}

// Screen is what was drawn on a terminal, read from its controlling end
// by a goroutine of its own until the terminal closes.
type Screen struct {
	first chan struct{}
	done  chan string
}

// Read starts reading ptm until the terminal closes: until every process
// holding its tty end has exited or closed it.
func Read(ptm *os.File) *Screen {
	s := &Screen{first: make(chan struct{}), done: make(chan string, 1)}
	go func() {
		var buf bytes.Buffer
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			if n > 0 && buf.Len() == 0 {
				close(s.first)
			}
			buf.Write(b[:n])
			if err != nil { // EIO once the last holder of tty is gone
				s.done <- buf.String()
				return
			}
		}
	}()
	return s
}

// First is closed once the first bytes were drawn.
func (s *Screen) First() <-chan struct{} { return s.first }

// Wait returns all that was drawn once the terminal has closed; it fails
// t if that takes more than timeout.
func (s *Screen) Wait(t testing.TB, timeout time.Duration) string {
	t.Helper()
	select {
	case screen := <-s.done:
		return screen
	case <-time.After(timeout):
		t.Fatal("the terminal did not close")
		return ""
	}
}
