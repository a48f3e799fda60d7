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
	"os/signal"
	"syscall"

	"github.com/exportd/exportd/bench"
)

// config is one invocation.
type config struct {
	// test is the go test command to run.
	test bench.GoTest
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
	cfg := &config{test: bench.GoTest{Pkgs: []string{"./pipeline"}}}
	t := &cfg.test
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.StringVar(&t.Go, "go", "go", "the go command")
	fs.StringVar(&t.Pkgs[0], "pkg", "./pipeline", "the package whose benchmarks to run")
	fs.StringVar(&t.Pattern, "bench", bench.PipelinePattern, "go test -bench pattern")
	fs.StringVar(&t.Benchtime, "benchtime", bench.PipelineBenchtime, "go test -benchtime")
	fs.IntVar(&t.Count, "count", bench.PipelineCount, "go test -count: runs of each benchmark, whose median is shown")
	fs.StringVar(&t.CPU, "cpu", "1,2", "go test -cpu: the GOMAXPROCS values to run at")
	fs.StringVar(&t.Timeout, "timeout", "60m", "go test -timeout")
	fs.StringVar(&cfg.out, "out", "", "also write go test's output to this file (for benchstat)")
	fs.StringVar(&cfg.in, "in", "", "read go test output from this file instead of running the benchmarks")
	fs.BoolVar(&cfg.check, "check", false, "exit 1 when a target is missed")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	t.Extra = fs.Args()
	if t.Count < 1 {
		return nil, fmt.Errorf("%w: -count %d", errUsage, t.Count)
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
		before := bench.LoadAverage()
		b, err := cfg.test.Run(ctx, stderr, cfg.out)
		if err != nil {
			return err
		}
		raw = b
		load = fmt.Sprintf("load average (1, 5, 15 min) before: %s; after: %s", before, bench.LoadAverage())
	}
	set, err := bench.Parse(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	rep := bench.Summarize(set, bench.IssueTargets)
	if cfg.in == "" {
		fmt.Fprintf(stdout, "```\n%s\n```\n\n", cfg.test)
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
