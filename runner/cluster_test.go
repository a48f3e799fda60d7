package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
	"github.com/exportd/exportd/runner"
)

// clusterNode is one runner of a cluster on a JetStream server.
type clusterNode struct {
	r      *runner.Runner
	store  *cluster.Store
	events *events
	cancel context.CancelFunc
	done   chan error
}

// joinCluster makes node name's runner on server 0 of ns, with a lease of
// lease; run starts it.
func joinCluster(t *testing.T, ns *natstest.Servers, s3 *s3test.Server, name string, lease time.Duration, run bool) *clusterNode {
	t.Helper()
	objects, err := objstore.New(context.Background(), s3.Config("exports"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(ns.Connect(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg := cluster.Config{LeaseTTL: lease}
	store, err := cluster.OpenStore(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	queue, err := cluster.OpenQueue(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	r, err := runner.New(runner.Config{
		Env:     &export.Env{Store: store, Client: client(t), Workers: 2, Retries: 2, Backoff: 50 * time.Millisecond, MaxBackoff: time.Second},
		DataDir: t.TempDir(), MaxConcurrent: 1, QueueSize: 10, Grace: 30 * time.Second, Events: ev.add,
		Objects: objects,
		Cluster: &runner.Cluster{Store: store, Queue: queue, Node: name, Watch: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &clusterNode{r: r, store: store, events: ev, done: make(chan error, 1)}
	if run {
		n.run(t)
	}
	return n
}

func (n *clusterNode) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.r.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
}

// stop is a drain, as on SIGTERM.
func (n *clusterNode) stop(t *testing.T) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		t.Errorf("runner: %v", err)
	}
}

func (n *clusterNode) wait(t *testing.T, id string, timeout time.Duration, cond func(*api.Manifest) bool) *api.Manifest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m, err := n.r.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s: still %s with %d chunks after %s", id, m.State, len(m.Chunks), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *events) count(id, name string) int {
	n := 0
	for _, ev := range e.of(id) {
		if ev.Event == name {
			n++
		}
	}
	return n
}

// A request accepted by a node that dies before it starts it is run, once,
// by another; the same requestId then names that export and runs nothing.
func TestClusterAcceptedByDeadNode(t *testing.T) {
	ns, s3 := natstest.Cluster(t, 1), s3test.Spawn(t)
	a := joinCluster(t, ns, s3, "a", 30*time.Second, false) // accepts, never runs
	req := json.RawMessage(`{"database": "app", "collection": "tasks", "format": "ndjson", "compression": "zstd", "chunkRecords": 1000, "requestId": "accepted-then-lost"}`)
	m, err := a.r.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != api.StateQueued {
		t.Fatalf("accepted: %s", m.State)
	}
	ns.Connect(t, 0).Close() // a's connections are of no more use: it is gone

	b := joinCluster(t, ns, s3, "b", 30*time.Second, true)
	done := b.wait(t, m.ID, 2*time.Minute, func(m *api.Manifest) bool { return m.State == api.StateCompleted })
	if done.Records != tasks || len(done.Chunks) != tasks/1000 {
		t.Fatalf("completed with %d records in %d chunks", done.Records, len(done.Chunks))
	}
	again, err := b.r.Start(context.Background(), req)
	if err != nil || again.ID != m.ID {
		t.Fatalf("the same request again: %v %+v", err, again)
	}
	time.Sleep(500 * time.Millisecond) // room for a second run, if one were queued
	owner, epoch, err := b.store.Owner(m.ID)
	if err != nil || owner != "b" || epoch != 1 {
		t.Fatalf("owner %q epoch %d (%v): want b's one claim", owner, epoch, err)
	}
	if n := b.events.count(m.ID, api.EventFetching); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
	if n := b.events.count(m.ID, api.EventCompleted); n != 1 {
		t.Fatalf("%d export-completed events, want 1", n)
	}
}

// A node that drains hands its running export over at once, not after
// its lease: another node resumes it from its last chunk.
func TestClusterDrainHandsOver(t *testing.T) {
	ns, s3 := natstest.Cluster(t, 1), s3test.Spawn(t)
	const lease = time.Minute
	a := joinCluster(t, ns, s3, "a", lease, true)
	req := json.RawMessage(`{"database": "app", "collection": "tasks", "format": "csv", "fields": ["_id", "title"], "compression": "gzip", "chunkRecords": 200}`)
	m, err := a.r.Start(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	a.wait(t, m.ID, time.Minute, func(m *api.Manifest) bool { return m.State == api.StateRunning && len(m.Chunks) >= 2 })
	b := joinCluster(t, ns, s3, "b", lease, true)
	drained := time.Now()
	a.stop(t)
	got := b.wait(t, m.ID, 2*time.Minute, func(m *api.Manifest) bool { return m.State == api.StateCompleted })
	if took := time.Since(drained); took >= lease {
		t.Fatalf("the export completed %s after the drain: it waited for the lease (%s)", took, lease)
	}
	if got.Records != tasks || len(got.Chunks) != tasks/200 {
		t.Fatalf("completed with %d records in %d chunks", got.Records, len(got.Chunks))
	}
	if owner, epoch, _ := b.store.Owner(m.ID); owner != "b" || epoch != 2 {
		t.Fatalf("owner %q epoch %d: want b's claim after a's", owner, epoch)
	}
	if b.events.count(m.ID, api.EventResumed) != 1 {
		t.Fatalf("b's events: %+v", b.events.of(m.ID))
	}
}

// A node's queue depth follows the cluster's queue, which other nodes
// fill and empty: it goes back to 0 once the work is done, although this
// node was asked for nothing.
func TestClusterQueueDepth(t *testing.T) {
	ns, s3 := natstest.Cluster(t, 1), s3test.Spawn(t)
	a := joinCluster(t, ns, s3, "a", 30*time.Second, false) // accepts, never runs
	var ids []string
	for i := range 3 {
		m, err := a.r.Start(context.Background(), json.RawMessage(fmt.Sprintf(
			`{"database": "app", "collection": "tasks", "chunkRecords": 1000, "requestId": "depth-%d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	b := joinCluster(t, ns, s3, "b", 30*time.Second, false)
	var mu sync.Mutex
	var depths []int
	b.r.SetMetrics(runner.Metrics{QueueDepth: func(n int) {
		mu.Lock()
		depths = append(depths, n)
		mu.Unlock()
	}})
	b.run(t)
	for _, id := range ids {
		b.wait(t, id, 2*time.Minute, func(m *api.Manifest) bool { return m.State == api.StateCompleted })
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		seen := slices.Clone(depths)
		mu.Unlock()
		if len(seen) > 0 && seen[0] == 3 && seen[len(seen)-1] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b's queue depths %v: want 3 first (a's requests), then 0 once b ran them", seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
