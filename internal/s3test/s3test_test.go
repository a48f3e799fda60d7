//go:build linux

package s3test_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
)

// helperEnv makes TestHelperProcess spawn a server, print its pid and
// wait to be killed; without it that test does nothing.
const helperEnv = "S3TEST_HELPER"

func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	srv := s3test.Spawn(t)
	fmt.Printf("versitygw %d\n", srv.Pid())
	time.Sleep(time.Hour) // until the test kills this process
}

// TestServerDiesWithTestBinary SIGKILLs a test binary that spawned a
// versitygw, and checks that the versitygw goes with it.
func TestServerDiesWithTestBinary(t *testing.T) {
	tmp := t.TempDir()
	h := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	h.Env = append(os.Environ(), helperEnv+"=1", "TMPDIR="+tmp) // its temp dir is this test's to remove
	h.Stderr = os.Stderr
	stdout, err := h.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := procs.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Process.Kill() })

	pids := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "versitygw "); ok {
				if pid, err := strconv.Atoi(rest); err == nil {
					pids <- pid
				}
			}
		}
		close(pids)
	}()
	var pid int
	select {
	case p, ok := <-pids:
		if !ok {
			t.Fatal("the helper exited without spawning a server")
		}
		pid = p
	case <-time.After(time.Minute):
		t.Fatal("the helper did not spawn a server within a minute")
	}
	if !alive(pid) {
		t.Fatalf("versitygw %d is not running", pid)
	}
	if err := h.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := h.Wait(); !procs.Killed(err) {
		t.Fatalf("helper: %v, want killed by SIGKILL", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("versitygw %d outlived the test binary that spawned it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestSpawnStopKill(t *testing.T) {
	srv := s3test.Spawn(t)
	if !strings.HasPrefix(srv.Endpoint, "127.0.0.1:") {
		t.Fatalf("Endpoint %q is not on loopback", srv.Endpoint)
	}
	if fi, err := os.Stat(filepath.Join(srv.Dir, srv.Bucket)); err != nil || !fi.IsDir() {
		t.Fatalf("bucket directory: %v", err)
	}
	if _, err := objstore.New(context.Background(), srv.Config("p")); err != nil {
		t.Fatalf("objstore.New on the server's Config: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := net.Dial("tcp", srv.Endpoint); err == nil {
		c.Close()
		t.Fatal("the server still listens after Stop")
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}

	other := s3test.Spawn(t)
	other.Kill()
	if c, err := net.Dial("tcp", other.Endpoint); err == nil {
		c.Close()
		t.Fatal("the server still listens after Kill")
	}
}

func TestBinary(t *testing.T) {
	t.Run("VERSITYGW names a missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "versitygw")
		t.Setenv("VERSITYGW", missing)
		_, err := s3test.Binary()
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "$VERSITYGW") {
			t.Fatalf("Binary: %v, want a $VERSITYGW not-exist error", err)
		}
	})
	t.Run("nowhere", func(t *testing.T) {
		gopath := t.TempDir()
		t.Setenv("VERSITYGW", "")
		t.Setenv("PATH", filepath.Join(runtime.GOROOT(), "bin")) // go, and no versitygw
		t.Setenv("GOPATH", gopath)
		_, err := s3test.Binary()
		want := "at " + filepath.Join(gopath, "bin", "versitygw") + ": install it with scripts/install-versitygw.sh"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Binary: %v, want an error saying %s", err, want)
		}
	})
	t.Run("found", func(t *testing.T) {
		p, err := s3test.Binary()
		if err != nil {
			t.Fatal(err)
		}
		out, err := procs.CombinedOutput(exec.Command(p, "--version"))
		if err != nil {
			t.Fatalf("%s --version: %v\n%s", p, err, out)
		}
	})
}

func TestArgs(t *testing.T) {
	got := strings.Join(s3test.Args("AK", "SK", "127.0.0.1:7070", "us-east-1", "/d"), " ")
	want := "--access AK --secret SK --port 127.0.0.1:7070 --region us-east-1 --quiet posix /d"
	if got != want {
		t.Errorf("Args = %q, want %q", got, want)
	}
}
