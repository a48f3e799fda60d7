package devmongotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/procs"
)

// Process is a devmongo server in a process of its own, built without the
// race detector, that dies with the test binary however it ends. FerretDB inside a -race test binary runs several times
// slower, which matters for tests that read tens of thousands of tasks.
type Process = devmongo.Process

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
		out, err := procs.CombinedOutput(exec.Command("go", "build", "-o", filepath.Join(buildDir, "devmongo"), "github.com/exportd/exportd/cmd/devmongo"))
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

// StartProcess runs devmongo serve on a free loopback port with its data in
// dir and returns once it accepts connections. addr may name the address
// (to restart a server where it was); empty picks a free port.
func StartProcess(dir, addr string) (*Process, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	return devmongo.Launch(bin, dir, addr, Timeout)
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
