//go:build linux

package procs_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
)

// helperEnv makes the test binary a helper instead of running tests: it
// starts `sleep 600` with procs.Start, prints "child <pid>" and waits.
const helperEnv = "PROCS_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		helper()
		return
	}
	os.Exit(m.Run())
}

func helper() {
	child := exec.Command("sleep", "600")
	if err := procs.Start(child); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("child %d\n", child.Process.Pid)
	err := child.Wait() // until the test kills this process
	fmt.Fprintf(os.Stderr, "sleep 600 ended: %v\n", err)
	os.Exit(1)
}

// TestChildDiesWithParent SIGKILLs a process that started a child with
// procs.Start, and checks that the kernel kills the child too.
func TestChildDiesWithParent(t *testing.T) {
	h := exec.Command(os.Args[0], "-test.run=^$")
	h.Env = append(os.Environ(), helperEnv+"=1")
	h.Stderr = os.Stderr
	stdout, err := h.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := procs.Start(h); err != nil {
		t.Fatal(err)
	}
	pid := readChildPID(t, stdout, time.Minute)
	if gone(pid) {
		t.Fatalf("child %d is not running", pid)
	}

	if err := h.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(); !procs.Killed(err) {
		t.Fatalf("helper: %v, want killed by SIGKILL", err)
	}
	waitGone(t, pid, 5*time.Second)
}

// TestChildOutlivesStartingThread starts a child from a goroutine whose OS
// thread exits at once, which is what fires a parent-death signal set the
// plain way (golang/go#27505): a child started by procs.Start runs to its
// end. The same start without procs shows that the thread's exit would
// have killed it.
func TestChildOutlivesStartingThread(t *testing.T) {
	t.Run("procs.Start", func(t *testing.T) {
		cmd := exec.Command("sleep", "0.5")
		onDyingThread(t, func() error { return procs.Start(cmd) })
		if err := cmd.Wait(); err != nil {
			t.Fatalf("sleep 0.5: %v, want a normal exit", err)
		}
	})
	t.Run("plain Pdeathsig", func(t *testing.T) {
		cmd := exec.Command("sleep", "10")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		onDyingThread(t, cmd.Start)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if !procs.Killed(err) {
				t.Fatalf("sleep 10: %v, want killed by SIGKILL", err)
			}
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatal("the starting thread's exit did not kill the child: the caveat this package works around is gone")
		}
	})
}

// Output and CombinedOutput give what os/exec's do.
func TestOutputs(t *testing.T) {
	script := func() *exec.Cmd { return exec.Command("sh", "-c", "echo out; echo err >&2; exit 3") }
	for _, c := range []struct {
		name       string
		run        func(*exec.Cmd) ([]byte, error)
		want       string
		wantStderr string // the ExitError's Stderr
	}{
		{"Output", procs.Output, "out\n", "err\n"},
		{"CombinedOutput", procs.CombinedOutput, "out\nerr\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.run(script())
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("error %v, want exit status 3", err)
			}
			if string(ee.Stderr) != c.wantStderr {
				t.Errorf("ExitError.Stderr %q, want %q", ee.Stderr, c.wantStderr)
			}
			if string(out) != c.want {
				t.Errorf("output %q, want %q", out, c.want)
			}
			set := script()
			set.Stdout = io.Discard
			if _, err := c.run(set); !errors.Is(err, procs.ErrOutputSet) {
				t.Errorf("with Stdout set: %v, want ErrOutputSet", err)
			}
		})
	}
}

// onDyingThread runs start in a goroutine locked to an OS thread, and
// returns once that goroutine has returned still locked, which makes the
// runtime end the thread.
func onDyingThread(t *testing.T, start func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go startLocked(start, errc)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// startLocked locks its goroutine to its OS thread, sends start's result
// to errc and returns still locked. The runtime never ends the main thread
// (it parks it instead), so when the goroutine lands there it keeps it
// locked while another goroutine, which must then run elsewhere, does the
// work.
func startLocked(start func() error, errc chan<- error) {
	runtime.LockOSThread()
	if syscall.Gettid() != syscall.Getpid() {
		errc <- start()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		startLocked(start, errc)
	}()
	<-done
	runtime.UnlockOSThread()
}

// readChildPID reads the helper's "child <pid>" line.
func readChildPID(t *testing.T, r io.Reader, timeout time.Duration) int {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "child ") {
				line <- sc.Text()
				return
			}
		}
		line <- ""
	}()
	select {
	case l := <-line:
		pid, err := strconv.Atoi(strings.TrimPrefix(l, "child "))
		if err != nil {
			t.Fatalf("helper printed %q, want child <pid>", l)
		}
		return pid
	case <-time.After(timeout):
		t.Fatalf("helper printed no child pid in %s", timeout)
		return 0
	}
}

// waitGone fails the test unless process pid has exited within timeout.
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !gone(pid) {
		select {
		case <-tick.C:
		case <-deadline:
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still running %s after its parent was killed", pid, timeout)
		}
	}
}

// gone reports whether process pid has exited: it has no /proc entry, or
// it is a zombie that no one reaped yet (an orphan's new parent, init or a
// container's first process, may be slow to reap it, or never do).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}
