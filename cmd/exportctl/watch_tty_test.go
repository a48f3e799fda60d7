//go:build linux

package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/exportd/exportd/internal/procs"
)

// On a terminal, watch draws the bar: the unfiltered export's total is
// the collection's metadata count, an estimate, so the bar says "~"; it
// ends with the outcome on a line of its own. The database is held back
// until watch has drawn its first line, so that watch sees every event.
// The export is sorted: devmongo reads the whole result before the first
// record, and the metadata count is in the events by then.
func TestWatchDrawsBarOnTerminal(t *testing.T) {
	d := startDaemon(t, "")
	d.mongo.close()
	id := d.start(t, "--chunk-records", "500", "--progress-every", "250", "--sort", `{"createdAt": 1}`)

	master, slave := openPTY(t, 100)
	cmd := d.command("watch", id)
	cmd.Stdout, cmd.Stderr = slave, slave
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child has it: reads of master end when the child does
	out := make(chan []byte, 1)
	first := make(chan struct{})
	go func() {
		var buf bytes.Buffer
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			if n > 0 && buf.Len() == 0 {
				close(first)
			}
			buf.Write(b[:n])
			if err != nil { // EIO once the child has exited
				out <- buf.Bytes()
				return
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(time.Minute):
		t.Fatal("watch drew nothing")
	}
	d.mongo.open()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	var screen string
	select {
	case b := <-out:
		screen = string(b)
	case <-time.After(time.Minute):
		t.Fatal("the terminal did not close")
	}
	t.Logf("terminal: %q", screen)

	// Every redraw starts at the line's start and clears it; none wraps a
	// 100-column terminal.
	draws := strings.Split(screen, "\r\033[K")
	bar := regexp.MustCompile(`^\[[#-]+\] ~\d+% [\d,]+/~5,000 records `)
	bars := 0
	for _, d := range draws[1 : len(draws)-1] {
		if len(d) >= 100 || strings.ContainsAny(d, "\r\n") {
			t.Fatalf("a redraw that wraps or breaks the line: %q", d)
		}
		if bar.MatchString(d) {
			bars++
		}
	}
	if bars == 0 {
		t.Fatalf("no bar with an estimated total of 5,000 records in %q", screen)
	}
	if last := draws[len(draws)-1]; !strings.HasPrefix(last, "export "+id+" completed: 5000 records in 10 chunks, ") {
		t.Fatalf("the last line: %q", last)
	}
}

// openPTY opens a pseudo-terminal of cols columns; both ends close when
// the test ends.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		t.Helper()
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), req, uintptr(arg)); errno != 0 {
			t.Fatalf("ioctl %#x: %v", req, errno)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	ws := struct{ Row, Col, X, Y uint16 }{Row: 24, Col: cols}
	ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
	slave, err = os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}
