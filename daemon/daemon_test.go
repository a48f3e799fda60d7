package daemon_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

const tasks = 3000

func TestMain(m *testing.M) {
	code := m.Run()
	devmongotest.RemoveBinary()
	os.Exit(code)
}

type daemonUnderTest struct {
	addrs  daemon.Addrs
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan error
}

func startDaemon(t *testing.T, uri, data string) *daemonUnderTest {
	t.Helper()
	return startDaemonWith(t, uri, data, nil, slog.New(slog.DiscardHandler))
}

// startDaemonWith starts a daemon whose test configuration change may
// alter, logging to log; its client connects with opts.
func startDaemonWith(t *testing.T, uri, data string, change func(*daemon.Config), log *slog.Logger, opts ...nats.Option) *daemonUnderTest {
	t.Helper()
	cfg := daemon.Default()
	cfg.DataDir = data
	cfg.MongoURI = uri
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.ProfilesDir = "../configs/profiles"
	cfg.ShutdownGrace = 20 * time.Second
	if change != nil {
		change(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan daemon.Addrs, 1)
	d := &daemonUnderTest{cancel: cancel, done: make(chan error, 1)}
	go func() {
		d.done <- daemon.Run(ctx, cfg, log, func(a daemon.Addrs) { ready <- a })
	}()
	select {
	case d.addrs = <-ready:
	case err := <-d.done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("daemon did not start")
	}
	nc, err := nats.Connect(d.addrs.NATS, opts...)
	if err != nil {
		t.Fatal(err)
	}
	d.nc = nc
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *daemonUnderTest) stop(t *testing.T) {
	if d.cancel == nil {
		return
	}
	d.nc.Close()
	d.cancel()
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("daemon did not stop")
	}
	d.cancel = nil
}

func (d *daemonUnderTest) request(t *testing.T, subject string, body any) (*nats.Msg, []byte) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	if raw, ok := body.(string); ok {
		data = []byte(raw)
	}
	msg, err := d.nc.Request(subject, data, 30*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	return msg, msg.Data
}

type startReply struct {
	ID              string `json:"id"`
	State           string `json:"state"`
	ProgressSubject string `json:"progressSubject"`
	ManifestURL     string `json:"manifestUrl"`
	DataURL         string `json:"dataUrl"`
}

// collector gathers progress events from NATS.
type collector struct {
	mu  sync.Mutex
	evs []api.Event
}

func (c *collector) last(id string) (api.Event, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last api.Event
	n := 0
	for _, ev := range c.evs {
		if ev.ExportID == id {
			last = ev
			n++
		}
	}
	return last, n
}

func (c *collector) of(id string) []api.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []api.Event
	for _, ev := range c.evs {
		if ev.ExportID == id {
			out = append(out, ev)
		}
	}
	return out
}

func subscribe(t *testing.T, nc *nats.Conn) *collector {
	t.Helper()
	c := &collector{}
	_, err := nc.Subscribe("exports.progress.>", func(m *nats.Msg) {
		var ev api.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("event: %v", err)
			return
		}
		if m.Subject != "exports.progress."+ev.ExportID {
			t.Errorf("event for %s on %s", ev.ExportID, m.Subject)
		}
		c.mu.Lock()
		c.evs = append(c.evs, ev)
		c.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	return c
}

// complete starts the export req through d and waits, on the events of c,
// until it has completed; it returns the start reply and the last event.
func complete(t *testing.T, d *daemonUnderTest, c *collector, req string) (startReply, api.Event) {
	t.Helper()
	msg, body := d.request(t, "exports.start", req)
	var rep startReply
	if msg.Header.Get("Nats-Service-Error-Code") != "" || json.Unmarshal(body, &rep) != nil || rep.ID == "" {
		t.Fatalf("start %s: %s", req, body)
	}
	return rep, waitEvent(t, c, rep.ID, api.EventCompleted)
}

func waitEvent(t *testing.T, c *collector, id string, names ...string) api.Event {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		ev, _ := c.last(id)
		for _, n := range names {
			if ev.Event == n {
				return ev
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev, _ := c.last(id)
	t.Fatalf("export %s: last event %q, want one of %v", id, ev.Event, names)
	return ev
}

func get(t *testing.T, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// The old service's request, by NATS, gives exactly the tasks a direct
// driver query gives, in its order, under the profile's CSV header; every
// event kind arrives in order; the same requestId gives the same export;
// the export downloads whole and by ranges.
func TestOldServiceRequestEndToEnd(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", tasks)
	d := startDaemon(t, db.URI, t.TempDir())
	events := subscribe(t, d.nc)

	req := `{"requestId": "old-1", "profile": "tasks", "format": "csv", "compression": "none", "chunkRecords": 100, "progressEvery": 50,
		"filters": {"status": "completed", "priority": "high", "createdAtRange": {"start": "2023-06-01", "end": "2025-06-30"}},
		"options": {"sortBy": "completedAt", "sortOrder": "desc"}}`
	msg, body := d.request(t, "exports.start", req)
	if code := msg.Header.Get("Nats-Service-Error-Code"); code != "" {
		t.Fatalf("start: %s %s", code, body)
	}
	var rep startReply
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ID == "" || rep.ProgressSubject != "exports.progress."+rep.ID || !strings.HasPrefix(rep.DataURL, "http://") {
		t.Fatalf("start reply %s", body)
	}
	_, again := d.request(t, "exports.start", req)
	var rep2 startReply
	json.Unmarshal(again, &rep2)
	if rep2.ID != rep.ID {
		t.Fatalf("same requestId, two exports: %s and %s", rep.ID, rep2.ID)
	}
	waitEvent(t, events, rep.ID, api.EventCompleted)

	// Events: every kind, in order, seq increasing by one.
	evs := events.of(rep.ID)
	seen := map[string]int{}
	for i, ev := range evs {
		if i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Fatalf("event %d seq %d after %d", i, ev.Seq, evs[i-1].Seq)
		}
		seen[ev.Event]++
	}
	for _, name := range []string{api.EventQueued, api.EventFetching, api.EventFileGeneration, api.EventFinalizing, api.EventCompleted} {
		if seen[name] == 0 {
			t.Errorf("no %s event (saw %v)", name, seen)
		}
	}

	// The data equals a direct driver query.
	resp, data := get(t, rep.DataURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET data: %s %s", resp.Status, data)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "ID,Title,Description,Status,Priority,Tags,Assignee,Assignee Email,Due Date,Created At,Updated At,Completed At,Estimated Hours" {
		t.Fatalf("header %s", got)
	}
	client := devmongotest.Client(t, db.URI)
	from, _ := time.Parse(time.DateOnly, "2023-06-01")
	until, _ := time.Parse(time.DateOnly, "2025-07-01")
	cur, err := client.Database("app").Collection("tasks").Find(context.Background(),
		bson.D{{Key: "status", Value: "completed"}, {Key: "priority", Value: "high"},
			{Key: "createdAt", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: until}}}},
		options.Find().SetSort(bson.D{{Key: "completedAt", Value: -1}, {Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for cur.Next(context.Background()) {
		want = append(want, cur.Current.Lookup("_id").ObjectID().Hex())
	}
	if len(want) == 0 {
		t.Fatal("the query matches nothing: the test proves nothing")
	}
	var got []string
	for _, r := range rows[1:] {
		got = append(got, r[0])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("export rows (%d) differ from the driver's query (%d), or their order does", len(got), len(want))
	}

	// Status over NATS is the manifest; ranges over HTTP.
	_, st := d.request(t, "exports.status", map[string]string{"id": rep.ID})
	var m api.Manifest
	json.Unmarshal(st, &m)
	if m.State != api.StateCompleted || int(m.Records) != len(want) || len(m.Chunks) < 2 {
		t.Fatalf("status: %s", st)
	}
	resp, part := get(t, rep.DataURL, map[string]string{"Range": "bytes=100-4099"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[100:4100]) {
		t.Fatalf("range across chunks: %s, %d bytes", resp.Status, len(part))
	}
	resp, _ = get(t, rep.DataURL, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(data)+10)})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("bad range: %s", resp.Status)
	}
}

func TestErrorsOverNATS(t *testing.T) {
	db := devmongotest.Spawn(t)
	d := startDaemon(t, db.URI, t.TempDir())
	cases := []struct {
		subject, body, code, field string
	}{
		{"exports.start", `{"database": "app", "collection": "tasks", "format": "xml"}`, "400", "format"},
		{"exports.start", `{"database": "app", "collection": "tasks", "filter": {"$where": "1"}}`, "400", "filter.$where"},
		{"exports.start", `{"database": "app",`, "400", "request"},
		{"exports.start", `{"profile": "tasks", "filters": {"colour": "red"}}`, "400", "filters.colour"},
		{"exports.status", `{"id": "aaaaaaaaaaaaaaaaaaaaaaaaaa"}`, "404", ""},
		{"exports.cancel", `{"id": "aaaaaaaaaaaaaaaaaaaaaaaaaa"}`, "404", ""},
	}
	for _, tc := range cases {
		msg, body := d.request(t, tc.subject, tc.body)
		if got := msg.Header.Get("Nats-Service-Error-Code"); got != tc.code {
			t.Errorf("%s %s: code %q, want %s (%s)", tc.subject, tc.body, got, tc.code, body)
			continue
		}
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Field   string `json:"field"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Field != tc.field {
			t.Errorf("%s %s: body %s, want field %q", tc.subject, tc.body, body, tc.field)
		}
	}
	_, list := d.request(t, "exports.list", `{}`)
	if strings.TrimSpace(string(list)) != "[]" {
		t.Fatalf("refused requests created exports: %s", list)
	}
	// Cancel of a finished export is 409.
	_, body := d.request(t, "exports.start", `{"database": "app", "collection": "tasks"}`)
	var rep startReply
	json.Unmarshal(body, &rep)
	deadline := time.Now().Add(time.Minute)
	for {
		_, st := d.request(t, "exports.status", map[string]string{"id": rep.ID})
		var m api.Manifest
		json.Unmarshal(st, &m)
		if m.State == api.StateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("empty export never completed: %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg, _ := d.request(t, "exports.cancel", map[string]string{"id": rep.ID})
	if got := msg.Header.Get("Nats-Service-Error-Code"); got != "409" {
		t.Fatalf("cancel of a completed export: %q", got)
	}
}

// Chunks download while the export still runs.
func TestChunkWhileRunning(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", tasks)
	d := startDaemon(t, db.URI, t.TempDir())
	events := subscribe(t, d.nc)
	_, body := d.request(t, "exports.start", `{"database": "app", "collection": "tasks", "chunkRecords": 100, "batchSize": 20, "sort": {"createdAt": -1}}`)
	var rep startReply
	json.Unmarshal(body, &rep)
	waitEvent(t, events, rep.ID, api.EventFileGeneration)
	base := d.addrs.Public + "/exports/" + rep.ID
	resp, chunk := get(t, base+"/chunks/0", nil)
	_, st := get(t, base, nil)
	var m api.Manifest
	json.Unmarshal(st, &m)
	if m.State != api.StateRunning {
		t.Fatalf("the export was %s when its first chunk was fetched; the test needs it running", m.State)
	}
	if resp, _ := get(t, base+"/data", nil); resp.StatusCode != http.StatusConflict {
		t.Fatalf("whole export while running: %s, want 409", resp.Status)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
		t.Fatalf("chunk 0 while running: %s", resp.Status)
	}
	zr, _ := zstd.NewReader(bytes.NewReader(chunk))
	plain, err := io.ReadAll(zr)
	if err != nil || bytes.Count(plain, []byte("\n")) != 100 {
		t.Fatalf("chunk 0: %d lines, %v", bytes.Count(plain, []byte("\n")), err)
	}
	waitEvent(t, events, rep.ID, api.EventCompleted)
}
