package daemon_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

// TestUnknownExportSaidOnce: every HTTP route and NATS subject that takes
// an export id answers an id that never was, and one deleted, with 404
// and the message "unknown export: <id>": the sentinel's text once, then
// the id; the log never doubles it either.
func TestUnknownExportSaidOnce(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 100)
	var log logBuffer
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) { c.APIToken = httpToken },
		slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	events := subscribe(t, d.nc)
	deleted, _ := complete(t, d, events, `{"database": "app", "collection": "tasks"}`)
	if msg, body := d.request(t, "exports.delete", map[string]string{"id": deleted.ID}); msg.Header.Get("Nats-Service-Error-Code") != "" {
		t.Fatalf("delete: %s", body)
	}

	for _, id := range []string{checkpoint.NewID(), deleted.ID} {
		want := "unknown export: " + id
		base := d.addrs.Public + "/exports/" + id
		for _, r := range []struct{ method, url string }{
			{http.MethodGet, base},
			{http.MethodGet, base + "/chunks/0"},
			{http.MethodGet, base + "/data"},
			{http.MethodGet, base + "/links"},
			{http.MethodGet, base + "/events"},
			{http.MethodPost, base + "/cancel"},
			{http.MethodPost, base + "/resume"},
			{http.MethodDelete, base},
		} {
			resp, body := send(t, r.method, r.url, "")
			var e api.ErrorBody
			if err := json.Unmarshal(body, &e); resp.StatusCode != http.StatusNotFound || err != nil || e.Error.Message != want {
				t.Errorf("%s %s: %s %s, want 404 %q", r.method, r.url, resp.Status, body, want)
			}
		}
		for _, subject := range []string{"exports.status", "exports.cancel", "exports.resume", "exports.delete", "exports.last"} {
			msg, body := d.request(t, subject, map[string]string{"id": id})
			var e api.ErrorBody
			if err := json.Unmarshal(body, &e); msg.Header.Get("Nats-Service-Error-Code") != "404" || err != nil ||
				e.Error.Message != want || msg.Header.Get("Nats-Service-Error") != want {
				t.Errorf("%s %s: %v %s, want 404 %q", subject, id, msg.Header, body, want)
			}
		}
	}
	d.stop(t)
	if strings.Count(log.String(), "unknown export: unknown export") > 0 {
		t.Errorf("the log doubles the message:\n%s", log.String())
	}
}

// TestCleanShutdownNoWarning: a daemon stopped as SIGTERM stops it, with
// an export completed and one still running, logs no warning and no
// error: closing its own NATS connection is not a disconnection.
func TestCleanShutdownNoWarning(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", tasks)
	var log logBuffer
	d := startDaemonWith(t, db.URI, t.TempDir(), nil, slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	events := subscribe(t, d.nc)
	complete(t, d, events, `{"database": "app", "collection": "tasks", "chunkRecords": 1000}`)
	_, body := d.request(t, "exports.start", `{"database": "app", "collection": "tasks", "chunkRecords": 10, "batchSize": 10}`)
	var running startReply
	if err := json.Unmarshal(body, &running); err != nil || running.ID == "" {
		t.Fatalf("start: %s", body)
	}
	waitEvent(t, events, running.ID, api.EventFileGeneration)
	d.stop(t)

	// The connection's close handler runs on nats.go's own goroutine: wait
	// until it has, so that what it logs is in the log.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), `msg="NATS connection closed"`); {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's NATS connection was never closed:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := log.String()
	if !strings.Contains(out, `msg="shutting down"`) {
		t.Fatalf("the daemon did not shut down:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("clean shutdown logged: %s", line)
		}
	}
}
