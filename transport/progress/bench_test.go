package progress

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/nats-io/nats.go"
)

// BenchmarkPublish measures what Publish costs the pipeline goroutine that
// calls it, with a live server (and its sender goroutine busy beside it)
// and with the server down. Each run checks the Publisher's books: every
// event is sent, coalesced, or (only with the server down) still queued.
func BenchmarkPublish(b *testing.B) {
	for _, bc := range []struct {
		name       string
		otherEvery int // one event in otherEvery is not export-processing
		down       bool
	}{
		{"processing", 0, false},
		{"mixed_1in100", 100, false},
		{"server_down/mixed_1in100", 100, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := natstest.Server(b)
			nc, down, _ := reconnectingConn(b, srv, nats.ReconnectBufSize(-1))
			p := NewPublisher(nc, "", nil, WithProgressQueueLimit(1<<30))
			if bc.down {
				srv.Shutdown()
				wait(b, down, "disconnect")
			}
			const id = "ffffffffffffffffffffffffff"
			var n, others int64
			b.ReportAllocs()
			for b.Loop() {
				n++
				ev := api.Event{Event: api.EventProcessing, ExportID: id, Records: n, Bytes: n * 100}
				if bc.otherEvery > 0 && n%int64(bc.otherEvery) == 0 {
					ev.Event = api.EventFileGeneration
					others++
				}
				p.Publish(ev)
			}
			b.StopTimer()
			benchCheck(b, p, n, others, bc.down)
		})
	}

	b.Run("parallel_export_per_goroutine", func(b *testing.B) {
		srv := natstest.Server(b)
		p := NewPublisher(natstest.Conn(b, srv), "", nil)
		var next, n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			id := fmt.Sprintf("%026d", next.Add(1))
			var i int64
			for pb.Next() {
				i++
				p.Publish(api.Event{Event: api.EventProcessing, ExportID: id, Records: i})
			}
			n.Add(i)
		})
		b.StopTimer()
		benchCheck(b, p, n.Load(), 0, false)
	})
}

// benchCheck closes p and checks that its counters account for n
// events, of which others are not export-processing.
func benchCheck(b *testing.B, p *Publisher, n, others int64, down bool) {
	b.Helper()
	if down {
		// Nothing can be sent: close gives up at once and counts the rest.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = p.Close(ctx)
	} else {
		closeStats(b, p)
	}
	st := p.Stats()
	if st.Published != n || st.Published != st.Sent+st.Coalesced+st.Lost {
		b.Fatalf("stats %+v for %d events", st, n)
	}
	if !down && (st.Lost != 0 || st.Sent < others) {
		b.Fatalf("stats %+v: %d non-processing events, all must be sent", st, others)
	}
	if down && st.Lost < others {
		b.Fatalf("stats %+v: %d non-processing events were queued", st, others)
	}
	b.ReportMetric(float64(st.Sent)/float64(n), "sent/op")
}

// BenchmarkDelivery measures how many events per second reach a
// subscriber of one export: published directly (no history) and through
// a three-server cluster's R3 progress stream, which republishes each once
// stored. The events are export-file-generation ones, which are never
// coalesced; each run checks that all arrived, in order.
func BenchmarkDelivery(b *testing.B) {
	const id = "dddddddddddddddddddddddddd"
	for _, bc := range []struct {
		name    string
		history bool
	}{{"direct", false}, {"history_R3", true}} {
		b.Run(bc.name, func(b *testing.B) {
			c := natstest.Cluster(b, 3)
			var opts []PublisherOption
			if bc.history {
				h, _ := openHistory(b, c, 0, 3)
				opts = append(opts, WithHistory(h, cluster.ErrNoEvent))
			}
			ch := subscribe(b, c.Connect(b, 1), api.ProgressSubject("", id))
			p := NewPublisher(c.Connect(b, 0), "", nil, opts...)
			// The first event waits for the history's lookup: not counted.
			p.Publish(api.Event{Event: api.EventQueued, ExportID: id})
			collect(b, ch, 20*time.Second, func(api.Event) bool { return true })
			b.ResetTimer()
			for i := range b.N {
				p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: id, Chunks: i + 1})
			}
			got := collect(b, ch, time.Minute, func(ev api.Event) bool { return ev.Chunks == b.N })
			b.StopTimer()
			if len(got) != b.N {
				b.Fatalf("%d events arrived, want %d", len(got), b.N)
			}
			checkSeq(b, got, 2)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			closeStats(b, p)
		})
	}
}
