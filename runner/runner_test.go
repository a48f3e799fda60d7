package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/runner"
)

const tasks = 4000

var dbURI string

// TestMain starts one devmongo for the package, in its own process, and
// seeds it.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "runner-db-")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		defer devmongotest.RemoveBinary()
		p, err := devmongotest.StartProcess(dir, "")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer p.Stop()
		dbURI = p.URI
		c, err := mongo.Connect(options.Client().ApplyURI(dbURI))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_, err = devmongo.Seed(context.Background(), c.Database("app").Collection("tasks"), 0, tasks, devmongo.SeedOptions{})
		c.Disconnect(context.Background())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

func client(t *testing.T) *mongo.Client {
	t.Helper()
	return devmongotest.Client(t, dbURI)
}

type events struct {
	mu  sync.Mutex
	all []api.Event
}

func (e *events) add(ev api.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(id string) []api.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []api.Event
	for _, ev := range e.all {
		if ev.ExportID == id {
			out = append(out, ev)
		}
	}
	return out
}

type fixture struct {
	r      *runner.Runner
	store  *checkpoint.Store
	events *events
	data   string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, data string, cfg runner.Config) *fixture {
	t.Helper()
	store, err := checkpoint.Open(filepath.Join(data, checkpoint.FileName))
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	cfg.Env = &export.Env{Store: store, Client: client(t), Workers: 2, Retries: 2, Backoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	cfg.DataDir = data
	if cfg.MaxConcurrent == 0 {
		cfg.MaxConcurrent = 2
	}
	if cfg.Grace == 0 {
		cfg.Grace = 30 * time.Second
	}
	cfg.Events = ev.add
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{r: r, store: store, events: ev, data: data, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- r.Run(ctx) }()
	t.Cleanup(func() { f.stop(t) })
	return f
}

func (f *fixture) stop(t *testing.T) {
	if f.cancel == nil {
		return
	}
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("runner: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("runner did not stop")
	}
	if err := f.store.Check(); err != nil {
		t.Errorf("checkpoint: %v", err)
	}
	f.store.Close()
	f.cancel = nil
}

func (f *fixture) wait(t *testing.T, id string, states ...api.State) *api.Manifest {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := f.r.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if m.State == s {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("export %s never reached %v", id, states)
	return nil
}

func TestStartEventsAndIdempotency(t *testing.T) {
	f := start(t, t.TempDir(), runner.Config{QueueSize: 10})
	req := `{"requestId": "k-1", "database": "app", "collection": "tasks", "format": "csv", "fields": ["_id", "title"], "chunkRecords": 1000, "progressEvery": 500, "batchSize": 100}`
	m, err := f.r.Start(context.Background(), json.RawMessage(req))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.r.Start(context.Background(), json.RawMessage(req))
	if err != nil || again.ID != m.ID {
		t.Fatalf("same requestId: %v, %v", again, err)
	}
	done := f.wait(t, m.ID, api.StateCompleted)
	if done.Records != tasks || len(done.Chunks) != tasks/1000 {
		t.Fatalf("completed with %d records in %d chunks", done.Records, len(done.Chunks))
	}
	list, _ := f.r.List("")
	if len(list) != 1 {
		t.Fatalf("%d exports for one requestId", len(list))
	}
	// The events of the end follow the checkpoint's completion.
	var evs []api.Event
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		evs = f.events.of(m.ID)
		if len(evs) > 0 && evs[len(evs)-1].Event == api.EventCompleted {
			break
		}
	}
	var names []string
	for _, ev := range evs {
		if len(names) == 0 || names[len(names)-1] != ev.Event {
			names = append(names, ev.Event)
		}
	}
	got := strings.Join(names, " ")
	for _, want := range []string{api.EventQueued, api.EventFetching, api.EventFileGeneration, api.EventFinalizing, api.EventCompleted} {
		if !strings.Contains(got, want) {
			t.Fatalf("events %s lack %s", got, want)
		}
	}
	if names[0] != api.EventQueued || names[len(names)-1] != api.EventCompleted {
		t.Fatalf("events out of order: %s", got)
	}
	chunks := 0
	for _, ev := range evs {
		if ev.Event == api.EventFileGeneration {
			if ev.Chunk == nil || ev.Chunk.Index != chunks {
				t.Fatalf("file-generation event without its chunk: %+v", ev)
			}
			chunks++
		}
	}
	if chunks != len(done.Chunks) {
		t.Fatalf("%d file-generation events for %d chunks", chunks, len(done.Chunks))
	}
	if _, err := os.Stat(filepath.Join(f.data, "exports", m.ID, "manifest.json")); err != nil {
		t.Fatal(err)
	}
}

func TestBadRequestsCreateNothing(t *testing.T) {
	f := start(t, t.TempDir(), runner.Config{QueueSize: 10, Allow: []string{"app.tasks", "reports.*"}})
	cases := []struct{ req, field string }{
		{`{"database": "app", "collection": "tasks", "format": "xml"}`, "format"},
		{`{"database": "app", "collection": "users"}`, "collection"},
		{`{"database": "admin", "collection": "users"}`, "database"},
		{`{"database": "app", "collection": "tasks", "filter": {"$where": "1"}}`, "filter.$where"},
		{`{"database": "app", "collection": "tasks", "profile": "nope"}`, "profile"},
		{`{"database": "app", "collection": "tasks", "surprise": 1}`, "surprise"},
		{`{"database": "app", "collection": "tasks", "chunkBytes": 5}`, "chunkBytes"},
	}
	for _, tc := range cases {
		_, err := f.r.Start(context.Background(), json.RawMessage(tc.req))
		var fe *request.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: err = %v, want a FieldError on %s", tc.req, err, tc.field)
		}
	}
	list, _ := f.r.List("")
	entries, _ := os.ReadDir(filepath.Join(f.data, "exports"))
	if len(list) != 0 || len(entries) != 0 {
		t.Fatalf("bad requests left %d exports, %d directories", len(list), len(entries))
	}
	if _, err := f.r.Status("aaaaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := f.r.Status("../../etc"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("bad id: %v", err)
	}
}

func TestCancelResumeAndBusy(t *testing.T) {
	f := start(t, t.TempDir(), runner.Config{MaxConcurrent: 1, QueueSize: 0})
	slow := `{"database": "app", "collection": "tasks", "chunkRecords": 200, "batchSize": 50, "sort": {"createdAt": -1}}`
	m, err := f.r.Start(context.Background(), json.RawMessage(slow))
	if err != nil {
		t.Fatal(err)
	}
	f.wait(t, m.ID, api.StateRunning)
	if _, err := f.r.Start(context.Background(), json.RawMessage(slow)); !errors.Is(err, api.ErrBusy) {
		t.Fatalf("full queue: %v", err)
	}
	c, err := f.r.Cancel(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != api.StateCancelled && c.State != api.StateCompleted {
		t.Fatalf("after cancel: %s", c.State)
	}
	if c.State == api.StateCancelled {
		if _, err := f.r.Cancel(m.ID); !errors.Is(err, api.ErrState) {
			t.Fatalf("cancel twice: %v", err)
		}
		if _, err := f.r.Resume(m.ID); err != nil {
			t.Fatal(err)
		}
	}
	done := f.wait(t, m.ID, api.StateCompleted)
	if done.Records != tasks {
		t.Fatalf("resumed export has %d records", done.Records)
	}
	if _, err := f.r.Resume(m.ID); !errors.Is(err, api.ErrState) {
		t.Fatalf("resume of a completed export: %v", err)
	}
	if _, err := f.r.Cancel(m.ID); !errors.Is(err, api.ErrState) {
		t.Fatalf("cancel of a completed export: %v", err)
	}
	if err := f.r.Delete(m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.data, "exports", m.ID)); !os.IsNotExist(err) {
		t.Fatalf("deleted export's directory: %v", err)
	}
	if _, err := f.r.Status(m.ID); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("status after delete: %v", err)
	}
}

// A shutdown in the middle of an export leaves it running in the
// checkpoint; the next runner resumes it to the same chunks.
func TestRestartResumes(t *testing.T) {
	data := t.TempDir()
	req := `{"database": "app", "collection": "tasks", "format": "json", "compression": "gzip", "chunkRecords": 300, "batchSize": 50, "sort": {"dueDate": 1}}`
	ref := start(t, t.TempDir(), runner.Config{QueueSize: 10})
	rm, err := ref.r.Start(context.Background(), json.RawMessage(req))
	if err != nil {
		t.Fatal(err)
	}
	want := ref.wait(t, rm.ID, api.StateCompleted)

	f := start(t, data, runner.Config{QueueSize: 10})
	m, err := f.r.Start(context.Background(), json.RawMessage(req))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		st, _ := f.r.Status(m.ID)
		if len(st.Chunks) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no chunk sealed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.stop(t)
	st, _ := checkpoint.Open(filepath.Join(data, checkpoint.FileName))
	e, _ := st.Get(m.ID)
	st.Close()
	if e.State != api.StateRunning {
		t.Fatalf("after shutdown: %s, want running (to be resumed)", e.State)
	}

	g := start(t, data, runner.Config{QueueSize: 10})
	got := g.wait(t, m.ID, api.StateCompleted)
	if len(got.Chunks) != len(want.Chunks) || got.Records != want.Records {
		t.Fatalf("resumed: %d records in %d chunks, want %d in %d", got.Records, len(got.Chunks), want.Records, len(want.Chunks))
	}
	for i := 1; i < len(got.Chunks); i++ { // chunk 0 holds each export's own generatedAt
		if got.Chunks[i].SHA256 != want.Chunks[i].SHA256 {
			t.Fatalf("chunk %d differs after a restart", i)
		}
	}
	var resumed bool
	for _, ev := range g.events.of(m.ID) {
		resumed = resumed || ev.Event == api.EventResumed
	}
	if !resumed {
		t.Fatal("no export-resumed event")
	}
}

func TestRetention(t *testing.T) {
	data := t.TempDir()
	f := start(t, data, runner.Config{QueueSize: 10})
	m, err := f.r.Start(context.Background(), json.RawMessage(`{"database": "app", "collection": "tasks", "filter": {"seq": {"$lt": 10}}}`))
	if err != nil {
		t.Fatal(err)
	}
	f.wait(t, m.ID, api.StateCompleted)
	f.stop(t)
	// A runner with a retention shorter than the export's age deletes it
	// when it starts.
	time.Sleep(50 * time.Millisecond)
	g := start(t, data, runner.Config{QueueSize: 10, Retention: 10 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := g.r.Status(m.ID); errors.Is(err, api.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired export not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(data, "exports", m.ID)); !os.IsNotExist(err) {
		t.Fatalf("expired export's files: %v", err)
	}
}
