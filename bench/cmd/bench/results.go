package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exportd/exportd/bench"
	"github.com/exportd/exportd/bench/e2e"
)

// target is one of the performance targets, as measured.
type target struct {
	what     string
	measured string
	ok       bool
}

// writeResults writes RESULTS.md.
func writeResults(w io.Writer, cfg *config, r *results) {
	m := r.machine
	fmt.Fprintf(w, "# exportd benchmark results\n\n")
	fmt.Fprintf(w, "Written by `make bench` (`%s`); every figure below was measured in that one run, each beside what it is compared with.\n\n", benchCommand(cfg))
	fmt.Fprintf(w, "| | |\n|---|---|\n")
	fmt.Fprintf(w, "| date | %s |\n", m.Date.Format(time.RFC3339))
	fmt.Fprintf(w, "| machine | %s, %d CPUs, %.1f GiB RAM, Linux %s |\n", m.CPU, m.Cores, float64(m.Memory)/(1<<30), m.Kernel)
	fmt.Fprintf(w, "| Go | %s |\n", m.Go)
	if r.e2e != nil && r.e2e.NodeVersion != "" {
		fmt.Fprintf(w, "| Node.js (seed-node baseline) | %s |\n", r.e2e.NodeVersion)
	}
	fmt.Fprintf(w, "| commit | %s |\n", m.Commit)
	fmt.Fprintf(w, "| load average (1, 5, 15 min) | before: %s; after: %s |\n", r.loadBefore, r.loadAfter)
	fmt.Fprintf(w, "| duration | %s |\n\n", r.took.Round(time.Second))
	fmt.Fprintf(w, "The machine is shared with other work, so absolute times drift from run to run; the ratios, measured side by side, are what to compare.\n\n")
	fmt.Fprintf(w, "![docs/s per format and compression; peak RSS against documents exported](%s)\n\n", filepath.Base(cfg.png))

	targets := collectTargets(r)
	if len(targets) > 0 {
		met := 0
		fmt.Fprintf(w, "## Targets\n\n| target | measured | met |\n|---|---|:-:|\n")
		for _, t := range targets {
			mk := "✗"
			if t.ok {
				mk, met = "✓", met+1
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", t.what, t.measured, mk)
		}
		fmt.Fprintf(w, "\n%d of %d met.\n\n", met, len(targets))
		if met < len(targets) {
			if b, err := os.ReadFile("bench/MISSES.md"); err == nil {
				fmt.Fprintf(w, "%s\n", strings.TrimSpace(string(b)))
				fmt.Fprintln(w)
			}
		}
	}
	if r.pipeline != nil {
		fmt.Fprintf(w, "## The pipeline beside its own stages (in memory)\n\n")
		fmt.Fprintf(w, "200,000 tasks held in memory, exported to chunk files on disk (`pipeline.Run`), beside the same encoder and compressor run in a plain loop on one goroutine over the same documents; see [README.md](README.md) for what each column means. Medians of %d runs.\n\n", cfg.count)
		_ = r.pipeline.Markdown(w)
		fmt.Fprintln(w)
	}
	if r.e2e != nil && len(r.e2e.Runs) > 0 {
		writeE2E(w, r)
	}
	if r.e2e != nil && len(r.e2e.Resumes) > 0 {
		fmt.Fprintf(w, "## Resume\n\nAn ndjson/zstd export of %d tasks in 10 chunks is killed (SIGKILL) right after the chunk that ends at 10%% or 90%% is committed, then started again with the same command; the time runs from the restart's exec to its first new record (the line it prints then). devmongo (FerretDB on SQLite) reads and sorts the whole collection for a sorted query, wherever it starts; on MongoDB the resume's keyset condition is an index range.\n\n", r.sizes[len(r.sizes)-1])
		fmt.Fprintf(w, "| killed at | records committed | restart → first new record s |\n|---:|---:|---:|\n")
		for _, rs := range r.e2e.Resumes {
			fmt.Fprintf(w, "| %.0f%% | %d | %.2f |\n", rs.At*100, rs.Done, rs.FirstRecord.Seconds())
		}
		fmt.Fprintln(w)
	}
	if r.http != nil {
		writeHTTP(w, r.http)
	}
	if r.costs != nil {
		writeCosts(w, r.costs)
	}
	fmt.Fprintf(w, "## Commands\n\nThe run, as `make bench` starts it:\n\n```\n%s\n```\n\nwhich ran:\n\n```\n", benchCommand(cfg))
	for _, c := range r.commands {
		fmt.Fprintln(w, c)
	}
	if r.e2e != nil {
		seen := map[string]bool{}
		for _, run := range r.e2e.Runs {
			if c := genericCommand(run.Command); !seen[c] {
				seen[c] = true
				fmt.Fprintln(w, c)
			}
		}
		for _, rs := range r.e2e.Resumes {
			fmt.Fprintf(w, "%s; %s\n", genericCommand(rs.Kill), genericCommand(rs.Command))
		}
	}
	fmt.Fprintf(w, "```\n")
}

// benchCommand is the command line that reproduces this run.
func benchCommand(cfg *config) string {
	return fmt.Sprintf("go run ./bench/cmd/bench -sizes %s -parts %s -count %d", sizesFlag(cfg.sizes), strings.Join(cfg.parts, ","), cfg.count)
}

// genericCommand replaces a run's temporary paths and server address with
// placeholders, so that one line stands for the same command at every size.
func genericCommand(c string) string {
	f := strings.Fields(c)
	for i := 1; i < len(f); i++ {
		switch f[i-1] {
		case "--uri":
			f[i] = "$URI"
		case "--out":
			f[i] = "$OUT"
		}
		if strings.HasSuffix(f[i], "index.js") {
			f[i] = "seed-node/index.js"
		}
	}
	return strings.Join(f, " ")
}

func writeE2E(w io.Writer, r *results) {
	res := r.e2e
	fmt.Fprintf(w, "## End to end against devmongo\n\n")
	fmt.Fprintf(w, "Each tool is a process of its own reading the whole `tasks` collection from devmongo (FerretDB on SQLite, a process of its own too); wall time and CPU (user+sys) come from the kernel (wait4's rusage), peak RSS from the process's VmHWM in /proc, read while it runs. The bare cursor runs exportd's query (the same filter, `_id` order, batches of 1,000 and, for csv, the same projection of its columns) and reads the whole result doing nothing else, once before and once after each size's runs; each tool's wall time is given as a ratio to their mean (exportd's csv to the projected cursor's). devmongo burns more than a core serving one cursor, so wall time is the server's: CPU per document is what each tool itself costs. `exportd export` runs with `--quiet` (no count is asked for) and csv with the seed design's columns (`%s`).\n\n", e2e.CSVFields)
	fmt.Fprintf(w, "| tasks | tool | format/compression | wall s | wall / bare cursor | docs/s | CPU s | CPU µs/doc | peak RSS MiB | output MiB |\n")
	fmt.Fprintf(w, "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, size := range r.sizes {
		for _, run := range res.Runs {
			if run.Size != size {
				continue
			}
			ratio := "—"
			if cur := cursorFor(res, run); run.Tool != e2e.ToolCursor && cur > 0 {
				ratio = fmt.Sprintf("%.2f", run.Wall.Seconds()/cur.Seconds())
			}
			cpu, perDoc, rss, out := "—", "—", "—", "—"
			if run.Tool != e2e.ToolCursor {
				cpu = fmt.Sprintf("%.2f", run.CPU.Seconds())
				perDoc = fmt.Sprintf("%.2f", cpuPerDoc(run))
				rss = fmt.Sprintf("%.1f", mib(run.RSS))
				out = fmt.Sprintf("%.1f", mib(run.Out))
			}
			fmt.Fprintf(w, "| %d | %s | %s | %.1f | %s | %s | %s | %s | %s | %s |\n", size, run.Tool, run.Config(),
				run.Wall.Seconds(), ratio, bench.Num(float64(run.Records)/run.Wall.Seconds()), cpu, perDoc, rss, out)
		}
	}
	fmt.Fprintln(w)
	pairs := seedPairs(res, r.sizes)
	if len(pairs) == 0 {
		return
	}
	fmt.Fprintf(w, "### Beside the design it replaces\n\n")
	fmt.Fprintf(w, "The seed-node baseline (`../shared/baselines/seed-node`, installed with `npm ci` from its lock file): the official `mongodb` driver's cursor in batches of 1,000 → an objectMode Transform to csv or pretty JSON → gzip level 1 when asked → a file, on the same collection in the same run. Ratios are exportd's figure over the baseline's (below 1: exportd spends less).\n\n")
	fmt.Fprintf(w, "| tasks | exportd | seed-node | wall ratio | CPU/doc ratio | peak RSS ratio | output ratio |\n|---:|---|---|---:|---:|---:|---:|\n")
	for _, p := range pairs {
		fmt.Fprintf(w, "| %d | %s | %s | %.2f | %.2f | %.2f | %.2f |\n", p.ours.Size, p.ours.Config(), p.seed.Config(),
			p.ours.Wall.Seconds()/p.seed.Wall.Seconds(), cpuPerDoc(p.ours)/cpuPerDoc(p.seed),
			float64(p.ours.RSS)/float64(p.seed.RSS), float64(p.ours.Out)/float64(p.seed.Out))
	}
	fmt.Fprintln(w)
}

// cursorFor is the mean bare cursor time to compare run with: the one
// with csv's projection for exportd's csv (the seed design reads whole
// documents for csv too).
func cursorFor(res *e2e.Results, run e2e.Run) time.Duration {
	if run.Tool == e2e.ToolExportd {
		return res.Cursor(run.Size, run.Format)
	}
	return res.Cursor(run.Size, "")
}

// pair is an exportd run beside the baseline's run it compares with.
type pair struct{ ours, seed e2e.Run }

// seedPairs pairs each baseline run with exportd's same format: zstd (the
// default) against the uncompressed baseline, gzip against gzip.
func seedPairs(res *e2e.Results, sizes []int64) []pair {
	var out []pair
	for _, size := range sizes {
		for _, s := range res.Runs {
			if s.Tool != e2e.ToolSeedNode || s.Size != size {
				continue
			}
			want := []string{s.Format + "/zstd", s.Format + "/none"}
			if s.Compression == "gzip" {
				want = []string{s.Format + "/gzip"}
			}
			for _, c := range want {
				if o, ok := res.Find(e2e.ToolExportd, size, c); ok {
					out = append(out, pair{o, s})
				}
			}
		}
	}
	return out
}

func cpuPerDoc(r e2e.Run) float64 {
	if r.Records == 0 {
		return math.NaN()
	}
	return float64(r.CPU.Microseconds()) / float64(r.Records)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func writeHTTP(w io.Writer, s *bench.Set) {
	fmt.Fprintf(w, "## Serving over HTTP\n\n`BenchmarkHTTPDownload` (transport/httpapi/): a 256 MiB export served by the daemon's HTTP handler over loopback to a Go client, every body checked against the CRC-32C of the bytes written. `chunk` is one sealed chunk file; `data-4chunks` the same bytes in 4 chunks served as one file (`/data`); `whole` is one GET, `ranges8` eight parallel Range requests that cover it. MB/s is 10⁶ bytes a second, median of the runs.\n\n")
	fmt.Fprintf(w, "| download | runs | MB/s |\n|---|---:|---:|\n")
	for _, name := range s.Names("HTTPDownload/") {
		v, n := s.Median("HTTPDownload/"+name, procsOf(s), "MB/s")
		fmt.Fprintf(w, "| %s | %d | %s |\n", name, n, bench.Num(v))
	}
	fmt.Fprintln(w)
}

func writeCosts(w io.Writer, s *bench.Set) {
	fmt.Fprintf(w, "## What the checkpoint and progress publishing cost\n\nThe pipeline over 200,000 in-memory tasks with and without each: `CheckpointCost` records every chunk in bbolt (fsync) and rewrites the manifest, in chunks of 20,000 records; `ProgressCost` publishes every progress event through the daemon's publisher to an embedded NATS server with a subscriber. Medians of the runs; the cost is 1 − with/without (negative: inside the noise).\n\n")
	fmt.Fprintf(w, "| benchmark | without docs/s | with docs/s | cost |\n|---|---:|---:|---:|\n")
	for _, c := range costPairs {
		without, with, ok := costOf(s, c)
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %+.1f%% |\n", c.name, bench.Num(without), bench.Num(with), 100*(1-with/without))
	}
	fmt.Fprintln(w)
}

// cost names a with/without benchmark pair.
type cost struct {
	name, without, with string
	limit               float64
}

var costPairs = []cost{
	{"CheckpointCost", "CheckpointCost/checkpoint=false", "CheckpointCost/checkpoint=true", 0.05},
	{"ProgressCost", "ProgressCost/progress=false", "ProgressCost/progress=true", 0.02},
}

func costOf(s *bench.Set, c cost) (without, with float64, ok bool) {
	p := procsOf(s)
	without, n1 := s.Median(c.without, p, "docs/s")
	with, n2 := s.Median(c.with, p, "docs/s")
	return without, with, n1 > 0 && n2 > 0 && without > 0
}

// procsOf is the GOMAXPROCS of the set's first result: these benchmarks
// run at one.
func procsOf(s *bench.Set) int {
	if len(s.Results) == 0 {
		return 1
	}
	return s.Results[0].Procs
}
