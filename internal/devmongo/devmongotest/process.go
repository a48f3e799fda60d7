package devmongotest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a devmongo server in a process of its own, built without the
// race detector. FerretDB inside a -race test binary runs several times
// slower, which matters for tests that read tens of thousands of tasks.
type Process struct {
	// URI is the server's connection string.
	URI  string
	cmd  *exec.Cmd
	done chan error
	once sync.Once
	err  error
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// binary builds cmd/devmongo once per test binary.
func binary() (string, error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "devmongo-bin-")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(buildDir, "devmongo"), "github.com/exportd/exportd/cmd/devmongo").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build devmongo: %v\n%s", err, out)
		}
	})
	return filepath.Join(buildDir, "devmongo"), buildErr
}

// RemoveBinary deletes the built devmongo; call it from TestMain.
func RemoveBinary() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

var servingLine = regexp.MustCompile(`serving (mongodb://\S+)`)

// StartProcess runs devmongo serve on a free loopback port with its data in
// dir and returns once it accepts connections. addr may name the address
// (to restart a server where it was); empty picks a free port.
func StartProcess(dir, addr string) (*Process, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cmd := exec.Command(bin, "serve", "-addr", addr, "-dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan error, 1)}
	uri := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case uri <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.URI = <-uri:
		return p, nil
	case err := <-p.done:
		p.done <- err
		return nil, fmt.Errorf("devmongo serve exited before serving: %v", err)
	case <-time.After(Timeout):
		p.Stop()
		return nil, errors.New("devmongo serve did not start")
	}
}

// Spawn is StartProcess in tb's temporary directory, stopped when the test
// ends. It fails the test if the server does not start.
func Spawn(tb testing.TB) *Process {
	tb.Helper()
	p, err := StartProcess(tb.TempDir(), "")
	if err != nil {
		tb.Fatalf("devmongotest: %v", err)
	}
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Errorf("devmongotest: stop: %v", err)
		}
	})
	return p
}

// Stop ends the server (SIGTERM, then SIGKILL after ten seconds) and waits
// for it.
func (p *Process) Stop() error {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		select {
		case err := <-p.done:
			p.err = err
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			p.err = errors.Join(errors.New("devmongo did not stop on SIGTERM"), <-p.done)
		}
	})
	return p.err
}
