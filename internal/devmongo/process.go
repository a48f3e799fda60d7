package devmongo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/exportd/exportd/internal/procs"
)

// Process is `devmongo serve` running as a process of its own: its CPU is
// not its client's, and a client built with the race detector does not
// slow it down. It dies with the process that launched it, even one killed
// with SIGKILL (see package procs).
type Process struct {
	// URI is the server's connection string.
	URI  string
	cmd  *exec.Cmd
	done chan error
	once sync.Once
	err  error
}

var servingLine = regexp.MustCompile(`serving (mongodb://\S+)`)

// Launch runs `bin serve` with its data in dir and returns once it
// serves, or an error when it exits first or does not serve within
// timeout. addr may name the address (to restart a server where it was);
// empty picks a free loopback port.
func Launch(bin, dir, addr string, timeout time.Duration) (*Process, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cmd := exec.Command(bin, "serve", "-addr", addr, "-dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := procs.Start(cmd); err != nil {
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
	case <-time.After(timeout):
		p.Stop()
		return nil, errors.New("devmongo serve did not start")
	}
}

// Pid is the server's process id.
func (p *Process) Pid() int {
	return p.cmd.Process.Pid
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
