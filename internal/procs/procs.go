// Package procs starts child processes that die with the process that
// started them, even when it is killed with SIGKILL and runs no cleanup.
//
// Tests and benchmarks start real servers (devmongo holds about 1 GiB once
// it has sorted a large collection) and real exportd binaries. A t.Cleanup
// or a deferred Stop ends them when the test binary returns normally, but
// nothing does when it dies otherwise: a test binary that panics on its
// -timeout, or is killed by the OOM killer or by hand, used to leave them
// running.
//
// # Guarantees
//
//   - On Linux, a process started by [Start], [Run], [Output] or
//     [CombinedOutput] gets SIGKILL from the kernel when the process that
//     started it exits, however it exits (PR_SET_PDEATHSIG).
//   - It does not get it earlier: the kernel sends the signal when the OS
//     thread that forked the child exits, not the process (the man page's
//     "parent" is a thread; golang/go#27505). The Go runtime ends a thread
//     whenever a goroutine that locked it with runtime.LockOSThread returns
//     without unlocking it, and any goroutine's fork may run on such a
//     thread. So every child is forked on one thread that nothing else runs
//     on and that never exits: a goroutine locked to it for the life of the
//     process, which serves every Start in turn.
//   - Only the child is bound, not its own children (a `go build`'s
//     compilers): when it dies they are reparented, as without procs.
//   - On other systems the functions start the process as os/exec does,
//     without the guarantee.
package procs

import (
	"bytes"
	"errors"
	"os/exec"
	"runtime"
	"sync"
)

// Start starts cmd as cmd.Start does, bound to this process's life (see the
// package's guarantees). cmd.SysProcAttr is created if nil; its other fields
// are kept. The caller waits for cmd with cmd.Wait as usual.
func Start(cmd *exec.Cmd) error {
	bind(cmd)
	done := make(chan error, 1)
	forker() <- startRequest{cmd: cmd, done: done}
	return <-done
}

// Run is cmd.Run with Start's guarantee: it starts cmd and waits for it.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return cmd.Wait()
}

// Output is cmd.Output with Start's guarantee: it runs cmd and returns its
// standard output. When cmd.Stderr is nil, an *exec.ExitError carries the
// standard error in its Stderr field.
func Output(cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil {
		return nil, ErrOutputSet
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	captured := cmd.Stderr == nil
	if captured {
		cmd.Stderr = &stderr
	}
	err := Run(cmd)
	var ee *exec.ExitError
	if captured && errors.As(err, &ee) {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput is cmd.CombinedOutput with Start's guarantee: it runs cmd
// and returns its standard output and standard error, interleaved as
// written.
func CombinedOutput(cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, ErrOutputSet
	}
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b // one pipe, as os/exec does for the same writer
	err := Run(cmd)
	return b.Bytes(), err
}

// startRequest asks the forking goroutine to start cmd; done receives
// cmd.Start's result.
type startRequest struct {
	cmd  *exec.Cmd
	done chan<- error
}

// forker returns the channel of the goroutine that starts every child. It
// is started on first use, locks its OS thread and never returns, so the
// thread that forks the children lives exactly as long as the process.
//
// Locking a goroutine to the thread for each child's life instead would
// also work, but that goroutine would have to outlive Start until the child
// exits, that is own cmd.Wait, and tie up one thread per running child;
// one thread for all costs nothing and leaves exec.Cmd's use unchanged.
// Starts are serialised, which costs only the fork and exec of each.
var forker = sync.OnceValue(func() chan<- startRequest {
	reqs := make(chan startRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread must not exit before the process
		for req := range reqs {
			req.done <- req.cmd.Start()
		}
	}()
	return reqs
})
