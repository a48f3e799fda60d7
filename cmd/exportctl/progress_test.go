package main

import (
	"testing"
	"time"

	"github.com/exportd/exportd/api"
)

// The line on a terminal, from fixed events: a bar with a total ("~" when
// it is an estimate), a spinner without one, fitted to the terminal.
func TestBarLine(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	pct := func(v float64) *float64 { return &v }
	cases := []struct {
		name  string
		ev    api.Event
		frame int
		width int
		want  string
	}{
		{
			name: "counted total",
			ev:   api.Event{Event: api.EventProcessing, Records: 10_400, Total: n(20_000), Rate: 3100, Chunks: 4, Bytes: 12_900_000},
			want: "[##########----------] 52% 10,400/20,000 records 3.1k/s ETA 0:04 4 chunks 12.3 MiB",
		},
		{
			name: "estimated total",
			ev:   api.Event{Event: api.EventProcessing, Records: 10_400, Total: n(20_000), TotalEstimated: true, Percent: pct(52), Rate: 3100, Chunks: 4, Bytes: 12_900_000},
			want: "[##########----------] ~52% 10,400/~20,000 records 3.1k/s ETA ~0:04 4 chunks 12.3 MiB",
		},
		{
			name: "estimate reached: the daemon's 99%, no ETA",
			ev:   api.Event{Event: api.EventFileGeneration, Records: 20_500, Total: n(20_500), TotalEstimated: true, Percent: pct(99), Rate: 3100, Chunks: 5, Bytes: 13 << 20},
			want: "[###################-] ~99% 20,500/~20,500 records 3.1k/s 5 chunks 13.0 MiB",
		},
		{
			name: "estimate from an older daemon: capped here",
			ev:   api.Event{Event: api.EventProcessing, Records: 21_000, Total: n(20_000), TotalEstimated: true, Chunks: 1},
			want: "[###################-] ~99% 21,000/~20,000 records 1 chunk",
		},
		{
			name: "one record, one chunk",
			ev:   api.Event{Event: api.EventFileGeneration, Records: 1, Total: n(1), Percent: pct(100), Chunks: 1, Bytes: 300},
			want: "[####################] 100% 1/1 record 1 chunk 300 B",
		},
		{
			name: "hours",
			ev:   api.Event{Event: api.EventProcessing, Records: 1_000_000, Total: n(50_000_000), Rate: 9_000, Chunks: 10, Bytes: 3 << 30},
			want: "[--------------------] 2% 1,000,000/50,000,000 records 9.0k/s ETA 1:30:45 10 chunks 3.0 GiB",
		},
		{
			name:  "no total: spinner",
			ev:    api.Event{Event: api.EventProcessing, Records: 10_400, Rate: 31_000, Chunks: 4, Bytes: 12_900_000},
			frame: 2,
			want:  "- running 10,400 records 31k/s 4 chunks 12.3 MiB",
		},
		{
			name:  "a terminal of 10 columns",
			ev:    api.Event{Event: api.EventProcessing, Records: 123_456_789},
			width: 10,
			want:  "| running",
		},
		{
			name:  "a terminal of 3 columns",
			ev:    api.Event{Event: api.EventProcessing, Records: 1000, Total: n(2000)},
			width: 3,
			want:  "50",
		},
		{
			name:  "queued",
			ev:    api.Event{Event: string(api.StateQueued)},
			frame: 5,
			want:  "/ queued 0 records 0 chunks",
		},
		{
			name:  "wide terminal: the same bar",
			ev:    api.Event{Event: api.EventProcessing, Records: 500, Total: n(1000), Rate: 1_200_000, Chunks: 2},
			width: 200,
			want:  "[##########----------] 50% 500/1,000 records 1.2M/s ETA 0:01 2 chunks",
		},
		{
			name:  "terminal of 60 columns: a shorter bar",
			ev:    api.Event{Event: api.EventProcessing, Records: 500, Total: n(1000), Rate: 100, Chunks: 2},
			width: 60,
			want:  "[#####------] 50% 500/1,000 records 100/s ETA 0:05 2 chunks",
		},
		{
			name:  "narrow terminal: no bar, cut",
			ev:    api.Event{Event: api.EventProcessing, Records: 10_400, Total: n(20_000), TotalEstimated: true, Percent: pct(52), Rate: 3100, Chunks: 4, Bytes: 12_900_000},
			width: 40,
			want:  "~52% 10,400/~20,000 records 3.1k/s",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := barLine(tc.ev, tc.frame, tc.width)
			if got != tc.want {
				t.Fatalf("barLine:\n%q\nwant\n%q", got, tc.want)
			}
			if tc.width > 0 && len(got) >= tc.width {
				t.Fatalf("%d characters on a terminal of %d columns: it wraps", len(got), tc.width)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	groups := map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 10_400: "10,400", 1_234_567: "1,234,567", -1500: "-1,500"}
	for n, want := range groups {
		if got := group(n); got != want {
			t.Errorf("group(%d) = %q, want %q", n, got, want)
		}
	}
	rates := map[float64]string{0.4: "0/s", 850: "850/s", 999.4: "999/s", 999.6: "1.0k/s", 3140: "3.1k/s", 9949: "9.9k/s", 9950: "10k/s", 31_000: "31k/s", 999_400: "999k/s", 1_240_000: "1.2M/s", 12_000_000: "12M/s"}
	for r, want := range rates {
		if got := rate(r); got != want {
			t.Errorf("rate(%v) = %q, want %q", r, got, want)
		}
	}
	clocks := map[time.Duration]string{0: "0:00", 400 * time.Millisecond: "0:01", 3 * time.Second: "0:03", 75 * time.Second: "1:15", time.Hour - time.Second: "59:59", time.Hour: "1:00:00", 26*time.Hour + 5*time.Second: "26:00:05"}
	for d, want := range clocks {
		if got := clock(d); got != want {
			t.Errorf("clock(%s) = %q, want %q", d, got, want)
		}
	}
	counts := []struct {
		n    int64
		noun string
		want string
	}{{0, "chunk", "0 chunks"}, {1, "chunk", "1 chunk"}, {2, "chunk", "2 chunks"}, {1, "record", "1 record"}, {5000, "record", "5000 records"}}
	for _, c := range counts {
		if got := count(c.n, c.noun); got != c.want {
			t.Errorf("count(%d, %q) = %q, want %q", c.n, c.noun, got, c.want)
		}
	}
}
