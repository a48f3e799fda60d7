package natsapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// TestLast: <prefix>.last answers the Publisher's newest event when it
// has one, else one made from the manifest, for one export or for all.
func TestLast(t *testing.T) {
	sent := map[string]api.Event{}
	nc, fake, _ := testService(t, func(c *Config) {
		c.Last = func(id string) (api.Event, bool) { ev, ok := sent[id]; return ev, ok }
	})
	running := startOne(t, nc).ID
	done := startOne(t, nc).ID
	finished := time.Date(2024, 5, 2, 8, 0, 0, 0, time.UTC)
	fake.set(done, func(m *api.Manifest) {
		m.State, m.Records, m.Bytes, m.FinishedAt = api.StateCompleted, 1200, 345, &finished
		m.Chunks = []api.Chunk{{Index: 0}, {Index: 1}}
	})
	sent[running] = api.Event{Event: api.EventProcessing, ExportID: running, Seq: 7, Records: 4000}

	var one api.Event
	askOK(t, nc, "exports.last", `{"id":"`+running+`"}`, &one)
	if one.Seq != 7 || one.Records != 4000 || one.Event != api.EventProcessing {
		t.Fatalf("last of a running export = %+v, want the Publisher's seq 7", one)
	}
	askOK(t, nc, "exports.last", `{"id":"`+done+`"}`, &one)
	if one.Event != api.EventCompleted || one.Seq != 0 || one.Records != 1200 || one.Bytes != 345 || one.Chunks != 2 || !one.Time.Equal(finished) {
		t.Fatalf("last of a completed export the Publisher forgot = %+v, want export-completed from its manifest", one)
	}
	var all []api.Event
	askOK(t, nc, "exports.last", `{}`, &all)
	if len(all) != 2 || all[0].ExportID != running || all[1].ExportID != done || all[1].Chunks != 2 {
		t.Fatalf("last of all = %+v", all)
	}
	checkError(t, ask(t, nc, "exports.last", `{"id":"`+checkpoint.NewID()+`"}`), 404, "", "unknown export")
	checkError(t, ask(t, nc, "exports.last", `{"id":"x"}`), 400, "id", "not an export id")
}

// TestHostileSizes: an oversized request is refused with a field,
// and an error that repeats a huge value still gets a small reply.
func TestHostileSizes(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	big := strings.Repeat("x", request.MaxRequestBytes)
	checkError(t, ask(t, nc, "exports.start", `{"database":"`+big+`"}`), 400, "request", "at most 1048576")
	checkError(t, ask(t, nc, "exports.status", `{"id":"`+big+`"}`), 400, "request", "at most 1048576")

	huge := strings.Repeat("é", 300_000)
	fake.mu.Lock()
	fake.startErr = &request.FieldError{Field: huge, Message: huge}
	fake.mu.Unlock()
	msg := ask(t, nc, "exports.start", `{"database":"app"}`)
	if len(msg.Data) > 4096 {
		t.Fatalf("error reply is %d bytes", len(msg.Data))
	}
	var body api.ErrorBody
	if err := json.Unmarshal(msg.Data, &body); err != nil || body.Error.Code != 400 || !strings.HasSuffix(body.Error.Field, "…") {
		t.Fatalf("reply %.200s: %v", msg.Data, err)
	}
}

// TestForbidden: an export outside the allow-list is a 403 that names
// the field when there is one.
func TestForbidden(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	fake.mu.Lock()
	fake.startErr = fmt.Errorf("%w: %w", api.ErrForbidden, &request.FieldError{Field: "database", Message: `database "local" is not allowed here`})
	fake.mu.Unlock()
	checkError(t, ask(t, nc, "exports.start", `{"database":"local"}`), 403, "database", "not allowed here")
}
