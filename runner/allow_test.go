package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/runner"
)

// storeExport records an export of req in state, as an earlier daemon
// without the allow-list would have.
func storeExport(t *testing.T, store *checkpoint.Store, req string, state api.State) string {
	t.Helper()
	r, err := request.Decode([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := request.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	e := &checkpoint.Export{ID: checkpoint.NewID(), Request: json.RawMessage(req), Plan: *plan,
		CreatedAt: time.Now().UTC(), State: state}
	if _, _, err := store.Create(e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// TestAllowListEverywhere: an export the allow-list no longer names is not
// resumed at start-up, not listed, and refused by every operation; one it
// names runs.
func TestAllowListEverywhere(t *testing.T) {
	data := t.TempDir()
	store, err := checkpoint.Open(filepath.Join(data, checkpoint.FileName))
	if err != nil {
		t.Fatal(err)
	}
	other := `{"database": "app", "collection": "other"}`
	running := storeExport(t, store, other, api.StateRunning)
	queued := storeExport(t, store, other, api.StateQueued)
	cancelled := storeExport(t, store, other, api.StateCancelled)
	allowed := storeExport(t, store, `{"database": "app", "collection": "tasks", "chunkRecords": 1000}`, api.StateQueued)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	f := start(t, data, runner.Config{QueueSize: 10, Allow: []string{"app.tasks"}})
	if m := f.wait(t, allowed, api.StateCompleted); m.Records != tasks {
		t.Fatalf("allowed export: %d records, want %d", m.Records, tasks)
	}
	for _, id := range []string{running, queued, cancelled} {
		if _, err := f.r.Status(id); !errors.Is(err, api.ErrForbidden) {
			t.Errorf("status %s: err = %v, want ErrForbidden", id, err)
		}
		if _, err := f.r.Cancel(id); !errors.Is(err, api.ErrForbidden) {
			t.Errorf("cancel %s: err = %v, want ErrForbidden", id, err)
		}
		if _, err := f.r.Resume(id); !errors.Is(err, api.ErrForbidden) {
			t.Errorf("resume %s: err = %v, want ErrForbidden", id, err)
		}
		if err := f.r.Delete(id); !errors.Is(err, api.ErrForbidden) {
			t.Errorf("delete %s: err = %v, want ErrForbidden", id, err)
		}
		if _, err := f.r.Dir(id); err != nil {
			t.Errorf("dir %s: %v", id, err)
		}
	}
	list, err := f.r.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != allowed {
		t.Fatalf("list = %d exports, want only the allowed one", len(list))
	}
	// Nothing touched the refused exports: not run, not deleted.
	for _, id := range []string{running, queued} {
		e, err := f.store.Get(id)
		if err != nil || e.StartedAt != nil || e.Records != 0 {
			t.Fatalf("refused export %s was touched: %+v, %v", id, e, err)
		}
	}
	if evs := f.events.of(running); len(evs) != 0 {
		t.Fatalf("refused export %s sent events: %+v", running, evs)
	}
}

// TestAllowListAfterProfile: the old service's request shape names no
// namespace; the allow-list judges the one its profile fills in.
func TestAllowListAfterProfile(t *testing.T) {
	profiles, err := request.LoadProfiles("../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	f := start(t, t.TempDir(), runner.Config{QueueSize: 10, Allow: []string{"app.tasks"}, Profiles: profiles})
	m, err := f.r.Start(context.Background(), json.RawMessage(`{"profile": "tasks", "format": "csv"}`))
	if err != nil {
		t.Fatalf("profile request refused: %v", err)
	}
	f.wait(t, m.ID, api.StateCompleted)

	g := start(t, t.TempDir(), runner.Config{QueueSize: 10, Allow: []string{"reports.*"}, Profiles: profiles})
	_, err = g.r.Start(context.Background(), json.RawMessage(`{"profile": "tasks", "format": "csv"}`))
	var fe *request.FieldError
	if !errors.Is(err, api.ErrForbidden) || !errors.As(err, &fe) || fe.Field != "database" {
		t.Fatalf("profile request outside the allow-list: err = %v, want ErrForbidden naming database", err)
	}
}

// TestReservedDatabases: admin, config and local are refused unless the
// allow-list names them.
func TestReservedDatabases(t *testing.T) {
	f := start(t, t.TempDir(), runner.Config{QueueSize: 10})
	for _, db := range []string{"admin", "config", "local"} {
		_, err := f.r.Start(context.Background(), json.RawMessage(`{"database": "`+db+`", "collection": "startup_log"}`))
		var fe *request.FieldError
		if !errors.Is(err, api.ErrForbidden) || !errors.As(err, &fe) || fe.Field != "database" {
			t.Errorf("%s: err = %v, want ErrForbidden naming database", db, err)
		}
	}
	g := start(t, t.TempDir(), runner.Config{QueueSize: 10, Allow: []string{"local.*"}})
	m, err := g.r.Start(context.Background(), json.RawMessage(`{"database": "local", "collection": "startup_log"}`))
	if err != nil {
		t.Fatalf("local named in the allow-list: %v", err)
	}
	g.wait(t, m.ID, api.StateCompleted)
}
