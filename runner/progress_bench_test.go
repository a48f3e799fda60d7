package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/runner"
	"github.com/exportd/exportd/transport/progress"
)

// progressBenchDocs and progressBenchChunk are BenchmarkCheckpointCost's
// export: 200,000 tasks in chunks of 20,000 records.
const (
	progressBenchDocs  = 200_000
	progressBenchChunk = 20_000
)

// BenchmarkProgressCost runs exports the way the daemon runs them (the
// runner, export.Run, the pipeline, the bbolt checkpoint and manifest) over
// tasks held in memory, once with progress events dropped and once with
// every event handed to a progress.Publisher on an embedded NATS server,
// as the daemon wires it, with a subscriber on the progress subjects. One
// operation is one export, from Start to its export-completed. It reports
// docs/s (wall clock) and docs/cpu-s: documents per second of CPU used by
// the whole process, NATS server and subscriber included, which a machine
// shared with other work disturbs far less. Each export's manifest and,
// with progress, every event the subscriber got are checked outside the
// timed region, so a broken run cannot look fast.
func BenchmarkProgressCost(b *testing.B) {
	docs := make([]bson.Raw, progressBenchDocs)
	var size int64
	for i := range docs {
		docs[i] = devmongo.Task(int64(i))
		size += int64(len(docs[i]))
	}
	db := devmongotest.Client(b, dbURI)
	req := json.RawMessage(fmt.Sprintf(`{"database": "app", "collection": "tasks", "chunkRecords": %d}`, progressBenchChunk))

	for _, publish := range []bool{false, true} {
		b.Run(fmt.Sprintf("progress=%v", publish), func(b *testing.B) {
			var (
				pub    *progress.Publisher
				sub    *nats.Subscription
				subNC  *nats.Conn
				events func(api.Event)
			)
			if publish {
				srv := natstest.Server(b)
				subNC = natstest.Conn(b, srv)
				var err error
				if sub, err = subNC.SubscribeSync(api.ProgressSubject("", ">")); err != nil {
					b.Fatal(err)
				}
				if err := sub.SetPendingLimits(-1, -1); err != nil {
					b.Fatal(err)
				}
				if err := subNC.Flush(); err != nil {
					b.Fatal(err)
				}
				pub = progress.NewPublisher(natstest.Conn(b, srv), "", nil)
				events = pub.Publish
			}

			data := b.TempDir()
			store, err := checkpoint.Open(filepath.Join(data, checkpoint.FileName))
			if err != nil {
				b.Fatal(err)
			}
			finished := make(chan api.State, 1)
			r, err := runner.New(runner.Config{
				Env: &export.Env{
					Store: store, Client: db,
					Source: func(context.Context, *request.Plan, bson.Raw) (pipeline.Source, error) {
						return pipeline.NewSlice(docs), nil
					},
				},
				DataDir: data, MaxConcurrent: 1, QueueSize: 1, Grace: time.Minute,
				Events: events,
			})
			if err != nil {
				b.Fatal(err)
			}
			r.SetMetrics(runner.Metrics{Finished: func(state api.State) { finished <- state }})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()

			b.SetBytes(size)
			b.ReportAllocs()
			var records, exports int64
			var cpu time.Duration
			for b.Loop() {
				cpuFrom := progressBenchCPU()
				m, err := r.Start(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				select {
				case state := <-finished:
					if state != api.StateCompleted {
						b.Fatalf("export %s ended %s", m.ID, state)
					}
				case <-time.After(5 * time.Minute):
					b.Fatalf("export %s did not finish", m.ID)
				}
				cpu += progressBenchCPU() - cpuFrom
				b.StopTimer()
				records += progressBenchCheck(b, r, m.ID)
				exports++
				if err := r.Delete(m.ID); err != nil { // keeps the disk bounded
					b.Fatal(err)
				}
				b.StartTimer()
			}
			elapsed := b.Elapsed()
			b.StopTimer()

			// The daemon's shutdown order: the runner, then the publisher.
			cancel()
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
			case <-time.After(time.Minute):
				b.Fatal("runner did not stop")
			}
			if err := store.Check(); err != nil {
				b.Fatalf("checkpoint: %v", err)
			}
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
			if records != exports*progressBenchDocs {
				b.Fatalf("%d records exported in %d exports, want %d", records, exports, exports*progressBenchDocs)
			}
			b.ReportMetric(float64(records)/elapsed.Seconds(), "docs/s")
			b.ReportMetric(float64(records)/cpu.Seconds(), "docs/cpu-s")
			if !publish {
				b.ReportMetric(0, "events/op")
				return
			}
			fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer fcancel()
			if err := pub.Close(fctx); err != nil {
				b.Fatal(err)
			}
			st := pub.Stats()
			if st.Lost != 0 || st.Published != st.Sent+st.Coalesced {
				b.Fatalf("publisher stats %+v", st)
			}
			progressBenchReceived(b, subNC, sub, st.Sent, exports)
			b.ReportMetric(float64(st.Published)/float64(exports), "events/op")
			b.ReportMetric(float64(st.Sent)/float64(exports), "sent/op")
		})
	}
}

// progressBenchCheck checks that export id completed with every document
// in chunks of progressBenchChunk records, and returns its records.
func progressBenchCheck(b *testing.B, r *runner.Runner, id string) int64 {
	b.Helper()
	m, err := r.Status(id)
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, c := range m.Chunks {
		sum += c.Records
	}
	if m.State != api.StateCompleted || m.Records != progressBenchDocs || sum != m.Records ||
		len(m.Chunks) != progressBenchDocs/progressBenchChunk {
		b.Fatalf("export %s: %s, %d records (%d in %d chunks), want %d in %d chunks",
			id, m.State, m.Records, sum, len(m.Chunks), progressBenchDocs, progressBenchDocs/progressBenchChunk)
	}
	return m.Records
}

// progressBenchReceived reads the sent events from sub once its connection
// has flushed, and checks them: each export's seq runs 1, 2, 3, ..., it has
// one export-file-generation event per chunk, and its last event is
// export-completed with every record.
func progressBenchReceived(b *testing.B, nc *nats.Conn, sub *nats.Subscription, sent, exports int64) {
	b.Helper()
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
	type seen struct {
		seq    int64
		chunks int
		last   api.Event
	}
	got := map[string]*seen{}
	for n := range sent {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			b.Fatalf("event %d of %d: %v", n+1, sent, err)
		}
		var ev api.Event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			b.Fatalf("event %q: %v", msg.Data, err)
		}
		s := got[ev.ExportID]
		if s == nil {
			s = &seen{}
			got[ev.ExportID] = s
		}
		if msg.Subject != api.ProgressSubject("", ev.ExportID) || ev.Seq != s.seq+1 {
			b.Fatalf("event %s seq %d on %s after seq %d", ev.Event, ev.Seq, msg.Subject, s.seq)
		}
		s.seq = ev.Seq
		if ev.Event == api.EventFileGeneration {
			s.chunks++
		}
		s.last = ev
	}
	if msg, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		b.Fatalf("more events than the %d sent: %q", sent, msg.Data)
	}
	if int64(len(got)) != exports {
		b.Fatalf("events of %d exports, want %d", len(got), exports)
	}
	for id, s := range got {
		if s.chunks != progressBenchDocs/progressBenchChunk || s.last.Event != api.EventCompleted || s.last.Records != progressBenchDocs {
			b.Fatalf("export %s: %d file-generation events, last %s with %d records", id, s.chunks, s.last.Event, s.last.Records)
		}
	}
}

// progressBenchCPU is the CPU time the process has used, user and system.
func progressBenchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
