package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// queues opens the queue of cfg on n connections of their own, as n
// nodes do.
func queues(t *testing.T, c *natstest.Servers, cfg cluster.Config, n int) []*cluster.Queue {
	t.Helper()
	var qs []*cluster.Queue
	for i := range n {
		q, err := cluster.OpenQueue(ctx(t), js(t, c, i%c.Len()), cfg)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	return qs
}

// next is q's next job; it fails the test if none comes within d.
func next(t *testing.T, q *cluster.Queue, d time.Duration) *cluster.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	job, err := q.Next(ctx)
	if err != nil {
		t.Fatalf("no job within %s: %v", d, err)
	}
	return job
}

// taken enqueues a new export on q and takes its job from q.
func taken(t *testing.T, q *cluster.Queue) *cluster.Job {
	t.Helper()
	if err := q.Enqueue(ctx(t), checkpoint.NewID(), 0); err != nil {
		t.Fatal(err)
	}
	return next(t, q, wait)
}

// none checks that q hands out no job for d.
func none(t *testing.T, q *cluster.Queue, d time.Duration, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if job, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: got job %v, %v", why, job, err)
	}
}

// TestQueueRedelivery: a job its node stops renewing (the node died) goes
// to another node after the lease, and only then.
func TestQueueRedelivery(t *testing.T) {
	c := natstest.Cluster(t, 3)
	cfg := config(3)
	qs := queues(t, c, cfg, 2)
	job := taken(t, qs[0])
	id := job.ID
	if !checkpoint.ValidID(id) || job.Delivered != 1 {
		t.Fatalf("job %q, delivered %d; want an export id, 1", id, job.Delivered)
	}
	taken := time.Now()
	again := next(t, qs[1], wait)
	if again.ID != id || again.Delivered != 2 {
		t.Fatalf("redelivered job %s, delivered %d; want %s, 2", again.ID, again.Delivered, id)
	}
	if d := time.Since(taken); d < cfg.LeaseTTL*8/10 {
		t.Fatalf("redelivered after %s, before the lease of %s ran out", d, cfg.LeaseTTL)
	}
	if err := again.Done(ctx(t)); err != nil {
		t.Fatal(err)
	}
	none(t, qs[0], 2*cfg.LeaseTTL, "after Done")
}

// TestQueueHandover: a job handed over goes to a waiting node at once,
// long before its lease would run out.
func TestQueueHandover(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	cfg.LeaseTTL = time.Minute
	qs := queues(t, c, cfg, 2)
	job := taken(t, qs[0])
	got := make(chan *cluster.Job, 1)
	waiting, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	go func() {
		j, _ := qs[1].Next(waiting)
		got <- j
	}()
	if err := job.Handover(); err != nil {
		t.Fatal(err)
	}
	select {
	case j := <-got:
		if j == nil || j.ID != job.ID {
			t.Fatalf("the other node got %v", j)
		}
		if err := j.Done(ctx(t)); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job handed over did not reach the other node within 5s (lease 1m)")
	}
}

// TestQueueKeepAlive: a job held past its lease is not handed to anyone
// else, and once done, never again.
func TestQueueKeepAlive(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	qs := queues(t, c, cfg, 2)
	job := taken(t, qs[0])
	held := make(chan error, 1)
	go func() { held <- job.Hold(t.Context()) }()
	none(t, qs[1], 3*cfg.LeaseTTL, "while the job is held")
	if err := job.Done(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("Hold: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Hold did not return once the job was done")
	}
	none(t, qs[1], 2*cfg.LeaseTTL, "after Done")
}

// TestEnqueueGenerations: the same queuing sent twice is one job; a new
// generation (a resume) is another.
func TestEnqueueGenerations(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	q := queues(t, c, cfg, 1)[0]
	id := checkpoint.NewID()
	for _, gen := range []uint64{0, 0, 1} {
		if err := q.Enqueue(ctx(t), id, gen); err != nil {
			t.Fatal(err)
		}
	}
	stream, err := js(t, c, 0).Stream(ctx(t), cfg.WorkStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx(t))
	if err != nil || info.State.Msgs != 2 {
		t.Fatalf("work stream holds %v messages, %v; want 2", info.State.Msgs, err)
	}
	for range 2 {
		if err := next(t, q, wait).Done(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	if info, err := stream.Info(ctx(t)); err != nil || info.State.Msgs != 0 {
		t.Fatalf("work stream holds %v messages after both acks, %v", info.State.Msgs, err)
	}
	if info.Config.Retention != jetstream.WorkQueuePolicy {
		t.Fatalf("work stream retention %v", info.Config.Retention)
	}
}
