package cluster_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// BenchmarkProgressTail measures what a starting node spends replaying
// the progress stream: the newest 100,000 events (a daemon's whole log)
// of a hundred exports, on one server and on three with R3. It reports
// events per second.
func BenchmarkProgressTail(b *testing.B) {
	const events, exports = 100_000, 100
	for _, bc := range []struct {
		name     string
		replicas int
	}{{"R1", 1}, {"R3", 3}} {
		b.Run(bc.name, func(b *testing.B) {
			c := natstest.Cluster(b, bc.replicas)
			cfg := config(bc.replicas)
			cfg.ProgressPerExport = events / exports
			p, err := cluster.OpenProgress(ctx(b), js(b, c, 0), cfg)
			if err != nil {
				b.Fatal(err)
			}
			pub := js(b, c, 0)
			ids := make([]string, exports)
			for i := range ids {
				ids[i] = checkpoint.NewID()
			}
			for i := range events {
				id := ids[i%exports]
				data, _ := json.Marshal(api.Event{Event: api.EventProcessing, ExportID: id, Seq: int64(i/exports + 1), Records: int64(i), Time: time.Now()})
				if _, err := pub.PublishAsync(cfg.Prefix+".history."+id, data); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-pub.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("the events were not stored within a minute")
			}
			b.ResetTimer()
			for range b.N {
				n := 0
				if err := p.Tail(ctx(b), events, func(string, []byte) { n++ }); err != nil {
					b.Fatal(err)
				}
				if n != events {
					b.Fatalf("Tail read %d events, want %d", n, events)
				}
			}
			b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
