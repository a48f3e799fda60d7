package runner

import (
	"context"
	"errors"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
)

// Cluster makes a Runner one node of several that share a JetStream
// cluster: the records are Store's, the exports come from Queue, and this
// node runs one only after claiming it.
type Cluster struct {
	Store *cluster.Store
	Queue *cluster.Queue
	// Node names this daemon among the others; each must have its own.
	Node string
	// Watch is how often a running export's record is read, to see a
	// cancel or delete made on another node (default DefaultWatch).
	Watch time.Duration
}

// DefaultWatch is how soon a running export stops after another node
// cancelled or deleted it.
const DefaultWatch = time.Second

var (
	errElsewhere = errors.New("cancelled on another node")
	errDeleted   = errors.New("deleted")
	errTakenOver = errors.New("taken over by another node")
)

// clusterQueue is the cluster's work queue.
type clusterQueue struct{ q *cluster.Queue }

func (c clusterQueue) push(ctx context.Context, id string, gen uint64) error {
	return c.q.Enqueue(ctx, id, gen)
}

func (c clusterQueue) take(ctx context.Context) (job, error) {
	j, err := c.q.Next(ctx)
	if err != nil {
		return nil, err
	}
	return clusterJob{j}, nil
}

func (clusterQueue) drop(string) {}

func (c clusterQueue) waiting(ctx context.Context) (int, error) { return c.q.Waiting(ctx) }

type clusterJob struct{ j *cluster.Job }

func (c clusterJob) exportID() string               { return c.j.ID }
func (c clusterJob) delivered() uint64              { return c.j.Delivered }
func (c clusterJob) hold(ctx context.Context) error { return c.j.Hold(ctx) }
func (c clusterJob) done(ctx context.Context) error { return c.j.Done(ctx) }
func (c clusterJob) handover() error                { return c.j.Handover() }

// owned is the cluster's store as the node that claimed an export writes
// it: Commit and SetState fail with cluster.ErrNotOwner once another node
// has claimed the export since.
type owned struct {
	checkpoint.Records
	o *cluster.Owned
}

func (o owned) Commit(_ string, c api.Chunk, final bool, at time.Time) error {
	return o.o.Commit(c, final, at)
}

func (o owned) SetState(_ string, state api.State, msg string, at time.Time) error {
	return o.o.SetState(state, msg, at)
}

// claim makes this node the owner of export id, and returns the store as
// the owner writes it. Alone, the node owns every export already.
func (r *Runner) claim(id string) (checkpoint.Records, error) {
	c := r.cfg.Cluster
	if c == nil {
		return r.store, nil
	}
	epoch, err := c.Store.Claim(id, c.Node)
	if err != nil {
		return nil, err
	}
	return owned{Records: r.store, o: c.Store.Owned(id, c.Node, epoch)}, nil
}

// watch stops export id's run (cancel, with the reason as its cause) when
// another node cancels or deletes it, until ctx ends. Alone, the node
// sees every change itself.
func (r *Runner) watch(ctx context.Context, id string, cancel context.CancelCauseFunc) {
	if r.cfg.Cluster == nil {
		return
	}
	every := r.cfg.Cluster.Watch
	if every <= 0 {
		every = DefaultWatch
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if cause := r.changedElsewhere(id); cause != nil {
			cancel(cause)
			return
		}
	}
}

// changedElsewhere reads export id's record and says whether another
// node deleted it (errDeleted) or cancelled it (errElsewhere); nil if
// neither, or if the record cannot be read now (the run's own commits
// fail if the store is gone).
func (r *Runner) changedElsewhere(id string) error {
	e, err := r.store.Get(id)
	switch {
	case errors.Is(err, api.ErrNotFound):
		return errDeleted
	case err == nil && e.State == api.StateCancelled:
		return errElsewhere
	}
	return nil
}

// lost reports whether err says another node runs the export now.
func lost(err error) bool {
	return errors.Is(err, cluster.ErrNotOwner) || errors.Is(err, cluster.ErrLeaseLost) || errors.Is(err, errTakenOver)
}

// nodeOf names the node in messages: "" alone.
func (r *Runner) nodeOf() string {
	if r.cfg.Cluster == nil {
		return ""
	}
	return r.cfg.Cluster.Node
}
