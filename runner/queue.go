package runner

import (
	"context"
	"slices"
	"sync"
)

// queue is where accepted exports wait for a worker: the runner's own, in
// memory (one daemon, whose store lists what to queue again at start-up),
// or the cluster's work queue.
type queue interface {
	// push queues export id; gen tells one queuing of an export from the
	// next (the cluster's queue stores a queuing sent twice once).
	push(ctx context.Context, id string, gen uint64) error
	// take waits for the next export to run, until ctx ends.
	take(ctx context.Context) (job, error)
	// drop forgets export id if it waits here (a cancel); a job left
	// elsewhere is acked by whoever takes it, finding the export final.
	drop(id string)
	// waiting is the number of exports that wait.
	waiting(ctx context.Context) (int, error)
}

// job is an export taken from a queue, held until done or handed over.
type job interface {
	exportID() string
	// delivered counts the times the job was handed out, this one too.
	delivered() uint64
	// hold keeps the job this node's until ctx ends; it returns an error
	// if the job may have gone to another node.
	hold(ctx context.Context) error
	// done says the export is final (or gone): it is not handed out again.
	done(ctx context.Context) error
	// handover gives the job back to be run again, here or elsewhere.
	handover() error
}

// memQueue is the queue of a single daemon.
type memQueue struct {
	mu    sync.Mutex
	ids   []string // oldest first
	wake  chan struct{}
	depth func(n int)
}

func newMemQueue(depth func(int)) *memQueue {
	return &memQueue{wake: make(chan struct{}, 1), depth: depth}
}

func (q *memQueue) push(_ context.Context, id string, _ uint64) error {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.depth(len(q.ids))
	q.mu.Unlock()
	q.signal()
	return nil
}

// signal wakes a waiting worker; one that finds the queue empty again
// passes nothing on, one that takes an id passes the signal on if more
// wait.
func (q *memQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *memQueue) take(ctx context.Context) (job, error) {
	for {
		q.mu.Lock()
		if len(q.ids) > 0 {
			id := q.ids[0]
			q.ids = q.ids[1:]
			more := len(q.ids) > 0
			q.depth(len(q.ids))
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return memJob(id), nil
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *memQueue) drop(id string) {
	q.mu.Lock()
	q.ids = slices.DeleteFunc(q.ids, func(q string) bool { return q == id })
	q.depth(len(q.ids))
	q.mu.Unlock()
}

func (q *memQueue) waiting(context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ids), nil
}

// memJob is a job of the memQueue: nothing to hold, ack or give back (an
// export stopped by a shutdown is queued again from the store at the next
// start).
type memJob string

func (j memJob) exportID() string             { return string(j) }
func (memJob) delivered() uint64              { return 1 }
func (memJob) hold(ctx context.Context) error { <-ctx.Done(); return nil }
func (memJob) done(context.Context) error     { return nil }
func (memJob) handover() error                { return nil }
