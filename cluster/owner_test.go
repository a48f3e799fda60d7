package cluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// TestTakeover: a node claims an export and commits; another takes it
// over; the first one's next commit and state change fail, and change
// nothing, while the new owner continues.
func TestTakeover(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	a, b := openStore(t, js(t, c, 0), cfg), openStore(t, js(t, c, 0), cfg)
	e := create(t, a, "")
	epochA, err := a.Claim(e.ID, "node-a")
	if err != nil || epochA != 1 {
		t.Fatalf("first claim: epoch %d, %v", epochA, err)
	}
	oldOwner := a.Owned(e.ID, "node-a", epochA)
	if err := oldOwner.SetState(api.StateRunning, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := oldOwner.Commit(chunk(0, 5), false, time.Now()); err != nil {
		t.Fatal(err)
	}

	epochB, err := b.Claim(e.ID, "node-b")
	if err != nil || epochB != 2 {
		t.Fatalf("takeover: epoch %d, %v", epochB, err)
	}
	if node, epoch, err := a.Owner(e.ID); err != nil || node != "node-b" || epoch != 2 {
		t.Fatalf("Owner after the takeover = %s, %d, %v", node, epoch, err)
	}
	if err := oldOwner.Commit(chunk(1, 7), false, time.Now()); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("the old owner's commit: %v, want ErrNotOwner", err)
	}
	if err := oldOwner.SetState(api.StateFailed, "stale", time.Now()); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("the old owner's state change: %v, want ErrNotOwner", err)
	}
	// The same node name under its old epoch is stale too.
	if err := b.Owned(e.ID, "node-b", 1).Commit(chunk(1, 7), false, time.Now()); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("a commit under an old epoch: %v, want ErrNotOwner", err)
	}
	owner := b.Owned(e.ID, "node-b", epochB)
	if err := owner.SetState(api.StateRunning, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := owner.Commit(chunk(1, 3), true, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := a.Get(e.ID)
	if err != nil || got.State != api.StateCompleted || got.Records != 8 || got.Resumes != 1 {
		t.Fatalf("after the new owner's final chunk: %+v, %v", got, err)
	}
	if _, err := a.Claim(e.ID, "node-a"); !errors.Is(err, checkpoint.ErrState) {
		t.Fatalf("claim of a completed export: %v, want ErrState", err)
	}
	// Anyone may cancel; the owner's next commit sees it.
	e2 := create(t, a, "")
	epoch, err := b.Claim(e2.ID, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetState(e2.ID, api.StateCancelled, "by the client", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := b.Owned(e2.ID, "node-b", epoch).Commit(chunk(0, 1), false, time.Now()); !errors.Is(err, checkpoint.ErrState) {
		t.Fatalf("commit after a cancel: %v, want ErrState", err)
	}
}

// TestLeftoverChunks: chunk keys beyond the record's count, as a commit
// whose compare-and-set failed leaves them (or one still in flight), are
// not read as chunks, and the next commit of their index replaces them;
// an in-flight one can no longer land after that.
func TestLeftoverChunks(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	j := js(t, c, 0)
	s := openStore(t, j, cfg)
	kv, err := j.KeyValue(ctx(t), cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	e := create(t, s, "")
	if err := s.Commit(e.ID, chunk(0, 5), false, time.Now()); err != nil {
		t.Fatal(err)
	}
	record := func() jetstream.KeyValueEntry {
		t.Helper()
		ent, err := kv.Get(ctx(t), "e."+e.ID)
		if err != nil {
			t.Fatal(err)
		}
		return ent
	}
	leave := func(i int, value string) {
		t.Helper()
		if _, err := kv.Put(ctx(t), fmt.Sprintf("c.%s.%06d", e.ID, i), []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	stale := func(i int, base uint64) string {
		v, _ := json.Marshal(map[string]any{"chunk": chunk(i, 99), "base": base})
		return string(v)
	}
	check := func(when string, records ...int64) {
		t.Helper()
		chunks, err := s.Chunks(e.ID)
		var got []int64
		for _, c := range chunks {
			got = append(got, c.Records)
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(records) {
			t.Fatalf("%s: chunks of %v records, %v; want %v", when, got, err, records)
		}
		if m, err := s.Manifest(e.ID); err != nil || len(m.Chunks) != len(records) || m.State == api.StateFailed {
			t.Fatalf("%s: manifest %+v, %v", when, m, err)
		}
	}

	for _, tc := range []struct {
		name  string
		value func(i int) string
	}{
		{"dead: its commit read an older revision", func(i int) string { return stale(i, record().Revision()-1) }},
		{"unreadable", func(int) string { return "{not json" }},
		{"another index inside", func(i int) string { return stale(i+1, 1) }},
	} {
		got, _ := s.Get(e.ID)
		i := got.Chunks
		leave(i, tc.value(i))
		leave(i+1, stale(i+1, 1)) // beyond the next too
		records := make([]int64, 0, i+1)
		for range i {
			records = append(records, 5)
		}
		check(tc.name+", before", records...)
		if err := s.Commit(e.ID, chunk(i, 5), false, time.Now()); err != nil {
			t.Fatalf("%s: commit over the leftover: %v", tc.name, err)
		}
		check(tc.name+", after", append(records, 5)...)
	}

	// A commit in flight: its chunk is written against the record's
	// current revision, its compare-and-set not sent yet.
	inFlight := record()
	leave(4, stale(4, inFlight.Revision()))
	if err := s.Commit(e.ID, chunk(4, 5), false, time.Now()); err != nil {
		t.Fatalf("commit over an in-flight chunk: %v", err)
	}
	if _, err := kv.Update(ctx(t), "e."+e.ID, inFlight.Value(), inFlight.Revision()); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("the in-flight commit landed after all: %v", err)
	}
	check("after the in-flight commit", 5, 5, 5, 5, 5)
	if err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	if keys, err := kv.Keys(ctx(t)); !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Fatalf("keys after Delete: %v, %v", keys, err)
	}
}
