package runner

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/source"
)

// active is a running export: how to stop it, and when it has stopped
// (its final state recorded).
type active struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// progressTick is how often a running export's counters are looked at for
// export-processing events: "every progressEvery records, at most a few
// per second".
const progressTick = 250 * time.Millisecond

// runOne runs export id until it ends, fails, is cancelled or the daemon
// stops.
func (r *Runner) runOne(ctx context.Context, id string) {
	e, err := r.store.Get(id)
	if err != nil || e.Finished() {
		return // deleted or cancelled while it waited
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &active{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.running[id] = a
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
		close(a.done)
	}()

	log := r.log.With("export", id)
	if e.StartedAt != nil {
		r.emit(api.Event{Event: api.EventResumed, ExportID: id, Records: e.Records, Bytes: e.Bytes, Chunks: e.Chunks})
	}
	stats := new(pipeline.Stats)
	base := struct{ records, bytes int64 }{e.Records, e.Bytes}
	var total *int64
	var totalMu sync.Mutex
	if r.cfg.CountTotal {
		go func() {
			if n, ok, err := source.Total(jctx, r.cfg.Env.Client, &e.Plan); err == nil && ok {
				totalMu.Lock()
				total = &n
				totalMu.Unlock()
			}
		}()
	}
	begin := time.Now()
	event := func(name string) api.Event {
		records := base.records + stats.Records.Load()
		ev := api.Event{Event: name, ExportID: id, Records: records,
			Bytes: base.bytes + stats.Bytes.Load(), Chunks: e.Chunks + int(stats.Chunks.Load())}
		if secs := time.Since(begin).Seconds(); secs > 0 {
			ev.Rate = float64(stats.Records.Load()) / secs
		}
		totalMu.Lock()
		if total != nil {
			t := *total
			ev.Total = &t
			if t > 0 {
				pct := min(100, 100*float64(records)/float64(t))
				ev.Percent = &pct
			}
		}
		totalMu.Unlock()
		return ev
	}
	r.emit(event(api.EventFetching))

	// export-processing every progressEvery records, checked a few times
	// a second.
	stop := make(chan struct{})
	var ticker sync.WaitGroup
	ticker.Go(func() {
		t := time.NewTicker(progressTick)
		defer t.Stop()
		every := max(e.Plan.ProgressEvery, 1)
		last := int64(0)
		for {
			select {
			case <-t.C:
				if n := stats.Records.Load(); n/every > last/every {
					last = n
					r.emit(event(api.EventProcessing))
				}
			case <-stop:
				return
			}
		}
	})

	env := *r.cfg.Env
	env.Logger = log
	chunkStart := time.Now()
	env.OnChunk = func(c api.Chunk) {
		now := time.Now()
		if r.metrics.SealLatency != nil {
			r.metrics.SealLatency(now.Sub(chunkStart))
		}
		chunkStart = now
		if r.metrics.Exported != nil {
			r.metrics.Exported(c.Records, c.Bytes)
		}
		ev := event(api.EventFileGeneration)
		ev.Chunk = &c
		r.emit(ev)
	}
	dir, _ := r.Dir(id)
	err = export.Run(jctx, &env, id, dir, stats)
	close(stop)
	ticker.Wait()

	switch {
	case err == nil:
		r.emit(event(api.EventFinalizing))
		r.emit(event(api.EventCompleted))
		r.metrics.finished(api.StateCompleted)
		log.Info("export completed", "records", base.records+stats.Sealed.Load(), "took", time.Since(begin))
	case errors.Is(context.Cause(jctx), errCancelled):
		if _, err := r.finish(id, api.StateCancelled, "cancelled"); err != nil && !errors.Is(err, api.ErrState) {
			log.Error("record cancel", "err", err)
		}
		r.emit(event(api.EventCancelled))
		r.metrics.finished(api.StateCancelled)
	case jctx.Err() != nil:
		// Shutdown: the export stays running in the checkpoint and is
		// resumed at the next start.
		log.Info("export stopped for shutdown; it resumes at the next start", "records", base.records+stats.Sealed.Load())
	default:
		ev := event(api.EventFailed)
		ev.Error = err.Error()
		r.emit(ev)
		r.metrics.finished(api.StateFailed)
		log.Error("export failed", "err", err)
	}
}

// emit stamps an event with its time and hands it on; the publisher numbers
// each export's events as it sends them.
func (r *Runner) emit(ev api.Event) {
	if r.cfg.Events == nil {
		return
	}
	ev.Time = time.Now().UTC()
	r.cfg.Events(ev)
}
