package runner_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/runner"
)

// TestProgressTotals runs exports with CountTotal on devmongo and checks
// the totals of their events. Unfiltered, the total is the metadata count,
// an estimate: its percent stays below 100 while the export runs. Filtered
// (a collection this small is counted), it is exact. Either way the total
// never falls below the records, and the end says the records, exact, at
// 100%. The export is sorted, so that devmongo reads the whole result
// before the first record, and the metadata count is known by then.
func TestProgressTotals(t *testing.T) {
	f := start(t, t.TempDir(), runner.Config{QueueSize: 10, CountTotal: true})
	cases := []struct {
		name      string
		filter    string
		estimated bool
	}{
		{name: "unfiltered", estimated: true},
		{name: "filtered", filter: `, "filter": {"status": "completed"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := `{"database": "app", "collection": "tasks", "sort": {"createdAt": 1}, "chunkRecords": 200, "progressEvery": 100, "batchSize": 100` + tc.filter + `}`
			m, err := f.r.Start(context.Background(), json.RawMessage(req))
			if err != nil {
				t.Fatal(err)
			}
			done := f.wait(t, m.ID, api.StateCompleted)
			var evs []api.Event
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				evs = f.events.of(m.ID)
				if len(evs) > 0 && evs[len(evs)-1].Event == api.EventCompleted {
					break
				}
			}
			withTotal := 0
			for _, ev := range evs {
				switch {
				case ev.Event == api.EventCompleted || ev.Event == api.EventFinalizing:
					if ev.Total == nil || *ev.Total != done.Records || ev.TotalEstimated || ev.Percent == nil || *ev.Percent != 100 {
						t.Fatalf("%s: total %v, estimated %v, percent %v; want %d, exact, 100", ev.Event, ev.Total, ev.TotalEstimated, ev.Percent, done.Records)
					}
				case ev.Total != nil:
					withTotal++
					if ev.TotalEstimated != tc.estimated || *ev.Total < ev.Records || ev.Percent == nil {
						t.Fatalf("%s at %d records: total %d, estimated %v, percent %v", ev.Event, ev.Records, *ev.Total, ev.TotalEstimated, ev.Percent)
					}
					if tc.estimated && *ev.Percent > 99 {
						t.Fatalf("%s: an estimated total at %v%%", ev.Event, *ev.Percent)
					}
					if !tc.estimated && *ev.Total != done.Records {
						t.Fatalf("%s: counted total %d, the export wrote %d", ev.Event, *ev.Total, done.Records)
					}
				}
			}
			chunks := 0
			for _, ev := range evs {
				if ev.Event == api.EventFileGeneration {
					chunks++
				}
			}
			t.Logf("%d events, %d chunk events, %d with a total before the end", len(evs), chunks, withTotal)
			// The metadata count takes milliseconds; the filtered count
			// reads the collection as the export does and may come late.
			if tc.estimated && withTotal == 0 {
				t.Fatalf("no event before the end has a total: %+v", evs)
			}
		})
	}
}
