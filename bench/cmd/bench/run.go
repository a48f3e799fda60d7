package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exportd/exportd/bench"
	"github.com/exportd/exportd/bench/e2e"
)

// results is everything one run measured; a part that did not run is nil.
type results struct {
	machine               bench.Machine
	loadBefore, loadAfter string
	took                  time.Duration
	// commands are the commands the run ran, for RESULTS.md.
	commands []string

	pipeline    *bench.Report
	costs, http *bench.Set
	e2e         *e2e.Results
	sizes       []int64
}

// Benchmarks outside the pipeline's, and how long each runs.
var (
	costsTest = bench.GoTest{Pattern: "^Benchmark(CheckpointCost|ProgressCost)$", Benchtime: "3x", Timeout: "30m",
		Pkgs: []string{"./export", "./runner"}}
	httpTest = bench.GoTest{Pattern: "^BenchmarkHTTPDownload$", Benchtime: "4x", Timeout: "30m",
		Pkgs: []string{"./transport/httpapi"}}
)

func run(ctx context.Context, cfg *config) error {
	res := &results{machine: bench.Describe(ctx, cfg.goCmd), loadBefore: bench.LoadAverage(), sizes: cfg.sizes}
	start := time.Now()
	if err := os.MkdirAll(cfg.raw, 0o755); err != nil {
		return err
	}
	goTest := func(name string, t bench.GoTest) (*bench.Set, error) {
		t.Go = cfg.goCmd
		if t.Count == 0 {
			t.Count = cfg.count
		}
		res.commands = append(res.commands, t.String())
		fmt.Fprintf(os.Stderr, "== %s: %s\n", name, t)
		out, err := t.Run(ctx, os.Stderr, filepath.Join(cfg.raw, "bench-"+name+".txt"))
		if err != nil {
			return nil, err
		}
		return bench.Parse(bytes.NewReader(out))
	}
	if cfg.has("pipeline") {
		set, err := goTest("pipeline", bench.GoTest{Pattern: bench.PipelinePattern, Benchtime: bench.PipelineBenchtime,
			CPU: "1,2", Timeout: "60m", Pkgs: []string{"./pipeline"}})
		if err != nil {
			return err
		}
		res.pipeline = bench.Summarize(set, bench.IssueTargets)
	}
	if cfg.has("costs") {
		set, err := goTest("costs", costsTest)
		if err != nil {
			return err
		}
		res.costs = set
	}
	if cfg.has("http") {
		set, err := goTest("http", httpTest)
		if err != nil {
			return err
		}
		res.http = set
	}
	if cfg.has("e2e") || cfg.has("resume") {
		ecfg := e2e.Config{Bin: cfg.bin, Sizes: cfg.sizes, Resume: cfg.has("resume"), Log: os.Stderr}
		if cfg.has("e2e") {
			ecfg.Exports, ecfg.Baselines, ecfg.SeedNode = cfg.exports, cfg.baselines, cfg.seedNode
		} else {
			ecfg.Sizes = cfg.sizes[len(cfg.sizes)-1:]
		}
		fmt.Fprintf(os.Stderr, "== end to end on devmongo: sizes %v\n", ecfg.Sizes)
		r, err := e2e.Measure(ctx, ecfg)
		if err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
		res.e2e = r
	}
	res.took = time.Since(start)
	res.loadAfter = bench.LoadAverage()

	var md bytes.Buffer
	writeResults(&md, cfg, res)
	if _, err := os.Stdout.Write(md.Bytes()); err != nil {
		return err
	}
	if err := writeFile(cfg.results, md.Bytes()); err != nil {
		return err
	}
	var png bytes.Buffer
	switch err := renderFigure(&png, res); {
	case errors.Is(err, errNoFigure):
		fmt.Fprintf(os.Stderr, "wrote %s; not %s: %v\n", cfg.results, cfg.png, err)
		return nil
	case err != nil:
		return fmt.Errorf("figure: %w", err)
	}
	if err := writeFile(cfg.png, png.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %s in %s\n", cfg.results, cfg.png, res.took.Round(time.Second))
	return nil
}

// writeFile replaces name with b, through a temporary file so that an
// interrupted run leaves the last results whole.
func writeFile(name string, b []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// sizesFlag is the sizes as -sizes takes them.
func sizesFlag(s []int64) string {
	out := make([]string, len(s))
	for i, n := range s {
		out[i] = fmt.Sprint(n)
	}
	return strings.Join(out, ",")
}
