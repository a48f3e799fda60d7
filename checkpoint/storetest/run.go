package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// Run runs the contract against the stores open makes: a new, empty store
// for each case, which open closes when its test ends.
func Run(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"Create", testCreate},
		{"CreateSameRequestIDConcurrently", testCreateConcurrently},
		{"Unknown", testUnknown},
		{"ListOrder", testListOrder},
		{"CommitOrder", testCommitOrder},
		{"FinishedTakesNoChunk", testFinishedTakesNoChunk},
		{"SetState", testSetState},
		{"Delete", testDelete},
		{"Manifest", testManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.run(t, s)
			if bad, err := s.Unreadable(); err != nil || len(bad) > 0 {
				t.Errorf("Unreadable after the case = %v, %v; want none", bad, err)
			}
		})
	}
}

var created0 = time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)

// newExport is a queued export of app.tasks made at created0 plus ms
// milliseconds.
func newExport(t *testing.T, requestID string, ms int) *checkpoint.Export {
	t.Helper()
	plan, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", Format: api.CSV, Fields: []string{"title"}})
	if err != nil {
		t.Fatal(err)
	}
	req := json.RawMessage(`{"database":"app","collection":"tasks","format":"csv","fields":["title"]}`)
	return checkpoint.NewExport(requestID, req, plan, created0.Add(time.Duration(ms)*time.Millisecond))
}

// create stores e and fails the test unless it is new.
func create(t *testing.T, s Store, e *checkpoint.Export) *checkpoint.Export {
	t.Helper()
	got, created, err := s.Create(e)
	if err != nil || !created || got.ID != e.ID {
		t.Fatalf("Create(%s) = %v, created %v, %v", e.ID, got, created, err)
	}
	return got
}

// get returns export id and fails the test if it cannot.
func get(t *testing.T, s Store, id string) *checkpoint.Export {
	t.Helper()
	e, err := s.Get(id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

// chunk is chunk i holding records records, the last with key last.
func chunk(i int, records int64, last string) api.Chunk {
	return api.Chunk{
		Index: i, Name: chunker.Name(i, "csv.zst"), Records: records, RawBytes: 10 * records, Bytes: 3 * records,
		SHA256: fmt.Sprintf("%064x", i), FirstKey: json.RawMessage(`{"_id":0}`), LastKey: json.RawMessage(last),
	}
}

// commit commits chunks in turn and fails the test at the first error.
func commit(t *testing.T, s Store, id string, final bool, chunks ...api.Chunk) {
	t.Helper()
	for i, c := range chunks {
		if err := s.Commit(id, c, final && i == len(chunks)-1, created0); err != nil {
			t.Fatalf("Commit(%s, chunk %d): %v", id, c.Index, err)
		}
	}
}

// sameJSON fails the test unless got and want marshal to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func testCreate(t *testing.T, s Store) {
	first := newExport(t, "nightly-1", 0)
	create(t, s, first)
	sameJSON(t, "Get after Create", get(t, s, first.ID), first)

	again := newExport(t, "nightly-1", 1)
	got, created, err := s.Create(again)
	if err != nil || created || got.ID != first.ID {
		t.Fatalf("Create with a used requestId = %v, created %v, %v; want %s", got, created, err, first.ID)
	}
	sameJSON(t, "Create with a used requestId", got, first)
	if _, err := s.Get(again.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("Get of the export not made: %v, want ErrNotFound", err)
	}
	if got, err := s.ByRequestID("nightly-1"); err != nil || got.ID != first.ID {
		t.Errorf("ByRequestID = %v, %v; want %s", got, err, first.ID)
	}

	create(t, s, newExport(t, "", 2))
	create(t, s, newExport(t, "", 3)) // no requestId: never deduplicated
	if list, err := s.List(); err != nil || len(list) != 3 {
		t.Errorf("List: %d exports, %v; want 3", len(list), err)
	}
}

func testCreateConcurrently(t *testing.T, s Store) {
	const n = 8
	ids := make([]string, n)
	var made sync.WaitGroup
	for i := range n {
		made.Go(func() {
			got, _, err := s.Create(newExport(t, "same", i))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = got.ID
		})
	}
	made.Wait()
	if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 1 || distinct[0] == "" {
		t.Fatalf("one requestId made exports %q", distinct)
	}
	list, err := s.List()
	if err != nil || len(list) != 1 || list[0].ID != ids[0] {
		t.Fatalf("List = %d exports, %v; want only %s", len(list), err, ids[0])
	}
}

func testUnknown(t *testing.T, s Store) {
	const id = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	create(t, s, newExport(t, "known", 0))
	for name, call := range map[string]func() error{
		"Get":         func() error { _, err := s.Get(id); return err },
		"ByRequestID": func() error { _, err := s.ByRequestID("unknown"); return err },
		"Chunks":      func() error { _, err := s.Chunks(id); return err },
		"Commit":      func() error { return s.Commit(id, chunk(0, 1, `{"_id":1}`), false, created0) },
		"SetState":    func() error { return s.SetState(id, api.StateRunning, "", created0) },
		"Delete":      func() error { return s.Delete(id) },
		"Manifest":    func() error { _, err := s.Manifest(id); return err },
	} {
		if err := call(); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Errorf("%s of an unknown export: %v, want ErrNotFound", name, err)
		}
	}
}

func testListOrder(t *testing.T, s Store) {
	// Made out of order; two at the same millisecond, ordered by id.
	var want []string
	tie := []*checkpoint.Export{newExport(t, "", 5), newExport(t, "", 5)}
	slices.SortFunc(tie, func(a, b *checkpoint.Export) int { return strings.Compare(a.ID, b.ID) })
	for _, e := range []*checkpoint.Export{newExport(t, "", 9), tie[1], newExport(t, "b", 1), tie[0], newExport(t, "a", 7)} {
		create(t, s, e)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Time
	for _, e := range list {
		got = append(got, e.CreatedAt)
	}
	if !slices.IsSortedFunc(got, time.Time.Compare) || len(list) != 5 {
		t.Fatalf("List not oldest first: %v", got)
	}
	for _, e := range list {
		if e.CreatedAt.Equal(tie[0].CreatedAt) {
			want = append(want, e.ID)
		}
	}
	if !slices.Equal(want, []string{tie[0].ID, tie[1].ID}) {
		t.Errorf("exports made at the same time listed as %q, want by id %q", want, []string{tie[0].ID, tie[1].ID})
	}
}

func testCommitOrder(t *testing.T, s Store) {
	e := create(t, s, newExport(t, "", 0))
	commit(t, s, e.ID, false, chunk(0, 100, `{"_id":100}`))
	for _, tc := range []struct {
		name string
		c    api.Chunk
	}{
		{"a repeated chunk", chunk(0, 100, `{"_id":100}`)},
		{"a chunk ahead", chunk(2, 5, `{"_id":105}`)},
		{"a negative index", chunk(-1, 5, `{"_id":105}`)},
	} {
		if err := s.Commit(e.ID, tc.c, false, created0); !errors.Is(err, checkpoint.ErrOrder) {
			t.Errorf("Commit of %s: %v, want ErrOrder", tc.name, err)
		}
	}
	commit(t, s, e.ID, false, chunk(1, 50, `{"_id":150}`))
	got := get(t, s, e.ID)
	if got.Chunks != 2 || got.Records != 150 || got.Bytes != 450 || string(got.LastKey) != `{"_id":150}` || got.State != api.StateQueued {
		t.Fatalf("after two chunks: %+v", got)
	}
	// An empty final chunk (a footer) keeps the resume point.
	at := created0.Add(time.Hour)
	if err := s.Commit(e.ID, chunk(2, 0, `null`), true, at); err != nil {
		t.Fatal(err)
	}
	got = get(t, s, e.ID)
	if got.State != api.StateCompleted || got.FinishedAt == nil || !got.FinishedAt.Equal(at) || got.Chunks != 3 || string(got.LastKey) != `{"_id":150}` {
		t.Fatalf("after the final chunk: %+v", got)
	}
	chunks, err := s.Chunks(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Chunks", chunks, []api.Chunk{chunk(0, 100, `{"_id":100}`), chunk(1, 50, `{"_id":150}`), chunk(2, 0, `null`)})
}

func testFinishedTakesNoChunk(t *testing.T, s Store) {
	for _, state := range []api.State{api.StateCompleted, api.StateFailed, api.StateCancelled} {
		e := create(t, s, newExport(t, "", 0))
		if err := s.SetState(e.ID, state, "", created0); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(e.ID, chunk(0, 1, `{"_id":1}`), false, created0); !errors.Is(err, checkpoint.ErrState) {
			t.Errorf("Commit to a %s export: %v, want ErrState", state, err)
		}
		if got := get(t, s, e.ID); got.Chunks != 0 || got.Records != 0 {
			t.Errorf("a %s export took a chunk: %+v", state, got)
		}
	}
}

func testSetState(t *testing.T, s Store) {
	e := create(t, s, newExport(t, "", 0))
	for i, step := range []struct {
		state    api.State
		msg      string
		resumes  int
		finished bool
	}{
		{api.StateRunning, "", 0, false},
		{api.StateFailed, "source went away", 0, true},
		{api.StateQueued, "", 0, false},
		{api.StateRunning, "", 1, false},
		{api.StateCancelled, "by the client", 1, true},
		{api.StateRunning, "", 2, false},
		{api.StateCompleted, "", 2, true},
		{api.StateCompleted, "", 2, true}, // completed may be said again
	} {
		at := created0.Add(time.Duration(i+1) * time.Minute)
		if err := s.SetState(e.ID, step.state, step.msg, at); err != nil {
			t.Fatalf("step %d, to %s: %v", i, step.state, err)
		}
		got := get(t, s, e.ID)
		switch {
		case got.State != step.state || got.Error != step.msg || got.Resumes != step.resumes:
			t.Errorf("step %d, to %s: state %s, error %q, resumes %d", i, step.state, got.State, got.Error, got.Resumes)
		case got.StartedAt == nil || !got.StartedAt.Equal(created0.Add(time.Minute)):
			t.Errorf("step %d, to %s: started at %v, want the first run's", i, step.state, got.StartedAt)
		case step.finished != (got.FinishedAt != nil):
			t.Errorf("step %d, to %s: finished at %v", i, step.state, got.FinishedAt)
		}
	}
	for _, state := range []api.State{api.StateQueued, api.StateRunning, api.StateFailed, api.StateCancelled} {
		if err := s.SetState(e.ID, state, "", created0); !errors.Is(err, checkpoint.ErrState) {
			t.Errorf("completed export to %s: %v, want ErrState", state, err)
		}
	}
}

func testDelete(t *testing.T, s Store) {
	gone := create(t, s, newExport(t, "k", 0))
	kept := create(t, s, newExport(t, "other", 1))
	commit(t, s, gone.ID, false, chunk(0, 3, `{"_id":3}`), chunk(1, 4, `{"_id":7}`))
	commit(t, s, kept.ID, false, chunk(0, 5, `{"_id":5}`))
	if err := s.Delete(gone.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(gone.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Chunks(gone.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("Chunks after Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.ByRequestID("k"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("ByRequestID after Delete: %v, want ErrNotFound", err)
	}
	if err := s.Delete(gone.ID); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("second Delete: %v, want ErrNotFound", err)
	}
	// The requestId makes a new export, which starts with no chunks.
	fresh := newExport(t, "k", 2)
	fresh.ID = gone.ID // even under the same id
	create(t, s, fresh)
	if chunks, err := s.Chunks(fresh.ID); err != nil || len(chunks) != 0 {
		t.Errorf("Chunks of the new export: %v, %v; want none", chunks, err)
	}
	commit(t, s, fresh.ID, false, chunk(0, 1, `{"_id":1}`))
	// The other export keeps everything.
	if chunks, err := s.Chunks(kept.ID); err != nil || len(chunks) != 1 {
		t.Errorf("Chunks of the export kept: %v, %v", chunks, err)
	}
	if got, err := s.ByRequestID("other"); err != nil || got.ID != kept.ID {
		t.Errorf("ByRequestID of the export kept: %v, %v", got, err)
	}
}

func testManifest(t *testing.T, s Store) {
	e := create(t, s, newExport(t, "m", 0))
	if err := s.SetState(e.ID, api.StateRunning, "", created0); err != nil {
		t.Fatal(err)
	}
	chunks := []api.Chunk{chunk(0, 2, `{"_id":2}`), chunk(1, 1, `{"_id":3}`)}
	commit(t, s, e.ID, true, chunks...)
	m, err := s.Manifest(e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := get(t, s, e.ID).Manifest(chunks)
	if want.State != api.StateCompleted || want.Records != 3 || want.Ext != "csv.zst" {
		t.Fatalf("the export's own manifest: %+v", want)
	}
	sameJSON(t, "Manifest", m, want)
}
