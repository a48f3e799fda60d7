package daemon_test

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

// TestLateSubscriberCatchesUp: a subscriber that was not there when an
// export ended learns it from one exports.last request: the event that
// was sent, with its seq, and after a restart one made from the manifest.
func TestLateSubscriberCatchesUp(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 300)
	data := t.TempDir()
	d := startDaemon(t, db.URI, data)
	early := subscribe(t, d.nc)
	rep, done := complete(t, d, early, `{"database": "app", "collection": "tasks", "chunkRecords": 100}`)

	last := func(d *daemonUnderTest, body string, v any) {
		t.Helper()
		msg, data := d.request(t, "exports.last", body)
		if msg.Header.Get("Nats-Service-Error-Code") != "" || json.Unmarshal(data, v) != nil {
			t.Fatalf("exports.last %s: %s", body, data)
		}
	}
	var ev api.Event
	last(d, `{"id": "`+rep.ID+`"}`, &ev)
	if ev.Event != api.EventCompleted || ev.Seq != done.Seq || ev.Records != 300 || ev.Chunks != 3 {
		t.Fatalf("last = %+v, want the export-completed a subscriber got (seq %d)", ev, done.Seq)
	}
	var all []api.Event
	last(d, `{}`, &all)
	if len(all) != 1 || all[0].Seq != done.Seq {
		t.Fatalf("last of all = %+v", all)
	}

	d.stop(t)
	d2 := startDaemonWith(t, db.URI, data, nil, slog.New(slog.DiscardHandler))
	last(d2, `{"id": "`+rep.ID+`"}`, &ev)
	if ev.Event != api.EventCompleted || ev.Seq != 0 || ev.Records != 300 || ev.Chunks != 3 || ev.Time.IsZero() {
		t.Fatalf("after a restart, last = %+v, want export-completed from the manifest with seq 0", ev)
	}
}
