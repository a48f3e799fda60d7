package runner

import (
	"testing"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/source"
)

// The total and percent of progress events: a counted total as it is, an
// estimate below 100% until the end, a total the export passes raised to
// its records, and at the end the records, exact.
func TestSetTotal(t *testing.T) {
	counted := &source.Count{N: 1000, Method: source.MethodCount}
	estimated := &source.Count{N: 1000, Estimated: true, Method: source.MethodSample}
	none := int64(-1)
	cases := []struct {
		name    string
		event   string
		records int64
		c       *source.Count
		total   int64 // none: no total
		est     bool
		percent float64
	}{
		{name: "no total", event: api.EventProcessing, records: 10, total: none},
		{name: "counted", event: api.EventProcessing, records: 250, c: counted, total: 1000, percent: 25},
		{name: "counted, reached", event: api.EventFileGeneration, records: 1000, c: counted, total: 1000, percent: 100},
		{name: "counted, passed", event: api.EventProcessing, records: 1200, c: counted, total: 1200, percent: 100},
		{name: "estimated", event: api.EventProcessing, records: 250, c: estimated, total: 1000, est: true, percent: 25},
		{name: "estimated, reached", event: api.EventProcessing, records: 1000, c: estimated, total: 1000, est: true, percent: 99},
		{name: "estimated, passed", event: api.EventProcessing, records: 1500, c: estimated, total: 1500, est: true, percent: 99},
		{name: "estimated, failed", event: api.EventFailed, records: 400, c: estimated, total: 1000, est: true, percent: 40},
		{name: "nothing to export", event: api.EventProcessing, c: &source.Count{Method: source.MethodCount}, total: 0},
		{name: "finalizing, estimated", event: api.EventFinalizing, records: 980, c: estimated, total: 980, percent: 100},
		{name: "completed, estimated", event: api.EventCompleted, records: 1020, c: estimated, total: 1020, percent: 100},
		{name: "completed, no total before", event: api.EventCompleted, records: 70, total: 70, percent: 100},
		{name: "completed, empty", event: api.EventCompleted, total: 0, percent: 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := api.Event{Event: tc.event, Records: tc.records}
			setTotal(&ev, tc.c)
			if tc.total == none {
				if ev.Total != nil || ev.Percent != nil || ev.TotalEstimated {
					t.Fatalf("total %v, percent %v, estimated %v; want none", ev.Total, ev.Percent, ev.TotalEstimated)
				}
				return
			}
			if ev.Total == nil || *ev.Total != tc.total || ev.TotalEstimated != tc.est {
				t.Fatalf("total %v, estimated %v; want %d, %v", ev.Total, ev.TotalEstimated, tc.total, tc.est)
			}
			if tc.total == 0 && tc.event != api.EventCompleted {
				if ev.Percent != nil {
					t.Fatalf("percent %v of nothing", *ev.Percent)
				}
				return
			}
			if ev.Percent == nil || *ev.Percent != tc.percent {
				t.Fatalf("percent %v, want %v", ev.Percent, tc.percent)
			}
		})
	}
}
