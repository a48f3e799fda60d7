package cluster_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// TestRequestIDRace: two nodes, on two servers, create an export for the
// same requestId at the same moment; there is one export, both get it,
// and the loser left nothing behind.
func TestRequestIDRace(t *testing.T) {
	c := natstest.Cluster(t, 3)
	cfg := config(3)
	nodes := []*cluster.Store{openStore(t, js(t, c, 0), cfg), openStore(t, js(t, c, 1), cfg)}
	const rounds = 20
	for round := range rounds {
		key := fmt.Sprintf("client-%d", round)
		got := make([]*checkpoint.Export, len(nodes))
		made := make([]bool, len(nodes))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, s := range nodes {
			wg.Go(func() {
				<-start
				var err error
				if got[i], made[i], err = s.Create(newExport(t, key)); err != nil {
					t.Errorf("round %d, node %d: %v", round, i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		if got[0].ID != got[1].ID || made[0] == made[1] {
			t.Fatalf("round %d: exports %s (created %v) and %s (created %v)", round, got[0].ID, made[0], got[1].ID, made[1])
		}
	}
	list, err := nodes[1].List()
	if err != nil || len(list) != rounds {
		t.Fatalf("List: %d exports, %v; want %d", len(list), err, rounds)
	}
}

// TestConcurrentCommits: two nodes commit each chunk of one export at
// the same time, without claims; one commit of each index lands, the
// other is refused, and the chunks recorded are the winners'.
func TestConcurrentCommits(t *testing.T) {
	c := natstest.Cluster(t, 3)
	cfg := config(3)
	nodes := []*cluster.Store{openStore(t, js(t, c, 0), cfg), openStore(t, js(t, c, 2), cfg)}
	e := create(t, nodes[0], "")
	var want int64
	var wantChunks []int64
	for i := range 10 {
		errs := make([]error, len(nodes))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for n, s := range nodes {
			wg.Go(func() {
				<-start
				errs[n] = s.Commit(e.ID, chunk(i, int64(n+1)), false, time.Now())
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for n, err := range errs {
			switch {
			case err == nil && won < 0:
				won = n
			case err == nil:
				t.Fatalf("chunk %d: both commits landed", i)
			case !errors.Is(err, checkpoint.ErrOrder) && !errors.Is(err, cluster.ErrConflict):
				t.Fatalf("chunk %d, node %d: %v", i, n, err)
			}
		}
		if won < 0 {
			t.Fatalf("chunk %d: no commit landed: %v", i, errs)
		}
		want += int64(won + 1)
		wantChunks = append(wantChunks, int64(won+1))
	}
	got, err := nodes[1].Get(e.ID)
	if err != nil || got.Chunks != 10 || got.Records != want {
		t.Fatalf("after the commits: %+v, %v; want 10 chunks of %d records", got, err, want)
	}
	chunks, err := nodes[0].Chunks(e.ID)
	if err != nil || len(chunks) != 10 {
		t.Fatalf("Chunks: %v, %v", chunks, err)
	}
	for i, c := range chunks {
		if c.Records != wantChunks[i] {
			t.Errorf("chunk %d holds the loser's commit (%d records, want %d)", i, c.Records, wantChunks[i])
		}
	}
}
