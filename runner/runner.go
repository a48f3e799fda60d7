package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/request"
)

// Config configures a Runner.
type Config struct {
	// Env is how exports run (store, client, workers, retries).
	Env *export.Env
	// DataDir holds exports/<id>/ for each export.
	DataDir string
	// MaxConcurrent exports run at once; QueueSize more may wait.
	MaxConcurrent int
	QueueSize     int
	// Allow lists the namespaces requests may name, as "db.collection" or
	// "db.*"; empty allows all.
	Allow []string
	// Profiles map a request's profile name to its mapping.
	Profiles map[string]*request.Profile
	// Retention is how long finished exports are kept; 0 keeps them.
	Retention time.Duration
	// Grace bounds how long a shutdown waits for running exports to stop.
	Grace time.Duration
	// Events receives progress events; nil drops them.
	Events func(api.Event)
	// Forget, in a cluster, is told of an export this node is about to
	// publish events of when another node may have published some since
	// (Publisher.Forget): its seq goes on after theirs.
	Forget func(id string)
	// CountTotal asks the database for a total when it is cheap.
	CountTotal bool
	// Cluster, when set, makes the runner one node of several (see
	// Cluster); Env.Store must then be Cluster.Store.
	Cluster *Cluster
	// Objects, when set, keeps the chunks and manifests in an object store
	// instead of DataDir (which then holds only the chunks being written).
	Objects Objects
	Logger  *slog.Logger
}

// Objects is an object store as the runner uses it: objstore.Store.
type Objects interface {
	export.Objects
	// DeleteExport removes every object of export id.
	DeleteExport(ctx context.Context, id string) error
}

// Runner runs exports. Its methods are safe for concurrent use; it
// implements api.Exports.
type Runner struct {
	cfg   Config
	store checkpoint.Records
	log   *slog.Logger

	queue   queue
	metrics atomic.Pointer[Metrics]

	mu      sync.Mutex
	running map[string]*active
	closed  bool
}

var (
	errCancelled = errors.New("cancelled")
	errShutdown  = errors.New("daemon shutting down")
)

// New makes a Runner and queues the unfinished exports of its store; Run
// starts it.
func New(cfg Config) (*Runner, error) {
	if cfg.Env == nil || cfg.Env.Store == nil || cfg.Env.Client == nil {
		return nil, errors.New("runner: no store or client")
	}
	if cfg.MaxConcurrent < 1 || cfg.QueueSize < 0 {
		return nil, fmt.Errorf("runner: max concurrent %d, queue size %d", cfg.MaxConcurrent, cfg.QueueSize)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Objects != nil {
		env := *cfg.Env
		env.Objects = cfg.Objects
		cfg.Env = &env
	}
	if cfg.Cluster != nil && (cfg.Cluster.Store == nil || cfg.Cluster.Queue == nil || cfg.Cluster.Node == "") {
		return nil, errors.New("runner: cluster without store, queue or node name")
	}
	r := &Runner{cfg: cfg, store: cfg.Env.Store, log: log, running: map[string]*active{}}
	r.metrics.Store(&Metrics{})
	bad, err := r.store.Unreadable()
	if err != nil {
		return nil, err
	}
	for _, c := range bad {
		r.log.Error("checkpoint record unreadable: the export shows as failed and is not resumed; delete it or restore the record",
			"export", c.ID, "err", c)
	}
	if cfg.Cluster != nil {
		// The work queue holds the cluster's unfinished exports.
		r.queue = clusterQueue{cfg.Cluster.Queue}
		return r, nil
	}
	r.queue = newMemQueue(func(n int) { r.metrics.Load().queueDepth(n) })
	// Unfinished exports are queued here, before Start can create one: a
	// scan in Run could meet an export Start just created and queue it a
	// second time, running it twice at once.
	exports, err := r.store.List()
	if err != nil {
		return nil, err
	}
	for _, e := range exports {
		if e.State != api.StateRunning && e.State != api.StateQueued {
			continue
		}
		if err := r.allowedExport(e); err != nil {
			r.log.Warn("not resuming export: its namespace is not in the allow-list", "export", e.ID,
				"namespace", e.Plan.Database+"."+e.Plan.Collection)
			continue
		}
		_ = r.queue.push(context.Background(), e.ID, 0) // the memory queue takes every push
		if e.State == api.StateRunning {
			r.log.Info("resuming export after restart", "export", e.ID, "records", e.Records)
		}
	}
	return r, nil
}

// Run runs queued exports, unfinished ones New found first, until ctx
// ends; then it stops the running ones (they stay resumable) and waits for
// them at most Grace.
func (r *Runner) Run(ctx context.Context) error {
	var workers sync.WaitGroup
	for range r.cfg.MaxConcurrent {
		workers.Go(func() { r.work(ctx) })
	}
	retention := time.NewTicker(time.Minute)
	defer retention.Stop()
	r.expire(time.Now())
	// The cluster's queue changes with every node's requests and pulls:
	// its depth is looked up now and then, not only at this node's Start.
	var depth <-chan time.Time
	if r.cfg.Cluster != nil {
		t := time.NewTicker(queueDepthEvery)
		defer t.Stop()
		depth = t.C
		r.lookUpQueueDepth(ctx)
	}
	for {
		select {
		case <-depth:
			r.lookUpQueueDepth(ctx)
		case <-ctx.Done():
			r.mu.Lock()
			r.closed = true
			for _, a := range r.running {
				a.cancel(errShutdown)
			}
			r.mu.Unlock()
			done := make(chan struct{})
			go func() { workers.Wait(); close(done) }()
			select {
			case <-done:
				return nil
			case <-time.After(r.cfg.Grace):
				return fmt.Errorf("runner: exports still stopping after %s", r.cfg.Grace)
			}
		case now := <-retention.C:
			r.expire(now)
		}
	}
}

// queueDepthEvery is how often a cluster node looks the work queue's depth
// up for its metrics: more often than Prometheus scrapes by default.
const queueDepthEvery = 5 * time.Second

// lookUpQueueDepth tells the metrics how many exports wait in the
// cluster's queue; a failed lookup leaves the last value.
func (r *Runner) lookUpQueueDepth(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, queueDepthEvery/2)
	defer cancel()
	if n, err := r.queue.waiting(ctx); err == nil {
		r.metrics.Load().queueDepth(n)
	}
}

// work runs queued exports one at a time until ctx ends. It takes a job
// only when it has room for it: each of MaxConcurrent workers holds one.
func (r *Runner) work(ctx context.Context) {
	for ctx.Err() == nil {
		j, err := r.queue.take(ctx)
		if ctx.Err() != nil {
			if j != nil {
				_ = j.handover()
			}
			return
		}
		if err != nil {
			r.log.Warn("waiting for work", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			continue
		}
		r.runOne(ctx, j)
	}
}

// Dir is the directory of export id.
func (r *Runner) Dir(id string) (string, error) {
	if !checkpoint.ValidID(id) {
		return "", fmt.Errorf("%w: %q", api.ErrNotFound, id)
	}
	return filepath.Join(r.cfg.DataDir, "exports", id), nil
}

// Start accepts a request: see api.Exports.
func (r *Runner) Start(ctx context.Context, raw json.RawMessage) (*api.Manifest, error) {
	req, err := request.Decode(raw)
	if err != nil {
		return nil, err
	}
	plan, err := request.Resolve(req, r.cfg.Profiles)
	if err != nil {
		return nil, err
	}
	// After the profile, which may name the namespace.
	if err := r.allowed(plan.Database, plan.Collection); err != nil {
		return nil, err
	}
	full, err := r.full(ctx)
	if err != nil {
		return nil, err
	}
	e := checkpoint.NewExport(req.RequestID, raw, plan, time.Now())
	if full && req.RequestID != "" {
		// A repeated request is answered even when the queue is full.
		if got, err := r.store.ByRequestID(req.RequestID); err == nil {
			return r.Status(got.ID)
		}
	}
	if full {
		return nil, fmt.Errorf("%w: %d running, %d queued", api.ErrBusy, r.cfg.MaxConcurrent, r.cfg.QueueSize)
	}
	got, created, err := r.store.Create(e)
	if err != nil {
		return nil, err
	}
	if !created {
		if got.State == api.StateQueued && r.cfg.Cluster != nil {
			// The node that made it may have died before queuing it: queue
			// it again (the work queue keeps one of the two).
			if err := r.queue.push(ctx, got.ID, 0); err != nil {
				return nil, err
			}
		}
		return r.Status(got.ID)
	}
	dir, _ := r.Dir(e.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.Join(err, r.store.Delete(e.ID))
	}
	m, err := r.record(e.ID).Save(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	r.emit(api.Event{Event: api.EventQueued, ExportID: e.ID})
	r.log.Info("export queued", "export", e.ID, "namespace", plan.Database+"."+plan.Collection, "requestId", req.RequestID)
	if err := r.queue.push(ctx, e.ID, 0); err != nil {
		// The record stays queued: the same request (same requestId)
		// queues it again.
		return nil, err
	}
	return m, nil
}

// full reports whether a new export must be refused: QueueSize exports
// wait (and, alone, every worker is busy). It refuses every request once
// the runner is shutting down.
func (r *Runner) full(ctx context.Context) (bool, error) {
	r.mu.Lock()
	busy := len(r.running) >= r.cfg.MaxConcurrent || r.cfg.Cluster != nil
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return false, fmt.Errorf("%w: shutting down", api.ErrBusy)
	}
	n, err := r.queue.waiting(ctx)
	if err != nil {
		return false, err
	}
	if r.cfg.Cluster != nil {
		r.metrics.Load().queueDepth(n) // the cluster's queue tells no one else
	}
	return busy && n >= r.cfg.QueueSize, nil
}

// reserved are MongoDB's own databases: exported only when the allow-list
// names them.
var reserved = map[string]bool{"admin": true, "config": true, "local": true}

// allowed checks a requested namespace against the allow-list. A refusal
// is a *request.FieldError naming database or collection that also
// matches api.ErrForbidden.
func (r *Runner) allowed(db, coll string) error {
	named := func(ns string) bool {
		d, c, _ := strings.Cut(ns, ".")
		return d == db && (c == "*" || c == coll)
	}
	switch {
	case slices.ContainsFunc(r.cfg.Allow, named):
		return nil
	case len(r.cfg.Allow) == 0 && !reserved[db]:
		return nil
	case len(r.cfg.Allow) == 0:
		return forbidden("database", fmt.Sprintf("database %q is MongoDB's own; export it only by naming it in the allow-list", db))
	case !slices.ContainsFunc(r.cfg.Allow, func(ns string) bool { return strings.HasPrefix(ns, db+".") }):
		return forbidden("database", fmt.Sprintf("database %q is not allowed here", db))
	}
	return forbidden("collection", fmt.Sprintf("collection %q of %q is not allowed here", coll, db))
}

func forbidden(field, msg string) error {
	return fmt.Errorf("%w: %w", api.ErrForbidden, &request.FieldError{Field: field, Message: msg})
}

// allowedExport checks a stored export's namespace against the allow-list,
// which may have changed since the export was made.
func (r *Runner) allowedExport(e *checkpoint.Export) error {
	if e.Unreadable != nil {
		return nil // its namespace is unknown; it shows as failed, to be deleted
	}
	if r.allowed(e.Plan.Database, e.Plan.Collection) != nil {
		return fmt.Errorf("%w: export %s reads %s.%s, which the allow-list does not name", api.ErrForbidden, e.ID, e.Plan.Database, e.Plan.Collection)
	}
	return nil
}

// Status returns the manifest of export id.
func (r *Runner) Status(id string) (*api.Manifest, error) {
	if _, err := r.get(id); err != nil {
		return nil, err
	}
	// One read of the record and its chunks, which also answers for a
	// record whose chunks cannot be read back.
	m, err := r.store.Manifest(id)
	return m, mapErr(err)
}

// List returns the exports, oldest first, those in state when not empty.
func (r *Runner) List(state api.State) ([]*api.Manifest, error) {
	all, err := r.store.List()
	if err != nil {
		return nil, err
	}
	out := []*api.Manifest{}
	for _, e := range all {
		if state != "" && e.State != state || r.allowedExport(e) != nil {
			continue
		}
		out = append(out, e.Manifest(nil))
	}
	return out, nil
}

// Cancel stops a queued or running export.
func (r *Runner) Cancel(id string) (*api.Manifest, error) {
	e, err := r.get(id)
	if err != nil {
		return nil, err
	}
	if e.Finished() {
		return nil, fmt.Errorf("%w: export %s is %s", api.ErrState, id, e.State)
	}
	r.mu.Lock()
	a, running := r.running[id]
	if running {
		a.cancel(errCancelled)
	}
	r.mu.Unlock()
	if !running {
		r.queue.drop(id)
		m, err := r.finish(id, api.StateCancelled, "cancelled")
		if err != nil {
			return nil, err
		}
		if e.State != api.StateRunning {
			// A running export's owner, on another node, stops it within
			// Cluster.Watch and says so itself.
			r.forget(id)
			r.emit(api.Event{Event: api.EventCancelled, ExportID: id})
			r.log.Info("export cancelled", "export", id, "was", e.State)
		}
		return m, nil
	}
	// The worker records the cancel once the export has stopped.
	select {
	case <-a.done:
	case <-time.After(r.cfg.Grace):
	}
	return r.Status(id)
}

// Resume queues a failed or cancelled export again.
func (r *Runner) Resume(id string) (*api.Manifest, error) {
	e, err := r.get(id)
	if err != nil {
		return nil, err
	}
	if e.State != api.StateFailed && e.State != api.StateCancelled {
		return nil, fmt.Errorf("%w: export %s is %s; only failed or cancelled exports resume", api.ErrState, id, e.State)
	}
	m, err := r.record(id).SetState(context.Background(), api.StateQueued, "", time.Now().UTC())
	if err != nil {
		return nil, mapErr(err)
	}
	r.forget(id)
	r.emit(api.Event{Event: api.EventQueued, ExportID: id})
	r.log.Info("export queued again", "export", id, "was", e.State, "records", e.Records)
	// A resume is a queuing of its own: the work queue must not take it
	// for the export's first.
	if err := r.queue.push(context.Background(), id, uint64(time.Now().UnixNano())); err != nil {
		return nil, err
	}
	return m, nil
}

// Delete removes an export and its files, cancelling it first if needed.
func (r *Runner) Delete(id string) error {
	e, err := r.get(id)
	if err != nil {
		return err
	}
	if err := r.remove(e); err != nil {
		return err
	}
	r.log.Info("export deleted", "export", id, "was", e.State)
	return nil
}

// remove deletes export e and its files, cancelling it first if needed.
func (r *Runner) remove(e *checkpoint.Export) error {
	id := e.ID
	if !e.Finished() {
		if _, err := r.Cancel(id); err != nil && !errors.Is(err, api.ErrState) {
			return err
		}
	}
	if err := r.removeFiles(id); err != nil {
		return err
	}
	return mapErr(r.store.Delete(id))
}

// removeFiles deletes the files of export id: its directory and, with an
// object store, its objects.
func (r *Runner) removeFiles(id string) error {
	dir, _ := r.Dir(id)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if r.cfg.Objects != nil {
		ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
		defer cancel()
		return r.cfg.Objects.DeleteExport(ctx, id)
	}
	return nil
}

// deleteTimeout bounds the removal of an export's objects.
const deleteTimeout = 2 * time.Minute

// get returns export id if it exists and its namespace is allowed.
func (r *Runner) get(id string) (*checkpoint.Export, error) {
	if !checkpoint.ValidID(id) {
		return nil, fmt.Errorf("%w: %q", api.ErrNotFound, id)
	}
	e, err := r.store.Get(id)
	if err != nil {
		return nil, mapErr(err)
	}
	if err := r.allowedExport(e); err != nil {
		return nil, err
	}
	return e, nil
}

// expire deletes finished exports older than the retention.
func (r *Runner) expire(now time.Time) {
	if r.cfg.Retention <= 0 {
		return
	}
	all, err := r.store.List()
	if err != nil {
		r.log.Error("retention: list exports", "err", err)
		return
	}
	for _, e := range all {
		if e.Finished() && e.FinishedAt != nil && now.Sub(*e.FinishedAt) > r.cfg.Retention {
			if err := r.remove(e); err != nil {
				if errors.Is(err, api.ErrNotFound) {
					continue // another node expired it first
				}
				r.log.Error("retention: delete export", "export", e.ID, "err", err)
				continue
			}
			r.log.Info("export expired", "export", e.ID, "finished", e.FinishedAt)
		}
	}
}

// finish moves export id to a final state.
func (r *Runner) finish(id string, state api.State, msg string) (*api.Manifest, error) {
	return r.finishIn(r.store, id, state, msg)
}

// finishIn is finish through store (the owner's view of it, for a run).
func (r *Runner) finishIn(store checkpoint.Records, id string, state api.State, msg string) (*api.Manifest, error) {
	rec := r.record(id)
	rec.Store = store
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	m, err := rec.SetState(ctx, state, msg, time.Now().UTC())
	return m, mapErr(err)
}

// record is export id's record and manifest, for changing them.
func (r *Runner) record(id string) export.Record {
	dir, _ := r.Dir(id)
	return export.Record{Store: r.store, ID: id, Dir: dir, Objects: r.cfg.Env.Objects}
}

// mapErr gives the store's errors the service's meaning: its ErrNotFound
// and ErrState are api's already; an unreadable record is a conflict.
func mapErr(err error) error {
	if errors.Is(err, checkpoint.ErrCorrupt) && !errors.Is(err, api.ErrState) {
		// An unreadable record can only be deleted.
		return fmt.Errorf("%w: %w", api.ErrState, err)
	}
	return err // the store's ErrNotFound and ErrState are the service's
}

// forget tells Config.Forget of export id, in a cluster.
func (r *Runner) forget(id string) {
	if r.cfg.Cluster != nil && r.cfg.Forget != nil {
		r.cfg.Forget(id)
	}
}
