// Command bench is `make bench`: it measures exportd side by side with
// what it is judged against, in one run, and writes the results as
// markdown (bench/RESULTS.md) and a figure (bench/throughput.png).
//
//	go run ./bench/cmd/bench [flags]
//
// The parts, each measured in this run:
//
//   - pipeline: the pipeline and its stages alone, at 1 and 2 cores, on
//     in-memory tasks (go test -bench in pipeline/, see cmd/benchtable);
//   - costs: what the checkpoint and progress publishing cost the pipeline;
//   - http: download throughput of a sealed chunk, of a whole export and
//     of 8 parallel ranges, on loopback;
//   - e2e: exportd export against devmongo for every format and
//     compression, beside a bare cursor and the seed-node baseline;
//   - resume: restart to first new record at 10% and 90% of the largest
//     collection.
//
// It must run in the module's root, with the binaries built (make build).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// config is one run's settings.
type config struct {
	goCmd     string
	bin       string
	sizes     []int64
	exports   []string
	baselines []string
	seedNode  string
	parts     []string
	count     int
	results   string
	png       string
	raw       string
}

// allParts are the parts, in the order they run.
var allParts = []string{"pipeline", "costs", "http", "e2e", "resume"}

var errUsage = errors.New("usage")

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	var sizes, exports, baselines, parts string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&cfg.goCmd, "go", "go", "the go command")
	fs.StringVar(&cfg.bin, "bin", "bin", "directory with the exportd and devmongo binaries (make build)")
	fs.StringVar(&sizes, "sizes", "100000,1000000", "collection sizes for the end-to-end runs, ascending")
	fs.StringVar(&exports, "exports", "ndjson/none,ndjson/gzip,ndjson/zstd,json/none,json/gzip,json/zstd,csv/none,csv/gzip,csv/zstd",
		"exportd's format/compression pairs, end to end")
	fs.StringVar(&baselines, "baselines", "csv,csv/gzip,json,json/gzip", "the seed-node baseline's runs, end to end (empty: none)")
	fs.StringVar(&cfg.seedNode, "seed-node", "../shared/baselines/seed-node", "the seed-node baseline's directory")
	fs.StringVar(&parts, "parts", strings.Join(allParts, ","), "the parts to run: "+strings.Join(allParts, ", "))
	fs.IntVar(&cfg.count, "count", 5, "runs of each go benchmark, whose median is shown")
	fs.StringVar(&cfg.results, "results", "bench/RESULTS.md", "the markdown results file to write")
	fs.StringVar(&cfg.png, "png", "bench/throughput.png", "the figure to write")
	fs.StringVar(&cfg.raw, "raw", "bin", "directory for go test's raw output (bench-*.txt, for benchstat)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	for _, s := range splitList(sizes) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 10 {
			return nil, fmt.Errorf("%w: -sizes: %q is not a collection size", errUsage, s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if len(cfg.sizes) == 0 || !slices.IsSorted(cfg.sizes) {
		return nil, fmt.Errorf("%w: -sizes %q: give one or more sizes, ascending", errUsage, sizes)
	}
	cfg.exports, cfg.baselines = splitList(exports), splitList(baselines)
	cfg.parts = splitList(parts)
	for _, p := range cfg.parts {
		if !slices.Contains(allParts, p) {
			return nil, fmt.Errorf("%w: -parts: unknown part %q (want %s)", errUsage, p, strings.Join(allParts, ", "))
		}
	}
	if cfg.count < 1 {
		return nil, fmt.Errorf("%w: -count %d", errUsage, cfg.count)
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *config) has(part string) bool { return slices.Contains(c.parts, part) }

// errNoFigure marks a run without the figures for throughput.png: it
// needs the pipeline or e2e part for the bars and the e2e part for RSS.
var errNoFigure = errors.New("the figure needs the pipeline (or e2e) and e2e parts")
