package checkpoint_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// openStore opens a store in a temp dir and checks the file's consistency
// when the test ends.
func openStore(t testing.TB) *checkpoint.Store {
	t.Helper()
	return openStoreAt(t, filepath.Join(t.TempDir(), checkpoint.FileName))
}

// openStoreAt opens the store at path and checks the file's consistency
// when the test ends, unless reopen closed it first (and checked it then).
func openStoreAt(t testing.TB, path string) *checkpoint.Store {
	t.Helper()
	s, err := checkpoint.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := s.Check()
		if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
			return // reopen checked and closed it
		}
		if err != nil {
			t.Errorf("checkpoint file inconsistent: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// reopen closes s, runs fn in one transaction on the bare bbolt file, as
// an operator's tool or a bug could, and opens the store again, as the
// daemon does when it restarts. The file is checked before and after.
func reopen(t testing.TB, s *checkpoint.Store, fn func(tx *bolt.Tx) error) *checkpoint.Store {
	t.Helper()
	path := s.Path()
	if err := s.Check(); err != nil {
		t.Fatalf("checkpoint file inconsistent: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return openStoreAt(t, path)
}

func newExport(t testing.TB, reqID string) *checkpoint.Export {
	t.Helper()
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	return &checkpoint.Export{
		ID: checkpoint.NewID(), RequestID: reqID, Request: json.RawMessage(`{"database":"app","collection":"tasks"}`),
		Plan: *p, CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC), State: api.StateQueued,
	}
}

func chunk(i int, records int64, last string) api.Chunk {
	return api.Chunk{Index: i, Name: chunker.Name(i, "ndjson.zst"), Records: records, RawBytes: records * 10, Bytes: records,
		SHA256: "00", FirstKey: json.RawMessage(`{"_id":1}`), LastKey: json.RawMessage(last)}
}

func TestCreateIsIdempotentByRequestID(t *testing.T) {
	s := openStore(t)
	a := newExport(t, "client-key-1")
	got, created, err := s.Create(a)
	if err != nil || !created || got.ID != a.ID {
		t.Fatalf("first create: %v %v %v", got, created, err)
	}
	b := newExport(t, "client-key-1")
	got, created, err = s.Create(b)
	if err != nil || created || got.ID != a.ID {
		t.Fatalf("second create with the same key: id %s created %v err %v, want %s", got.ID, created, err, a.ID)
	}
	if got, err := s.ByRequestID("client-key-1"); err != nil || got.ID != a.ID {
		t.Fatalf("ByRequestID = %v, %v", got, err)
	}
	if _, err := s.ByRequestID("nobody"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("ByRequestID of an unknown key: %v", err)
	}
	c := newExport(t, "")
	if _, created, err := s.Create(c); err != nil || !created {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %d exports, %v", len(list), err)
	}
}

func TestConcurrentCreateSameKey(t *testing.T) {
	s := openStore(t)
	var wg sync.WaitGroup
	ids := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			got, _, err := s.Create(newExport(t, "same"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- got.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Fatalf("%d exports for one request id", len(seen))
	}
}

func TestCommitAdvancesResumePoint(t *testing.T) {
	s := openStore(t)
	e := newExport(t, "")
	if _, _, err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	if err := s.SetState(e.ID, api.StateRunning, "", at); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(e.ID, chunk(0, 100, `{"_id":100}`), false, at); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(e.ID, chunk(2, 100, `{"_id":300}`), false, at); !errors.Is(err, checkpoint.ErrOrder) {
		t.Fatalf("out of order commit: %v", err)
	}
	if err := s.Commit(e.ID, chunk(0, 100, `{"_id":100}`), false, at); !errors.Is(err, checkpoint.ErrOrder) {
		t.Fatalf("repeated commit: %v", err)
	}
	if err := s.Commit(e.ID, chunk(1, 50, `{"_id":150}`), false, at); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(e.ID)
	if got.Chunks != 2 || got.Records != 150 || string(got.LastKey) != `{"_id":150}` || got.State != api.StateRunning {
		t.Fatalf("after two commits: %+v", got)
	}
	// An empty final chunk (a footer) keeps the last key.
	if err := s.Commit(e.ID, chunk(2, 0, `null`), true, at); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(e.ID)
	if got.State != api.StateCompleted || got.FinishedAt == nil || string(got.LastKey) != `{"_id":150}` {
		t.Fatalf("after the final commit: %+v", got)
	}
	if err := s.Commit(e.ID, chunk(3, 1, `{"_id":151}`), false, at); !errors.Is(err, checkpoint.ErrState) {
		t.Fatalf("commit after completion: %v", err)
	}
	if err := s.SetState(e.ID, api.StateRunning, "", at); !errors.Is(err, checkpoint.ErrState) {
		t.Fatalf("completed export restarted: %v", err)
	}
	m, err := s.Manifest(e.ID)
	if err != nil || len(m.Chunks) != 3 || m.Records != 150 || m.State != api.StateCompleted {
		t.Fatalf("manifest %+v %v", m, err)
	}
}

func TestStatesAndDelete(t *testing.T) {
	s := openStore(t)
	e := newExport(t, "k")
	s.Create(e)
	at := time.Now().UTC()
	steps := []struct {
		state   api.State
		resumes int
	}{{api.StateRunning, 0}, {api.StateFailed, 0}, {api.StateRunning, 1}, {api.StateCancelled, 1}, {api.StateQueued, 1}, {api.StateRunning, 2}}
	for _, st := range steps {
		if err := s.SetState(e.ID, st.state, "because", at); err != nil {
			t.Fatalf("to %s: %v", st.state, err)
		}
		got, _ := s.Get(e.ID)
		if got.State != st.state || got.Resumes != st.resumes || got.StartedAt == nil {
			t.Fatalf("to %s: %+v", st.state, got)
		}
	}
	if err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(e.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := s.Chunks(e.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("chunks after delete: %v", err)
	}
	// The request id is free again.
	if _, created, _ := s.Create(newExport(t, "k")); !created {
		t.Fatal("request id still taken after delete")
	}
	if err := s.Delete("nope"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), checkpoint.FileName)
	s, err := checkpoint.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = checkpoint.Open(path)
	if !errors.Is(err, checkpoint.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second open took %s", d)
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := checkpoint.NewID()
		if !checkpoint.ValidID(id) || seen[id] {
			t.Fatalf("id %q invalid or repeated", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "../etc/passwd", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "aaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaaaaa/", " aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		if checkpoint.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
