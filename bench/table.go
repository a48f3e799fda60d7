package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Targets are the figures the pipeline benchmarks must reach.
type Targets struct {
	// OneCore is the least docs/s at GOMAXPROCS=1, by configuration.
	OneCore map[string]float64
	// Scaling is the least ratio of docs/s at 2 cores to docs/s at 1, for
	// the configurations in OneCore.
	Scaling float64
	// AllocsPerDoc is the most heap allocations per document, amortized.
	AllocsPerDoc float64
	// CeilingShare is the least share of its stages' ceiling (see Ceiling)
	// that a configuration must reach, at every core count.
	CeilingShare float64
}

// IssueTargets are the throughput issue's targets, for ~400-byte task
// documents.
var IssueTargets = Targets{
	OneCore:      map[string]float64{"ndjson-zstd": 350_000, "csv-gzip": 330_000},
	Scaling:      1.7,
	AllocsPerDoc: 1,
	CeilingShare: 0.8,
}

// Ceiling names the stage benchmarks (BenchmarkCeiling/...) that bound a
// pipeline configuration. With n cores its ceiling is
//
//	min(n × docs/s of Work, docs/s of Serial)
//
// each measured at the same GOMAXPROCS as the pipeline.
type Ceiling struct {
	// Work does all of the configuration's CPU work on one goroutine: n
	// cores can at best share it n ways.
	Work string
	// Serial is the stage that runs on one goroutine in the pipeline too,
	// so that no core count runs it faster; empty when there is none.
	Serial string
}

// Ceilings are the ceilings BenchmarkCeiling measures, by configuration.
var Ceilings = map[string]Ceiling{
	"ndjson-zstd": {Work: "encode+zstd-ndjson", Serial: "zstd"},
	"csv-gzip":    {Work: "encode+gzip-csv", Serial: "gzip"},
	"ndjson-none": {Work: "encode-ndjson"},
}

// Check is the outcome of one target.
type Check struct {
	Config string
	Procs  int
	// What names the figure: "docs/s", "allocs/doc", "ceiling share",
	// "scaling".
	What     string
	Got, Bar float64
	// Max is set when Got must not exceed Bar, rather than reach it.
	Max bool
	OK  bool
}

func (c Check) String() string {
	op := "≥"
	if c.Max {
		op = "≤"
	}
	return fmt.Sprintf("%s at %d core(s): %s %s, want %s %s", c.Config, c.Procs, c.What, num(c.Got), op, num(c.Bar))
}

func check(cfg string, procs int, what string, got, bar float64, max bool) Check {
	ok := got >= bar
	if max {
		ok = got <= bar
	}
	return Check{Config: cfg, Procs: procs, What: what, Got: got, Bar: bar, Max: max, OK: ok}
}

// Row is one benchmark at one GOMAXPROCS: medians over its runs, and for a
// pipeline configuration how it compares with its ceiling and its 1-core
// figure. A figure that could not be computed is 0.
type Row struct {
	Name  string
	Procs int
	Runs  int

	DocsPerSec, MBPerSec, DocsPerCPUSec, AllocsPerDoc float64
	// Smaller is how many times smaller the compressor made the stream
	// (stage rows only).
	Smaller float64
	// SealMs is the wall time per export that the writer spent sealing
	// chunks (pipeline rows only).
	SealMs float64

	// Ceiling is the stages' docs/s ceiling; Share is DocsPerSec/Ceiling.
	Ceiling, Share float64
	// CPUShare is the pipeline's docs/cpu-s over the Work loop's: the share
	// of the pipeline's CPU time that the stages' own work accounts for (1
	// means no overhead at all).
	CPUShare float64
	// Scaling is DocsPerSec over the 1-core row's (at more than 1 core).
	Scaling float64

	Checks []Check
}

// CoresUsed is the process's CPU time over the wall time: how many cores
// the runs actually had. On a machine shared with other work, a 2-core run
// that used about 1 says nothing about scaling.
func (r Row) CoresUsed() float64 {
	if r.DocsPerCPUSec == 0 {
		return 0
	}
	return r.DocsPerSec / r.DocsPerCPUSec
}

// Report is what a benchmark set says about the targets.
type Report struct {
	CPU string
	// Pipeline has a row per configuration and core count; Stages a row per
	// ceiling benchmark and core count.
	Pipeline, Stages []Row
}

// Summarize computes the report of s against t.
func Summarize(s *Set, t Targets) *Report {
	r := &Report{CPU: s.CPU}
	procs := s.Procs()
	for _, name := range s.Names("Ceiling/") {
		for _, p := range procs {
			if row, ok := medians(s, "Ceiling/"+name, p); ok {
				row.Name = name
				row.Smaller, _ = s.Median("Ceiling/"+name, p, "x-smaller")
				r.Stages = append(r.Stages, row)
			}
		}
	}
	for _, cfg := range s.Names("Pipeline/") {
		var one float64
		for _, p := range procs {
			row, ok := medians(s, "Pipeline/"+cfg, p)
			if !ok {
				continue
			}
			row.Name = cfg
			row.SealMs, _ = s.Median("Pipeline/"+cfg, p, "seal-ms/op")
			if p == 1 {
				one = row.DocsPerSec
			} else if one > 0 {
				row.Scaling = row.DocsPerSec / one
			}
			row.Ceiling, row.CPUShare = ceiling(s, cfg, p, row.DocsPerCPUSec)
			if row.Ceiling > 0 {
				row.Share = row.DocsPerSec / row.Ceiling
			}
			row.Checks = rowChecks(row, t)
			r.Pipeline = append(r.Pipeline, row)
		}
	}
	return r
}

func medians(s *Set, name string, p int) (Row, bool) {
	row := Row{Procs: p}
	row.DocsPerSec, row.Runs = s.Median(name, p, "docs/s")
	if row.Runs == 0 {
		return row, false
	}
	row.MBPerSec, _ = s.Median(name, p, "MB/s")
	row.DocsPerCPUSec, _ = s.Median(name, p, "docs/cpu-s")
	row.AllocsPerDoc, _ = s.Median(name, p, "allocs/doc")
	return row, true
}

// ceiling returns cfg's ceiling at p cores (from the stage runs at p, or
// at 1 when there are none at p), and the work loop's docs/cpu-s over
// cpu, the pipeline's.
func ceiling(s *Set, cfg string, p int, cpu float64) (docs, cpuShare float64) {
	c, ok := Ceilings[cfg]
	if !ok {
		return 0, 0
	}
	at := func(stage, unit string) float64 {
		v, n := s.Median("Ceiling/"+stage, p, unit)
		if n == 0 {
			v, _ = s.Median("Ceiling/"+stage, 1, unit)
		}
		return v
	}
	work := at(c.Work, "docs/s")
	if work == 0 {
		return 0, 0
	}
	docs = float64(p) * work
	if c.Serial != "" {
		if serial := at(c.Serial, "docs/s"); serial > 0 {
			docs = math.Min(docs, serial)
		}
	}
	if w := at(c.Work, "docs/cpu-s"); w > 0 && cpu > 0 {
		cpuShare = cpu / w
	}
	return docs, cpuShare
}

func rowChecks(row Row, t Targets) []Check {
	var cs []Check
	if bar, ok := t.OneCore[row.Name]; ok && row.Procs == 1 {
		cs = append(cs, check(row.Name, 1, "docs/s", row.DocsPerSec, bar, false))
	}
	if t.AllocsPerDoc > 0 {
		cs = append(cs, check(row.Name, row.Procs, "allocs/doc", row.AllocsPerDoc, t.AllocsPerDoc, true))
	}
	if t.CeilingShare > 0 && row.Ceiling > 0 {
		cs = append(cs, check(row.Name, row.Procs, "ceiling share", row.Share, t.CeilingShare, false))
	}
	if _, ok := t.OneCore[row.Name]; ok && t.Scaling > 0 && row.Procs == 2 && row.Scaling > 0 {
		cs = append(cs, check(row.Name, 2, "scaling", row.Scaling, t.Scaling, false))
	}
	return cs
}

// Starved says, for each core count above 1 at which no pipeline run used
// more than 60% of its cores, that the machine's other work took them: the
// scaling and ceiling share at that count then measure the machine, not
// the pipeline.
func (r *Report) Starved() []string {
	most := map[int]float64{}
	var procs []int
	for _, row := range r.Pipeline {
		if row.Procs < 2 {
			continue
		}
		if _, ok := most[row.Procs]; !ok {
			procs = append(procs, row.Procs)
		}
		most[row.Procs] = math.Max(most[row.Procs], row.CoresUsed())
	}
	var ws []string
	for _, p := range procs {
		if used := most[p]; used < 0.6*float64(p) {
			ws = append(ws, fmt.Sprintf("the %d-core runs used at most %s cores: other work on the machine had the rest, so their scaling and ceiling share say little about the pipeline", p, num(used)))
		}
	}
	return ws
}

// Failed returns the checks that missed their target.
func (r *Report) Failed() []Check {
	var f []Check
	for _, row := range r.Pipeline {
		for _, c := range row.Checks {
			if !c.OK {
				f = append(f, c)
			}
		}
	}
	return f
}

// Markdown writes the report as two markdown tables, the pipeline's and
// the stages', and a line per missed target.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	if r.CPU != "" {
		fmt.Fprintf(&b, "cpu: %s\n\n", r.CPU)
	}
	b.WriteString("| config | cores | runs | docs/s | MB/s | docs/cpu-s | cores used | allocs/doc | seal ms | ceiling docs/s | pipeline/ceiling | CPU share of stages | 2-core/1-core |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	total := 0
	for _, row := range r.Pipeline {
		marks := map[string]string{}
		for _, c := range row.Checks {
			total++
			marks[c.What] = mark(c)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s%s | %.1f | %s | %s | %s%s | %s | %s | %s%s | %s | %s%s |\n",
			row.Name, row.Procs, row.Runs,
			num(row.DocsPerSec), marks["docs/s"], row.MBPerSec, num(row.DocsPerCPUSec), orDash(row.CoresUsed()),
			num(row.AllocsPerDoc), marks["allocs/doc"], orDash(row.SealMs),
			orDash(row.Ceiling), orDash(row.Share), marks["ceiling share"], orDash(row.CPUShare),
			orDash(row.Scaling), marks["scaling"])
	}
	if len(r.Stages) > 0 {
		b.WriteString("\n| stage (one goroutine) | cores | runs | docs/s | MB/s | docs/cpu-s | cores used | allocs/doc | x smaller |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range r.Stages {
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %.1f | %s | %s | %s | %s |\n",
				row.Name, row.Procs, row.Runs, num(row.DocsPerSec), row.MBPerSec,
				num(row.DocsPerCPUSec), orDash(row.CoresUsed()), num(row.AllocsPerDoc), orDash(row.Smaller))
		}
	}
	for _, w := range r.Starved() {
		fmt.Fprintf(&b, "\nwarning: %s\n", w)
	}
	failed := r.Failed()
	fmt.Fprintf(&b, "\ntargets met: %d of %d\n", total-len(failed), total)
	for _, c := range failed {
		fmt.Fprintf(&b, "- missed: %s\n", c)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mark(c Check) string {
	if c.OK {
		return " ✓"
	}
	return " ✗"
}

func orDash(v float64) string {
	if v == 0 {
		return "—"
	}
	return num(v)
}

// num formats v with thousands separators from 1,000 up, with three
// significant digits below.
func num(v float64) string {
	if math.Abs(v) >= 1000 {
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		var out []byte
		for i := range len(s) {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		return string(out)
	}
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 0.01:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// The pipeline benchmarks' go test settings. Three exports of 200,000
// documents a run: the first is checked in full and warms the pools, and a
// run lasts a few seconds; five runs give a median that one busy moment of
// a shared machine does not move.
const (
	PipelinePattern   = "^Benchmark(Pipeline|Ceiling)$"
	PipelineBenchtime = "3x"
	PipelineCount     = 5
)

// Num formats v as the tables do: thousands separators from 1,000 up,
// three significant digits below.
func Num(v float64) string { return num(v) }
