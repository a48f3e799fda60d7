package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// GoTest is one `go test -bench` invocation.
type GoTest struct {
	// Go is the go command.
	Go string
	// Pattern, Benchtime, CPU and Timeout are go test's -bench,
	// -benchtime, -cpu and -timeout; CPU may be empty (GOMAXPROCS).
	Pattern, Benchtime, CPU, Timeout string
	// Count is go test's -count.
	Count int
	// Extra are more go test flags.
	Extra []string
	// Pkgs are the packages whose benchmarks run.
	Pkgs []string
}

// Command is the command line t runs.
func (t GoTest) Command() []string {
	args := []string{t.Go, "test", "-run", "^$", "-bench", t.Pattern,
		"-benchtime", t.Benchtime, "-count", fmt.Sprint(t.Count)}
	if t.CPU != "" {
		args = append(args, "-cpu", t.CPU)
	}
	args = append(args, "-timeout", t.Timeout)
	args = append(args, t.Extra...)
	return append(args, t.Pkgs...)
}

// String is the command line as a shell takes it.
func (t GoTest) String() string {
	args := t.Command()
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()* ") {
			args[i] = "'" + a + "'"
		}
	}
	return strings.Join(args, " ")
}

// Run runs the benchmarks in the current directory, copying their output
// to progress as it comes (and to the file out, if not empty), and returns
// the output.
func (t GoTest) Run(ctx context.Context, progress io.Writer, out string) ([]byte, error) {
	args := t.Command()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var buf bytes.Buffer
	w := io.MultiWriter(&buf, progress)
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		w = io.MultiWriter(&buf, progress, f)
	}
	cmd.Stdout, cmd.Stderr = w, progress
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return buf.Bytes(), nil
}

// LoadAverage is the machine's load average over 1, 5 and 15 minutes,
// which says how much a shared machine's other work took from a run; "?"
// where it cannot be read.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
