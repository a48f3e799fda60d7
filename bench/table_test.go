package bench

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// sample is go test -bench output at -cpu 1,2 -count 2, cut down.
const sample = `goos: linux
goarch: amd64
pkg: github.com/exportd/exportd/pipeline
cpu: AMD EPYC
BenchmarkPipeline/ndjson-zstd         	       3	 500000000 ns/op	 160.00 MB/s	 0.010 allocs/doc	 420000 docs/cpu-s	 400000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkPipeline/ndjson-zstd         	       3	 500000000 ns/op	 150.00 MB/s	 0.012 allocs/doc	 410000 docs/cpu-s	 380000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkPipeline/ndjson-zstd-2       	       3	 300000000 ns/op	 260.00 MB/s	 0.010 allocs/doc	 400000 docs/cpu-s	 700000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkPipeline/ndjson-zstd-2       	       3	 300000000 ns/op	 280.00 MB/s	 0.010 allocs/doc	 400000 docs/cpu-s	 720000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkPipeline/csv-gzip            	       3	 900000000 ns/op	 90.00 MB/s	 1.5 allocs/doc	 250000 docs/cpu-s	 220000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkPipeline/json-zstd-2         	       3	 900000000 ns/op	 90.00 MB/s	 12 seal-ms/op	 0.01 allocs/doc	 250000 docs/cpu-s	 220000 docs/s	35068936 B/op	    2053 allocs/op
BenchmarkCeiling/zstd                 	       3	 556230893 ns/op	 144.41 MB/s	 0.0000967 allocs/doc	 900000 docs/cpu-s	 800000 docs/s	 6.923 x-smaller	 6300181 B/op	 19 allocs/op
BenchmarkCeiling/zstd-2               	       3	 556230893 ns/op	 144.41 MB/s	 0.0000967 allocs/doc	 900000 docs/cpu-s	 800000 docs/s	 6.923 x-smaller	 6300181 B/op	 19 allocs/op
BenchmarkCeiling/encode+zstd-ndjson   	       3	 850756086 ns/op	 94.42 MB/s	 0.0000967 allocs/doc	 480000 docs/cpu-s	 450000 docs/s	 6.923 x-smaller	 6300176 B/op	 19 allocs/op
BenchmarkCeiling/encode+zstd-ndjson-2 	       3	 850756086 ns/op	 94.42 MB/s	 0.0000967 allocs/doc	 480000 docs/cpu-s	 450000 docs/s	 6.923 x-smaller	 6300176 B/op	 19 allocs/op
--- FAIL: BenchmarkPipeline/broken
BenchmarkOther-2 FAIL
PASS
ok  	github.com/exportd/exportd/pipeline	14.038s
`

func TestParse(t *testing.T) {
	s, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != "AMD EPYC" || len(s.Results) != 10 {
		t.Fatalf("cpu %q, %d results", s.CPU, len(s.Results))
	}
	r := s.Results[2]
	if r.Name != "Pipeline/ndjson-zstd" || r.Procs != 2 || r.Iterations != 3 || r.Metrics["docs/s"] != 700000 {
		t.Fatalf("third result: %+v", r)
	}
	if got := s.Results[8]; got.Name != "Ceiling/encode+zstd-ndjson" || got.Procs != 1 {
		t.Fatalf("ninth result: %+v", got)
	}
	if m, n := s.Median("Pipeline/ndjson-zstd", 1, "docs/s"); m != 390000 || n != 2 {
		t.Errorf("median %v of %d runs, want 390000 of 2", m, n)
	}
	if got := s.Names("Pipeline/"); strings.Join(got, " ") != "ndjson-zstd csv-gzip json-zstd" {
		t.Errorf("names %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     error
	}{
		{"empty", "PASS\n", ErrNoResults},
		{"unpaired", "BenchmarkX 3 100 ns/op 5\n", ErrSyntax},
		{"bad value", "BenchmarkX 3 fast ns/op\n", ErrSyntax},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSplitProcs(t *testing.T) {
	cases := []struct {
		in    string
		name  string
		procs int
	}{
		{"Pipeline/ndjson-zstd", "Pipeline/ndjson-zstd", 1},
		{"Pipeline/ndjson-zstd-2", "Pipeline/ndjson-zstd", 2},
		{"Ceiling/encode+gzip-csv-16", "Ceiling/encode+gzip-csv", 16},
		{"Plain", "Plain", 1},
	}
	for _, tc := range cases {
		if name, p := splitProcs(tc.in); name != tc.name || p != tc.procs {
			t.Errorf("splitProcs(%q) = %q, %d", tc.in, name, p)
		}
	}
}

func TestSummarize(t *testing.T) {
	s, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	r := Summarize(s, IssueTargets)
	if len(r.Pipeline) != 4 || len(r.Stages) != 4 {
		t.Fatalf("%d pipeline rows, %d stage rows", len(r.Pipeline), len(r.Stages))
	}
	one, two := r.Pipeline[0], r.Pipeline[1]
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("1-core ceiling", one.Ceiling, 450000)      // the encode+zstd loop
	near("2-core ceiling", two.Ceiling, 800000)      // zstd alone, below 2 × 450,000
	near("1-core share", one.Share, 390000.0/450000) // 0.867
	near("2-core share", two.Share, 710000.0/800000)
	near("scaling", two.Scaling, 710000.0/390000)
	near("cpu share", one.CPUShare, 415000.0/480000)

	var failed []string
	for _, c := range r.Failed() {
		failed = append(failed, c.String())
	}
	want := []string{
		"csv-gzip at 1 core(s): docs/s 220,000, want ≥ 330,000",
		"csv-gzip at 1 core(s): allocs/doc 1.50, want ≤ 1.00",
	}
	if strings.Join(failed, "\n") != strings.Join(want, "\n") {
		t.Errorf("failed checks:\n%s\nwant:\n%s", strings.Join(failed, "\n"), strings.Join(want, "\n"))
	}

	if w := r.Starved(); len(w) != 0 {
		t.Errorf("starved: %q, want none (the 2-core runs used 1.77 cores)", w)
	}

	var md strings.Builder
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| ndjson-zstd | 1 | 2 | 390,000 ✓ | 155.0 | 415,000 | 0.94 | 0.01 ✓ | — | 450,000 | 0.87 ✓ | 0.86 | — |",
		"| ndjson-zstd | 2 | 2 | 710,000 | 270.0 | 400,000 | 1.77 | 0.01 ✓ | — | 800,000 | 0.89 ✓ | 0.83 | 1.82 ✓ |",
		"| json-zstd | 2 | 1 | 220,000 | 90.0 | 250,000 | 0.88 | 0.01 ✓ | 12.0 | — | — | — | — |",
		"| zstd | 2 | 1 | 800,000 | 144.4 | 900,000 | 0.89 | 9.7e-05 | 6.92 |",
		"targets met: 7 of 9",
	} {
		if !strings.Contains(md.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, md.String())
		}
	}
}
