package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

const httpToken = "the-daemon-api-token-for-http"

// send makes one HTTP request with the API token and a JSON body, and
// reads the reply.
func send(t *testing.T, method, url, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+httpToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// sseEvents reads the event stream at url until it ends or the context
// does, and returns each event's id and data.
func sseEvents(t *testing.T, ctx context.Context, url string) (ids []string, evs []api.Event) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var id, name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var ev api.Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.Event != name {
				t.Fatalf("event %q: %v", line, err)
			}
			ids, evs = append(ids, id), append(evs, ev)
		}
	}
	return ids, evs
}

// Over HTTP, the NATS operations with the same validation, errors and
// idempotency; the event stream carries what NATS subscribers get; and
// nothing changes without the API token, or with a daemon that has none.
func TestHTTPControl(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", tasks)
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) {
		c.APIToken = httpToken
		c.DownloadSecret = "a-download-secret-of-some-length"
	}, slog.New(slog.DiscardHandler))
	events := subscribe(t, d.nc)
	base := d.addrs.Public

	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"database": "app", "collection": "tasks", "format": "xml"}`, 400, "format"},
		{`{"database": "app", "collection": "tasks", "filter": {"$where": "1"}}`, 400, "filter.$where"},
		{`{"database": "app",`, 400, "request"},
		{`{"profile": "tasks", "filters": {"colour": "red"}}`, 400, "filters.colour"},
		{`{"profile": "tasks", "filters": {"createdAtRange": {"start": "yesterday"}}}`, 400, "filters.createdAtRange.start"},
		{`{"profile": "tasks", "chunkRecords": -5}`, 400, "chunkRecords"},
		{`{"profile": "tasks", "options": {"sortBy": "colour"}}`, 400, "options.sortBy"},
		{`{"database": "admin", "collection": "users"}`, 403, "database"},
		{``, 400, "request"},
	} {
		resp, body := send(t, "POST", base+"/exports", tc.body)
		var e api.ErrorBody
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Error.Field != tc.field || e.Error.Code != tc.status {
			t.Errorf("POST %s: %s %s, want %d naming %s", tc.body, resp.Status, body, tc.status, tc.field)
		}
	}
	if _, list := send(t, "GET", base+"/exports", ""); strings.TrimSpace(string(list)) != "[]" {
		t.Fatalf("refused requests created exports: %s", list)
	}

	// The same requestId, twice: one export.
	req := `{"requestId": "http-1", "profile": "tasks", "format": "csv", "compression": "gzip", "chunkRecords": 500}`
	var rep, again startReply
	resp, body := send(t, "POST", base+"/exports", req)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &rep) != nil || rep.ProgressSubject != "exports.progress."+rep.ID {
		t.Fatalf("start: %s %s", resp.Status, body)
	}
	_, body = send(t, "POST", base+"/exports", req)
	if json.Unmarshal(body, &again) != nil || again.ID != rep.ID {
		t.Fatalf("same requestId, two exports: %s and %s", rep.ID, body)
	}

	// Its event stream, by the signed URL of the reply (no bearer, as an
	// EventSource), ends after export-completed and matches NATS.
	var start struct {
		EventsURL string `json:"eventsUrl"`
	}
	json.Unmarshal(body, &start)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids, evs := sseEvents(t, ctx, start.EventsURL)
	if len(evs) == 0 || evs[len(evs)-1].Event != api.EventCompleted {
		t.Fatalf("stream of %d events, not ending with export-completed", len(evs))
	}
	waitEvent(t, events, rep.ID, api.EventCompleted)
	nats := events.of(rep.ID)
	if len(nats) != len(evs) {
		t.Fatalf("%d events over HTTP, %d over NATS", len(evs), len(nats))
	}
	for i := range evs {
		if evs[i].Seq != nats[i].Seq || evs[i].Event != nats[i].Event || ids[i] != strconv.FormatInt(nats[i].Seq, 10) {
			t.Fatalf("event %d: HTTP %s seq %d (id %s), NATS %s seq %d", i, evs[i].Event, evs[i].Seq, ids[i], nats[i].Event, nats[i].Seq)
		}
	}

	// Wrong states, then delete.
	exp := base + "/exports/" + rep.ID
	for _, op := range []string{"/cancel", "/resume"} {
		if resp, body := send(t, "POST", exp+op, ""); resp.StatusCode != http.StatusConflict {
			t.Errorf("POST %s of a completed export: %s %s", op, resp.Status, body)
		}
	}
	// Refused: no token, another origin, a signed URL instead of the token.
	noToken, _ := http.NewRequest(http.MethodDelete, exp, nil)
	if resp, err := http.DefaultClient.Do(noToken); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("DELETE without the token: %v %v", resp, err)
	}
	if resp, _ := send(t, "DELETE", exp, "", "Origin", "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE from another origin: %s", resp.Status)
	}
	if resp, body := send(t, "DELETE", exp, ""); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"deleted":true`) {
		t.Fatalf("DELETE: %s %s", resp.Status, body)
	}
	if resp, _ := send(t, "GET", exp, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %s", resp.Status)
	}

	// A running export: cancel, then resume to the end.
	resp, body = send(t, "POST", base+"/exports", `{"database": "app", "collection": "tasks", "chunkRecords": 10, "batchSize": 20}`)
	if json.Unmarshal(body, &rep) != nil {
		t.Fatalf("start: %s %s", resp.Status, body)
	}
	waitEvent(t, events, rep.ID, api.EventFileGeneration)
	var m api.Manifest
	if resp, body := send(t, "POST", base+"/exports/"+rep.ID+"/cancel", ""); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil || m.State != api.StateCancelled {
		t.Fatalf("cancel of a running export: %s %s", resp.Status, body)
	}
	if resp, body := send(t, "POST", base+"/exports/"+rep.ID+"/resume", "{}"); resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil || m.State != api.StateQueued {
		t.Fatalf("resume: %s %s", resp.Status, body)
	}
	waitEvent(t, events, rep.ID, api.EventCompleted)

	// A daemon without an API token changes nothing over HTTP.
	off := startDaemonWith(t, db.URI, t.TempDir(), nil, slog.New(slog.DiscardHandler))
	resp, body = send(t, "POST", off.addrs.Public+"/exports", `{"database": "app", "collection": "tasks"}`)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "apiToken") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("POST /exports without a configured token: %s %s", resp.Status, body)
	}
}
