package bench

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark line: one run of one benchmark at one GOMAXPROCS.
type Result struct {
	// Name is the benchmark's name without "Benchmark" and without the
	// -procs suffix, for example "Pipeline/ndjson-zstd".
	Name string
	// Procs is the GOMAXPROCS the run had (go test -cpu).
	Procs int
	// Iterations is the run's b.N.
	Iterations int
	// Metrics maps each unit ("ns/op", "MB/s", "docs/s", ...) to its value.
	Metrics map[string]float64
}

// Set is the parsed output of one or more go test -bench runs.
type Set struct {
	// CPU is the processor go test named on its "cpu:" line.
	CPU     string
	Results []Result
}

// Parse reads go test -bench output (the standard benchmark format). Lines
// that are not benchmark results are skipped; a "Benchmark" line that has
// an iteration count but cannot be read is an error.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if cpu, ok := strings.CutPrefix(text, "cpu: "); ok {
			s.CPU = strings.TrimSpace(cpu)
			continue
		}
		if !strings.HasPrefix(text, "Benchmark") {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			continue // a benchmark's name printed alone, before its log lines
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			continue // "BenchmarkX ... FAIL" and the like: not a result
		}
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("%w: line %d: values and units do not pair: %q", ErrSyntax, line, text)
		}
		res := Result{Iterations: n, Metrics: make(map[string]float64, (len(f)-2)/2)}
		res.Name, res.Procs = splitProcs(strings.TrimPrefix(f[0], "Benchmark"))
		for i := 2; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: value %q: %v", ErrSyntax, line, f[i], err)
			}
			res.Metrics[f[i+1]] = v
		}
		s.Results = append(s.Results, res)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(s.Results) == 0 {
		return nil, ErrNoResults
	}
	return s, nil
}

// splitProcs splits go test's -procs suffix off a name. go test adds it
// only when GOMAXPROCS is not 1, so a name without it ran at 1.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 1
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p < 1 {
		return name, 1
	}
	return name[:i], p
}

// Median returns the median of unit over the runs of name at procs, and
// how many runs reported it.
func (s *Set) Median(name string, procs int, unit string) (float64, int) {
	var vs []float64
	for _, r := range s.Results {
		if r.Name != name || r.Procs != procs {
			continue
		}
		if v, ok := r.Metrics[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, 0
	}
	slices.Sort(vs)
	m := len(vs) / 2
	if len(vs)%2 == 1 {
		return vs[m], len(vs)
	}
	return (vs[m-1] + vs[m]) / 2, len(vs)
}

// Procs returns the GOMAXPROCS values the set has runs at, in order.
func (s *Set) Procs() []int {
	var ps []int
	for _, r := range s.Results {
		if !slices.Contains(ps, r.Procs) {
			ps = append(ps, r.Procs)
		}
	}
	slices.Sort(ps)
	return ps
}

// Names returns the names of the benchmarks under prefix (for example
// "Pipeline/"), in the order they first ran, without the prefix.
func (s *Set) Names(prefix string) []string {
	var ns []string
	for _, r := range s.Results {
		if n, ok := strings.CutPrefix(r.Name, prefix); ok && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}
