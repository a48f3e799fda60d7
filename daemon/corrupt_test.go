package daemon_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

// logBuffer is a slog destination a test can read while the daemon writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCorruptRecordIsolated: one unreadable record in a real store does not
// keep the daemon from starting; every other export is listed and served,
// the bad one shows as failed with a clear error, the log names it, and it
// can be deleted.
func TestCorruptRecordIsolated(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 200)
	data := t.TempDir()
	d := startDaemon(t, db.URI, data)
	events := subscribe(t, d.nc)
	good, _ := complete(t, d, events, `{"database": "app", "collection": "tasks", "chunkRecords": 100}`)
	d.stop(t)

	// Damage the file as a bug or a bad disk would: garbage under one id,
	// and a plan too deep to read back under another.
	garbage, tooDeep := checkpoint.NewID(), checkpoint.NewID()
	bdb, err := bolt.Open(filepath.Join(data, checkpoint.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	deepFilter := strings.Repeat(`{"a":`, 250) + "1" + strings.Repeat("}", 250)
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("exports"))
		if err := b.Put([]byte(garbage), []byte("\x00not json at all")); err != nil {
			return err
		}
		rec := `{"id":"` + tooDeep + `","request":{},"plan":{"database":"app","collection":"tasks","filter":` + deepFilter + `,"sort":{"_id":{"$numberInt":"1"}}},"state":"running","createdAt":"2024-01-01T00:00:00Z"}`
		return b.Put([]byte(tooDeep), []byte(rec))
	})
	if err := errors.Join(err, bdb.Close()); err != nil {
		t.Fatal(err)
	}

	logs := &logBuffer{}
	d2 := startDaemonWith(t, db.URI, data, nil, slog.New(slog.NewTextHandler(logs, nil)))
	_, body := d2.request(t, "exports.list", `{}`)
	var list []struct {
		ID    string
		State api.State
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("list: %s", body)
	}
	states := map[string]api.State{}
	for _, e := range list {
		states[e.ID] = e.State
	}
	if states[good.ID] != api.StateCompleted || states[garbage] != api.StateFailed || states[tooDeep] != api.StateFailed {
		t.Fatalf("list = %s: want the good export completed and both bad ones failed", body)
	}
	for _, id := range []string{garbage, tooDeep} {
		_, body := d2.request(t, "exports.status", `{"id": "`+id+`"}`)
		var m api.Manifest
		if err := json.Unmarshal(body, &m); err != nil || m.State != api.StateFailed || !strings.Contains(m.Error, "unreadable") {
			t.Errorf("status of %s: %s", id, body)
		}
		if !strings.Contains(logs.String(), id) {
			t.Errorf("the log does not name %s:\n%s", id, logs)
		}
	}
	// The good export still downloads.
	if resp, _ := get(t, d2.addrs.Public+"/exports/"+good.ID+"/chunks/0", nil); resp.StatusCode != 200 {
		t.Fatalf("chunk of the good export: %s", resp.Status)
	}
	if resp, _ := get(t, d2.addrs.Public+"/metrics", nil); resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", resp.Status)
	}
	// And the bad ones can be deleted.
	_, body = d2.request(t, "exports.delete", `{"id": "`+garbage+`"}`)
	if !strings.Contains(string(body), `"deleted":true`) {
		t.Fatalf("delete of the garbage record: %s", body)
	}
}
