// Command benchtable runs the pipeline's benchmarks and prints a markdown
// table of their medians, set against the stages' ceilings and the
// throughput targets (see package bench).
//
//	go run ./bench/cmd/benchtable [flags] [-- go test flags]
//
// It runs go test -run '^$' -bench ... in the current directory, which
// must be the module's root, streaming go test's output to stderr; the
// table goes to stdout. With -in it reads saved output instead.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/exportd/exportd/bench"
)

// config is one invocation.
type config struct {
	// goCmd is the go command to run.
	goCmd string
	// pkg, pattern, benchtime, count, cpu and timeout are go test's.
	pkg, pattern, benchtime, cpu, timeout string
	count                                 int
	// extra are more go test flags, after "--".
	extra []string
	// out, if set, receives go test's output (for benchstat).
	out string
	// in, if set, is saved go test output to read instead of running.
	in string
	// check makes a missed target an error (exit 1).
	check bool
}

// errTargets marks a run whose figures missed a target under -check.
var errTargets = errors.New("targets missed")

// errUsage marks a command line that cannot be run; it exits 2.
var errUsage = errors.New("usage")

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A missed target under -check, a failed go test or unreadable output
	// all exit 1; the table, when there is one, is already printed.
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.StringVar(&cfg.goCmd, "go", "go", "the go command")
	fs.StringVar(&cfg.pkg, "pkg", "./pipeline", "the package whose benchmarks to run")
	fs.StringVar(&cfg.pattern, "bench", "^Benchmark(Pipeline|Ceiling)$", "go test -bench pattern")
	// Three exports of 200,000 documents a run: the first is checked in
	// full and warms the pools, and a run lasts a few seconds.
	fs.StringVar(&cfg.benchtime, "benchtime", "3x", "go test -benchtime")
	// Five runs give a median that one busy moment of a shared machine
	// does not move.
	fs.IntVar(&cfg.count, "count", 5, "go test -count: runs of each benchmark, whose median is shown")
	fs.StringVar(&cfg.cpu, "cpu", "1,2", "go test -cpu: the GOMAXPROCS values to run at")
	fs.StringVar(&cfg.timeout, "timeout", "60m", "go test -timeout")
	fs.StringVar(&cfg.out, "out", "", "also write go test's output to this file (for benchstat)")
	fs.StringVar(&cfg.in, "in", "", "read go test output from this file instead of running the benchmarks")
	fs.BoolVar(&cfg.check, "check", false, "exit 1 when a target is missed")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg.extra = fs.Args()
	if cfg.count < 1 {
		return nil, fmt.Errorf("%w: -count %d", errUsage, cfg.count)
	}
	return cfg, nil
}

// run gets the benchmark output (running go test, or from cfg.in), and
// writes the report to stdout.
func run(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	var raw []byte
	var load string
	if cfg.in != "" {
		b, err := os.ReadFile(cfg.in)
		if err != nil {
			return err
		}
		raw = b
	} else {
		before := loadAverage()
		b, err := runBenchmarks(ctx, cfg, stderr)
		if err != nil {
			return err
		}
		raw = b
		load = fmt.Sprintf("load average (1, 5, 15 min) before: %s; after: %s", before, loadAverage())
	}
	set, err := bench.Parse(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	rep := bench.Summarize(set, bench.IssueTargets)
	if cfg.in == "" {
		fmt.Fprintf(stdout, "```\n%s\n```\n\n", strings.Join(command(cfg), " "))
	}
	if load != "" {
		fmt.Fprintf(stdout, "%s\n\n", load)
	}
	if err := rep.Markdown(stdout); err != nil {
		return err
	}
	if failed := rep.Failed(); cfg.check && len(failed) > 0 {
		return fmt.Errorf("%w: %d", errTargets, len(failed))
	}
	return nil
}

// command is the go test command line that cfg runs.
func command(cfg *config) []string {
	args := []string{cfg.goCmd, "test", "-run", "^$", "-bench", cfg.pattern,
		"-benchtime", cfg.benchtime, "-count", fmt.Sprint(cfg.count), "-cpu", cfg.cpu,
		"-timeout", cfg.timeout}
	args = append(args, cfg.extra...)
	return append(args, cfg.pkg)
}

// runBenchmarks runs go test, copying its output to stderr as it comes
// (and to cfg.out), and returns the output.
func runBenchmarks(ctx context.Context, cfg *config, stderr io.Writer) ([]byte, error) {
	args := command(cfg)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	w := io.MultiWriter(&out, stderr)
	if cfg.out != "" {
		f, err := os.Create(cfg.out)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		w = io.MultiWriter(&out, stderr, f)
	}
	cmd.Stdout, cmd.Stderr = w, stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}

// loadAverage is the machine's load average, which says how much a shared
// machine's other work took from the run; "?" where it cannot be read.
func loadAverage() string {
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
