package main

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/bench"
	"github.com/exportd/exportd/bench/e2e"
)

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.sizes) != 2 || len(cfg.exports) != 9 || len(cfg.baselines) != 4 || len(cfg.parts) != len(allParts) {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-baselines", "", "-parts", "e2e", "-sizes", "100, 2000"})
	if err != nil || len(cfg.baselines) != 0 || cfg.sizes[1] != 2000 || !cfg.has("e2e") || cfg.has("pipeline") {
		t.Errorf("narrowed: %+v, %v", cfg, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-sizes", "1000,100"}, "ascending"},
		{[]string{"-sizes", "lots"}, `"lots"`},
		{[]string{"-parts", "e2e,speed"}, `"speed"`},
		{[]string{"-count", "0"}, "-count"},
		{[]string{"extra"}, `"extra"`},
	} {
		_, err := parseFlags(tc.args)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error naming %s", tc.args, err, tc.want)
		}
	}
}

// fakeResults are figures in the shape a run produces, chosen so that
// some targets are met and some are not.
func fakeResults() *results {
	run := func(tool string, size int64, format, comp string, wall, cpu time.Duration, rssMiB int64) e2e.Run {
		return e2e.Run{Tool: tool, Size: size, Format: format, Compression: comp, Wall: wall, CPU: cpu,
			RSS: rssMiB << 20, Out: 1 << 20, Records: size, Command: tool + " --uri mongodb://127.0.0.1:5/ --out /tmp/x"}
	}
	r := &results{sizes: []int64{1000, 10000}, e2e: &e2e.Results{}}
	for _, size := range r.sizes {
		k := time.Duration(size / 1000)
		r.e2e.Runs = append(r.e2e.Runs,
			e2e.Run{Tool: e2e.ToolCursor, Size: size, Format: "all fields", Wall: k * time.Second, Records: size},
			e2e.Run{Tool: e2e.ToolCursor, Size: size, Format: "csv fields", Wall: k * time.Second, Records: size},
			run(e2e.ToolExportd, size, "csv", "zstd", k*1100*time.Millisecond, k*3*time.Millisecond, 40),
			run(e2e.ToolExportd, size, "json", "zstd", k*1300*time.Millisecond, k*5*time.Millisecond, 40+size/1000),
			run(e2e.ToolSeedNode, size, "csv", "", k*1400*time.Millisecond, k*18*time.Millisecond, 120),
			run(e2e.ToolSeedNode, size, "json", "", k*1500*time.Millisecond, k*20*time.Millisecond, 130),
			e2e.Run{Tool: e2e.ToolCursor, Size: size, Format: "all fields", Wall: k * time.Second, Records: size},
			e2e.Run{Tool: e2e.ToolCursor, Size: size, Format: "csv fields", Wall: k * time.Second, Records: size})
	}
	r.e2e.Resumes = []e2e.Resume{{At: 0.1, Done: 1000, FirstRecord: time.Second}, {At: 0.9, Done: 9000, FirstRecord: 1200 * time.Millisecond}}
	return r
}

func TestTargets(t *testing.T) {
	got := map[string]bool{}
	for _, tg := range collectTargets(fakeResults()) {
		got[tg.what] = tg.ok
	}
	for what, ok := range map[string]bool{
		"wall time ≤ 1.15× the bare cursor's, 10000 tasks, every format and compression":     false, // json/zstd at 1.3
		"CPU per document ≤ 0.2× the seed design's: csv/zstd against its csv, 10000 tasks":   true,  // 3 against 18 µs
		"CPU per document ≤ 0.2× the seed design's: json/zstd against its json, 10000 tasks": false, // 5 against 20 µs
		"peak RSS ≤ 0.5× the seed design's: json/zstd against its json, 10000 tasks":         true,  // 50 against 130 MiB
		"peak RSS ≤ 0.5× the seed design's: csv/zstd against its csv, 1000 tasks":            true,  // 40 against 120 MiB
		"peak RSS at 10000 tasks ≤ 1.1× at 1000, every format and compression":               false, // 50/41
		"peak RSS at 10000 tasks < 64 MiB":                                                   true,
		"resume at 90% ≤ 1.5× resume at 10%":                                                 true,
	} {
		if g, found := got[what]; !found || g != ok {
			t.Errorf("%s: found %v, met %v; want met %v\nall: %v", what, found, g, ok, got)
		}
	}
}

func TestResultsAndFigure(t *testing.T) {
	r := fakeResults()
	r.machine = bench.Machine{CPU: "test CPU", Cores: 2, Go: "go1.26", Commit: "abc"}
	r.costs = &bench.Set{Results: []bench.Result{
		{Name: "CheckpointCost/checkpoint=false", Procs: 2, Metrics: map[string]float64{"docs/s": 100}},
		{Name: "CheckpointCost/checkpoint=true", Procs: 2, Metrics: map[string]float64{"docs/s": 97}},
	}}
	cfg, err := parseFlags([]string{"-sizes", "1000,10000"})
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	writeResults(&md, cfg, r)
	for _, want := range []string{"| machine | test CPU, 2 CPUs", "## Targets", "## End to end against devmongo",
		"### Beside the design it replaces", "| 10000 | csv/zstd | csv | 0.79 | 0.17 |", "## Resume", "| 90% | 9000 | 1.20 |",
		"| CheckpointCost | 100 | 97.0 | +3.0% |", "exportd --uri $URI --out $OUT", "![", "go run ./bench/cmd/bench -sizes 1000,10000"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md.String())
		}
	}
	var img bytes.Buffer
	if err := renderFigure(&img, r); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&img); err != nil {
		t.Fatalf("figure: %v", err)
	}
	if err := renderFigure(&img, &results{}); !errors.Is(err, errNoFigure) {
		t.Errorf("figure without figures: %v", err)
	}
}
