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
	// CountTotal asks the database for a total when it is cheap.
	CountTotal bool
	Logger     *slog.Logger
}

// Runner runs exports. Its methods are safe for concurrent use; it
// implements api.Exports.
type Runner struct {
	cfg   Config
	store checkpoint.Records
	log   *slog.Logger

	mu      sync.Mutex
	queue   []string // waiting ids, oldest first
	running map[string]*active
	wake    chan struct{}
	closed  bool
	wg      sync.WaitGroup
	metrics Metrics
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
	r := &Runner{
		cfg: cfg, store: cfg.Env.Store, log: log,
		running: map[string]*active{}, wake: make(chan struct{}, 1),
	}
	// Unfinished exports are queued here, before Start can create one: a
	// scan in Run could meet an export Start just created and queue it a
	// second time, running it twice at once.
	bad, err := r.store.Unreadable()
	if err != nil {
		return nil, err
	}
	for _, c := range bad {
		r.log.Error("checkpoint record unreadable: the export shows as failed and is not resumed; delete it or restore the record",
			"export", c.ID, "err", c)
	}
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
		r.enqueue(e.ID)
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
	for {
		select {
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

// work runs queued exports one at a time until ctx ends.
func (r *Runner) work(ctx context.Context) {
	for {
		id, ok := r.next(ctx)
		if !ok {
			return
		}
		r.runOne(ctx, id)
	}
}

func (r *Runner) next(ctx context.Context) (string, bool) {
	for {
		r.mu.Lock()
		if r.closed || ctx.Err() != nil {
			r.mu.Unlock()
			return "", false
		}
		if len(r.queue) > 0 {
			id := r.queue[0]
			r.queue = r.queue[1:]
			r.metrics.queueDepth(len(r.queue))
			r.mu.Unlock()
			return id, true
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-ctx.Done():
			return "", false
		}
	}
}

func (r *Runner) enqueue(id string) {
	r.mu.Lock()
	r.queue = append(r.queue, id)
	r.metrics.queueDepth(len(r.queue))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	// Wake every idle worker: one token may serve only one.
	for range r.cfg.MaxConcurrent - 1 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
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
func (r *Runner) Start(_ context.Context, raw json.RawMessage) (*api.Manifest, error) {
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
	r.mu.Lock()
	full := len(r.queue) >= r.cfg.QueueSize && len(r.running) >= r.cfg.MaxConcurrent
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("%w: shutting down", api.ErrBusy)
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
		return r.Status(got.ID)
	}
	dir, _ := r.Dir(e.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, errors.Join(err, r.store.Delete(e.ID))
	}
	m, err := r.record(e.ID).Save()
	if err != nil {
		return nil, mapErr(err)
	}
	r.emit(api.Event{Event: api.EventQueued, ExportID: e.ID})
	r.enqueue(e.ID)
	return m, nil
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
	} else {
		r.queue = slices.DeleteFunc(r.queue, func(q string) bool { return q == id })
	}
	r.mu.Unlock()
	if !running {
		m, err := r.finish(id, api.StateCancelled, "cancelled")
		if err != nil {
			return nil, err
		}
		r.emit(api.Event{Event: api.EventCancelled, ExportID: id})
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
	m, err := r.record(id).SetState(api.StateQueued, "", time.Now().UTC())
	if err != nil {
		return nil, mapErr(err)
	}
	r.emit(api.Event{Event: api.EventQueued, ExportID: id})
	r.enqueue(id)
	return m, nil
}

// Delete removes an export and its files, cancelling it first if needed.
func (r *Runner) Delete(id string) error {
	e, err := r.get(id)
	if err != nil {
		return err
	}
	return r.remove(e)
}

// remove deletes export e and its files, cancelling it first if needed.
func (r *Runner) remove(e *checkpoint.Export) error {
	id := e.ID
	if !e.Finished() {
		if _, err := r.Cancel(id); err != nil && !errors.Is(err, api.ErrState) {
			return err
		}
	}
	dir, _ := r.Dir(id)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return mapErr(r.store.Delete(id))
}

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
				r.log.Error("retention: delete export", "export", e.ID, "err", err)
				continue
			}
			r.log.Info("export expired", "export", e.ID, "finished", e.FinishedAt)
		}
	}
}

// finish moves export id to a final state.
func (r *Runner) finish(id string, state api.State, msg string) (*api.Manifest, error) {
	m, err := r.record(id).SetState(state, msg, time.Now().UTC())
	return m, mapErr(err)
}

// record is export id's record and manifest, for changing them.
func (r *Runner) record(id string) export.Record {
	dir, _ := r.Dir(id)
	return export.Record{Store: r.store, ID: id, Dir: dir}
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
