package cluster_test

import (
	"errors"
	"testing"
	"time"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/checkpoint/storetest"
	"github.com/exportd/exportd/internal/natstest"
)

// TestContract: the cluster store keeps checkpoint's contract, on one
// server.
func TestContract(t *testing.T) {
	js := js(t, natstest.Cluster(t, 1), 0)
	storetest.Run(t, func(t *testing.T) storetest.Store { return openStore(t, js, config(1)) })
}

// TestContractR3: and on a bucket of three replicas, each case through
// another server.
func TestContractR3(t *testing.T) {
	c := natstest.Cluster(t, 3)
	n := 0
	storetest.Run(t, func(t *testing.T) storetest.Store {
		n++
		return openStore(t, js(t, c, n%3), config(3))
	})
}

// TestR3SurvivesKill: with one of three servers down, the records are
// all there and the store takes new ones; the server comes back with
// them.
func TestR3SurvivesKill(t *testing.T) {
	c := natstest.Cluster(t, 3)
	cfg := config(3)
	s := openStore(t, js(t, c, 0), cfg)
	e := create(t, s, "before")
	if err := s.Commit(e.ID, chunk(0, 10), false, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, down := range []int{0, 1} { // the one the client is on, then another
		c.Kill(down)
		if got, err := s.ByRequestID("before"); err != nil || got.ID != e.ID {
			t.Fatalf("server %d down: ByRequestID = %v, %v", down, got, err)
		}
		if err := s.Commit(e.ID, chunk(1+down, 10), false, time.Now()); err != nil {
			t.Fatalf("server %d down: Commit: %v", down, err)
		}
		create(t, s, "during")
		if err := s.Delete(mustByRequestID(t, s, "during").ID); err != nil {
			t.Fatal(err)
		}
		c.Restart(down)
	}
	// A client of the server that was down last reads what it missed.
	again := openStore(t, js(t, c, 1), cfg)
	m, err := again.Manifest(e.ID)
	if err != nil || len(m.Chunks) != 3 || m.Records != 30 {
		t.Fatalf("manifest after the restarts: %+v, %v", m, err)
	}
	if _, err := again.ByRequestID("during"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("deleted export: %v", err)
	}
}

func mustByRequestID(t *testing.T, s storetest.Store, key string) *checkpoint.Export {
	t.Helper()
	e, err := s.ByRequestID(key)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
