package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
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

// runOne runs the export of job j until it ends, fails, is cancelled,
// goes to another node or the daemon stops.
func (r *Runner) runOne(ctx context.Context, j job) {
	id := j.exportID()
	log := r.log.With("export", id)
	e, err := r.store.Get(id)
	if errors.Is(err, api.ErrNotFound) || err == nil && e.Finished() {
		r.jobDone(j, log) // deleted or cancelled while it waited
		return
	}
	if err != nil {
		log.Warn("cannot read the export's record; giving the job back", "err", err)
		_ = j.handover()
		return
	}
	store, err := r.claim(id)
	switch {
	case errors.Is(err, api.ErrState) || errors.Is(err, api.ErrNotFound):
		r.jobDone(j, log)
		return
	case errors.Is(err, cluster.ErrConflict):
		// Another node claimed it at this very moment, with a job of its
		// own (the export was queued twice): this one is spare.
		log.Info("export claimed by another node meanwhile")
		r.jobDone(j, log)
		return
	case err != nil:
		log.Warn("cannot claim the export; giving the job back", "err", err)
		_ = j.handover()
		return
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	a := &active{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.running[id] = a
	r.mu.Unlock()
	r.metrics.Load().owned(id, true)
	defer func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
		r.metrics.Load().owned(id, false)
		close(a.done)
	}()
	var holders sync.WaitGroup
	defer holders.Wait()
	holders.Go(func() {
		if err := j.hold(jctx); err != nil {
			cancel(fmt.Errorf("%w: %w", errTakenOver, err))
		}
	})
	holders.Go(func() { r.watch(jctx, id, cancel) })
	defer cancel(nil) // stops the holders before they are waited for
	r.forget(id)      // its events so far may be another node's
	if e.StartedAt == nil {
		log.Info("export started", "namespace", e.Plan.Database+"."+e.Plan.Collection, "format", e.Plan.Format, "compression", e.Plan.Compression)
	} else {
		log.Info("export resumed", "records", e.Records, "chunks", e.Chunks, "delivered", j.delivered())
	}

	if e.StartedAt != nil {
		r.emit(api.Event{Event: api.EventResumed, ExportID: id, Records: e.Records, Bytes: e.Bytes, Chunks: e.Chunks})
	}
	stats := new(pipeline.Stats)
	base := struct{ records, bytes int64 }{e.Records, e.Bytes}
	var total *source.Count
	var totalMu sync.Mutex
	if r.cfg.CountTotal {
		go func() {
			c, ok, err := source.Estimate(jctx, r.cfg.Env.Client, &e.Plan)
			if err != nil {
				log.Debug("no total for progress", "err", err)
			}
			if err == nil && ok {
				totalMu.Lock()
				total = &c
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
		setTotal(&ev, total)
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
	env.Store = store
	env.Logger = r.log // export.Run names the export itself
	chunkStart := time.Now()
	env.OnChunk = func(c api.Chunk) {
		now := time.Now()
		m := r.metrics.Load()
		if m.SealLatency != nil {
			m.SealLatency(now.Sub(chunkStart))
		}
		chunkStart = now
		if m.Exported != nil {
			m.Exported(c.Records, c.Bytes)
		}
		ev := event(api.EventFileGeneration)
		ev.Chunk = &c
		r.emit(ev)
	}
	dir, _ := r.Dir(id)
	if r.cfg.Objects != nil {
		// Only the chunk being written is here; the object store has the
		// rest, and a run that resumes (here or elsewhere) needs nothing
		// of this directory.
		defer os.RemoveAll(dir)
	}
	err = export.Run(jctx, &env, id, dir, stats)
	close(stop)
	ticker.Wait()
	m := r.metrics.Load()
	cause := context.Cause(jctx)

	if err != nil && cause == nil && r.cfg.Cluster != nil && (errors.Is(err, api.ErrState) || errors.Is(err, api.ErrNotFound)) {
		// A commit met the cancel or delete of another node before the
		// watch did.
		cause = r.changedElsewhere(id)
	}
	switch {
	case err == nil:
		r.emit(event(api.EventFinalizing))
		r.emit(event(api.EventCompleted))
		m.finished(api.StateCompleted)
		log.Info("export completed", "records", base.records+stats.Sealed.Load(), "took", time.Since(begin))
		r.jobDone(j, log)
	case lost(err) || jctx.Err() != nil && lost(cause):
		// Its record is the new owner's now: nothing more is written here,
		// and the job is not acked (the new owner holds it).
		log.Warn("export taken over by another node; stopped here", "err", errors.Join(err, cause))
	case errors.Is(cause, errCancelled):
		if _, err := r.finishIn(store, id, api.StateCancelled, "cancelled"); err != nil && !errors.Is(err, api.ErrState) {
			log.Error("record cancel", "err", err)
		}
		r.emit(event(api.EventCancelled))
		m.finished(api.StateCancelled)
		log.Info("export cancelled", "records", base.records+stats.Sealed.Load())
		r.jobDone(j, log)
	case errors.Is(cause, errElsewhere):
		r.emit(event(api.EventCancelled))
		m.finished(api.StateCancelled)
		log.Info("export cancelled on another node; stopped here")
		r.jobDone(j, log)
	case errors.Is(cause, errDeleted):
		// What this run wrote after the delete goes too.
		if err := r.removeFiles(id); err != nil {
			log.Error("remove the files of a deleted export", "err", err)
		}
		log.Info("export deleted on another node; stopped here")
		r.jobDone(j, log)
	case jctx.Err() != nil:
		// Shutdown: the export stays running in its record and is resumed
		// at the next start, or at once by another node.
		if r.cfg.Cluster == nil {
			log.Info("export stopped for shutdown; it resumes at the next start", "records", base.records+stats.Sealed.Load())
			return
		}
		if err := j.handover(); err != nil {
			log.Warn("export stopped for shutdown; another node resumes it once its lease ends", "err", err)
			return
		}
		log.Info("export stopped for shutdown and handed over to another node", "records", base.records+stats.Sealed.Load())
	default:
		ev := event(api.EventFailed)
		ev.Error = err.Error()
		r.emit(ev)
		m.finished(api.StateFailed)
		log.Error("export failed", "err", err)
		r.jobDone(j, log)
	}
}

// setTotal puts on ev the total that c says (nil: none known) and the
// percent it gives. A total below ev.Records is raised to it: the count
// was low, or the collection grew. Once every record is written
// (export-finalizing, export-completed) the records are the total, exact,
// and 100%. While an estimate is the total, the percent stays at most 99:
// an estimate cannot say that the end is reached.
func setTotal(ev *api.Event, c *source.Count) {
	final := ev.Event == api.EventFinalizing || ev.Event == api.EventCompleted
	if c == nil && !final {
		return
	}
	var t int64
	var est bool
	switch {
	case final:
		t = ev.Records
	case c.N < ev.Records:
		t, est = ev.Records, c.Estimated
	default:
		t, est = c.N, c.Estimated
	}
	pct := 100.0
	switch {
	case final:
	case t == 0:
		ev.Total = &t
		return // nothing to export: no percent of it
	case est:
		pct = min(99, 100*float64(ev.Records)/float64(t))
	default:
		pct = min(100, 100*float64(ev.Records)/float64(t))
	}
	ev.Total, ev.TotalEstimated, ev.Percent = &t, est, &pct
}

// jobDone acks job j: its export is final or gone, and no node is to run
// it again.
func (r *Runner) jobDone(j job, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := j.done(ctx); err != nil {
		// The job comes back after its lease; whoever takes it finds the
		// export final and acks it.
		log.Warn("ack the export's job", "err", err)
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
