package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/pipeline"
)

// The progress line of a resumed export counts what was exported before
// the resume, records and chunks, and says "1 chunk", not "1 chunks".
func TestProgressLine(t *testing.T) {
	cases := []struct {
		name                 string
		base, baseChunks     int64
		records, chunks      int64
		total                int64
		estimated            bool
		want, wantPercentOff string
	}{
		{name: "resumed", base: 40000, baseChunks: 4, want: "40000 records  0/s  4 chunks"},
		{name: "resumed and going", base: 40000, baseChunks: 4, records: 10000, chunks: 1, want: "50000 records  ", wantPercentOff: "  5 chunks"},
		{name: "one chunk", records: 1, chunks: 1, want: "1 record  ", wantPercentOff: "  1 chunk"},
		{name: "counted total", records: 250, total: 1000, want: "250 records  ", wantPercentOff: "0 chunks  25.0%"},
		{name: "estimated total", records: 1200, total: 1000, estimated: true, want: "1200 records  ", wantPercentOff: "0 chunks  ~99.0%"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			stats := new(pipeline.Stats)
			stats.Records.Store(tc.records)
			stats.Chunks.Store(tc.chunks)
			p := newProgress(f, stats, tc.base, tc.baseChunks, false)
			if tc.total > 0 {
				p.setTotal(tc.total, tc.estimated)
			}
			p.print()
			data, _ := os.ReadFile(f.Name())
			line := string(data)
			if !strings.HasPrefix(line, tc.want) || !strings.Contains(line, tc.wantPercentOff) || !strings.HasSuffix(line, "\n") {
				t.Fatalf("line %q, want %q … %q", line, tc.want, tc.wantPercentOff)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	m := &api.Manifest{Records: 1, Bytes: 2048, Chunks: []api.Chunk{{RawBytes: 4096}}}
	var b bytes.Buffer
	printSummary(&b, "t.ndjson", m, 2*time.Second)
	if want := "exported 1 record in 1 chunk to t.ndjson (4.0 KiB raw, 2.0 KiB written) in 2s, 0 records/s\n"; b.String() != want {
		t.Fatalf("%q\nwant %q", b.String(), want)
	}
	b.Reset()
	printSummary(&b, "d", &api.Manifest{}, 0)
	if want := "exported 0 records in 0 chunks to d (0 B raw, 0 B written)\n"; b.String() != want {
		t.Fatalf("%q\nwant %q", b.String(), want)
	}
}
