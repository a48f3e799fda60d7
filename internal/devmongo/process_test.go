//go:build linux

package devmongo_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
)

// launcherEnv makes the test binary a launcher instead of running tests: it
// starts a devmongo process as the tests of other packages do, prints
// "devmongo <pid>" and waits to be killed.
const launcherEnv = "DEVMONGO_TEST_LAUNCHER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(launcherEnv); dir != "" {
		launcher(dir)
		return
	}
	code := m.Run()
	devmongotest.RemoveBinary()
	os.Exit(code)
}

func launcher(dir string) {
	p, err := devmongotest.StartProcess(dir, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("devmongo %d\n", p.Pid())
	time.Sleep(time.Hour) // until the test kills this process
	os.Exit(1)
}

// TestProcessDiesWithTestBinary SIGKILLs a test binary that launched a
// devmongo process, and checks that the devmongo process goes with it: it
// holds about 1 GiB once it has sorted a large collection.
func TestProcessDiesWithTestBinary(t *testing.T) {
	tmp := t.TempDir()
	l := exec.Command(os.Args[0], "-test.run=^$")
	// The launcher's temporary files (the built devmongo) go where this
	// test removes them, since the launcher never gets to.
	l.Env = append(os.Environ(), launcherEnv+"="+tmp+"/data", "TMPDIR="+tmp)
	l.Stderr = os.Stderr
	stdout, err := l.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := procs.Start(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Process.Kill() })

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "devmongo ") {
				line <- sc.Text()
				return
			}
		}
		line <- ""
	}()
	var pid int
	select {
	case s := <-line:
		if pid, err = strconv.Atoi(strings.TrimPrefix(s, "devmongo ")); err != nil {
			t.Fatalf("launcher printed %q, want devmongo <pid>", s)
		}
	case <-time.After(devmongotest.Timeout + time.Minute): // building devmongo, then starting it
		t.Fatal("launcher printed no devmongo pid")
	}
	if exited(pid) {
		t.Fatalf("devmongo %d is not running", pid)
	}

	if err := l.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := l.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("launcher: %v, want killed by SIGKILL", err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for !exited(pid) {
		select {
		case <-tick.C:
		case <-deadline:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("devmongo %d still running 5 s after the test binary that launched it was killed", pid)
		}
	}
}

// exited reports whether process pid has exited: it has no /proc entry, or
// it is a zombie that no one reaped yet (an orphan's new parent, init or a
// container's first process, may be slow to reap it, or never do).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) state ...": comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}
