package natsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/request"
)

// fakeExports is an in-memory api.Exports for testing the service: the
// runner's rules in their simplest form.
type fakeExports struct {
	mu        sync.Mutex
	byID      map[string]*api.Manifest
	order     []string
	byRequest map[string]string
	bodies    []string      // Start bodies as received
	startErr  error         // returned by Start when set
	startGate chan struct{} // when set, Start waits for it
	listErr   error
}

func newFakeExports() *fakeExports {
	return &fakeExports{byID: map[string]*api.Manifest{}, byRequest: map[string]string{}}
}

func (f *fakeExports) Start(ctx context.Context, raw json.RawMessage) (*api.Manifest, error) {
	f.mu.Lock()
	gate := f.startGate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(raw))
	if f.startErr != nil {
		return nil, f.startErr
	}
	var req struct {
		RequestID  string `json:"requestId"`
		Database   string `json:"database"`
		Collection string `json:"collection"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, &request.FieldError{Field: "request", Message: err.Error()}
	}
	if req.Database == "" {
		return nil, &request.FieldError{Field: "database", Message: "required"}
	}
	if id, ok := f.byRequest[req.RequestID]; ok && req.RequestID != "" {
		return f.copyOf(id), nil
	}
	id := checkpoint.NewID()
	f.byID[id] = &api.Manifest{ID: id, Request: raw, State: api.StateQueued,
		CreatedAt: time.Date(2024, 5, 1, 12, 0, len(f.order), 0, time.UTC)}
	f.order = append(f.order, id)
	if req.RequestID != "" {
		f.byRequest[req.RequestID] = id
	}
	return f.copyOf(id), nil
}

func (f *fakeExports) copyOf(id string) *api.Manifest {
	m := *f.byID[id]
	return &m
}

func (f *fakeExports) set(id string, change func(*api.Manifest)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.byID[id])
}

func (f *fakeExports) Status(id string) (*api.Manifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byID[id] == nil {
		return nil, fmt.Errorf("%w: %q", api.ErrNotFound, id)
	}
	return f.copyOf(id), nil
}

func (f *fakeExports) List(state api.State) ([]*api.Manifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.listErr != nil {
		return nil, f.listErr
	}
	var out []*api.Manifest
	for _, id := range f.order {
		if m := f.byID[id]; m != nil && (state == "" || m.State == state) {
			out = append(out, f.copyOf(id))
		}
	}
	return out, nil
}

func (f *fakeExports) transition(id string, from []api.State, to api.State) (*api.Manifest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.byID[id]
	if m == nil {
		return nil, fmt.Errorf("%w: %q", api.ErrNotFound, id)
	}
	if !slices.Contains(from, m.State) {
		return nil, fmt.Errorf("%w: export %s is %s", api.ErrState, id, m.State)
	}
	m.State = to
	return f.copyOf(id), nil
}

func (f *fakeExports) Cancel(id string) (*api.Manifest, error) {
	return f.transition(id, []api.State{api.StateQueued, api.StateRunning}, api.StateCancelled)
}

func (f *fakeExports) Resume(id string) (*api.Manifest, error) {
	return f.transition(id, []api.State{api.StateFailed, api.StateCancelled}, api.StateQueued)
}

func (f *fakeExports) Delete(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byID[id] == nil {
		return fmt.Errorf("%w: %q", api.ErrNotFound, id)
	}
	delete(f.byID, id)
	return nil
}

func (f *fakeExports) Dir(id string) (string, error) { return "", errors.ErrUnsupported }

// testService runs the service on an embedded server and returns a
// client connection and the fake behind it.
func testService(tb testing.TB, change func(*Config)) (*nats.Conn, *fakeExports, *Service) {
	tb.Helper()
	srv := natstest.Server(tb)
	fake := newFakeExports()
	cfg := Config{
		Conn:    natstest.Conn(tb, srv),
		Exports: fake,
		Version: "v1.2.3",
		URLs: func(id string) (string, string) {
			return "http://127.0.0.1:8080/exports/" + id, "http://127.0.0.1:8080/exports/" + id + "/data?token=t"
		},
	}
	if change != nil {
		change(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	return natstest.Conn(tb, srv), fake, svc
}

// ask sends a request and returns the reply.
func ask(tb testing.TB, nc *nats.Conn, subject, body string) *nats.Msg {
	tb.Helper()
	msg, err := nc.Request(subject, []byte(body), 5*time.Second)
	if err != nil {
		tb.Fatalf("request %s %s: %v", subject, body, err)
	}
	return msg
}

// askOK sends a request, checks that it did not fail and decodes the
// reply into v.
func askOK(tb testing.TB, nc *nats.Conn, subject, body string, v any) {
	tb.Helper()
	msg := ask(tb, nc, subject, body)
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		tb.Fatalf("%s %s: error %s %s: %s", subject, body, code, msg.Header.Get(micro.ErrorHeader), msg.Data)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		tb.Fatalf("%s reply %s: %v", subject, msg.Data, err)
	}
}

func startOne(tb testing.TB, nc *nats.Conn) startReply {
	tb.Helper()
	var r startReply
	askOK(tb, nc, "exports.start", `{"database":"app","collection":"tasks"}`, &r)
	return r
}

func TestStart(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	body := `{"requestId":"r-1","database":"app","collection":"tasks","format":"csv","fields":["_id"]}`
	var r startReply
	askOK(t, nc, "exports.start", body, &r)

	if !checkpoint.ValidID(r.ID) || r.State != api.StateQueued {
		t.Errorf("reply id %q state %q", r.ID, r.State)
	}
	if want := "exports.progress." + r.ID; r.ProgressSubject != want {
		t.Errorf("progressSubject = %q, want %q", r.ProgressSubject, want)
	}
	if r.ManifestURL != "http://127.0.0.1:8080/exports/"+r.ID || r.DataURL != "http://127.0.0.1:8080/exports/"+r.ID+"/data?token=t" {
		t.Errorf("urls = %q, %q", r.ManifestURL, r.DataURL)
	}
	// The request reaches api.Exports byte for byte; the requestId is the
	// runner's to honour, and its answer passes through.
	var again startReply
	askOK(t, nc, "exports.start", body, &again)
	if again.ID != r.ID {
		t.Errorf("same requestId gave %s, then %s", r.ID, again.ID)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.bodies) != 2 || fake.bodies[0] != body || fake.bodies[1] != body {
		t.Errorf("Exports.Start got %q, want the body twice", fake.bodies)
	}

	// Without URLs the reply has empty strings, not missing keys.
	nc2, _, _ := testService(t, func(c *Config) { c.URLs = nil })
	msg := ask(t, nc2, "exports.start", body)
	var raw map[string]any
	if err := json.Unmarshal(msg.Data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["manifestUrl"] != "" || raw["dataUrl"] != "" {
		t.Errorf("reply without URLs: %s", msg.Data)
	}
}

func TestEndpoints(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	a := startOne(t, nc)
	b := startOne(t, nc)
	fake.set(b.ID, func(m *api.Manifest) {
		m.State, m.Records = api.StateRunning, 42
		m.Chunks = []api.Chunk{{Index: 0, Name: "chunk-000000.ndjson.zst", Records: 42}}
	})

	t.Run("status", func(t *testing.T) {
		msg := ask(t, nc, "exports.status", `{"id":"`+b.ID+`"}`)
		var m api.Manifest
		if err := json.Unmarshal(msg.Data, &m); err != nil {
			t.Fatal(err)
		}
		if m.ID != b.ID || m.State != api.StateRunning || m.Records != 42 || len(m.Chunks) != 1 || m.Chunks[0].Records != 42 {
			t.Errorf("status = %s", msg.Data)
		}
		// A manifest without chunks says [] rather than null.
		msg = ask(t, nc, "exports.status", `{"id":"`+a.ID+`"}`)
		if !strings.Contains(string(msg.Data), `"chunks":[]`) {
			t.Errorf("status without chunks = %s", msg.Data)
		}
	})
	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			want       []string
		}{
			{"empty body", ``, []string{a.ID, b.ID}},
			{"all", `{}`, []string{a.ID, b.ID}},
			{"all, state empty", `{"state":""}`, []string{a.ID, b.ID}},
			{"running", `{"state":"running"}`, []string{b.ID}},
			{"none", `{"state":"failed"}`, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				msg := ask(t, nc, "exports.list", tc.body)
				var items []api.ListItem
				if err := json.Unmarshal(msg.Data, &items); err != nil {
					t.Fatalf("%s: %v", msg.Data, err)
				}
				if items == nil {
					t.Fatalf("list = %s, want an array", msg.Data)
				}
				var ids []string
				for _, it := range items {
					ids = append(ids, it.ID)
				}
				if !slices.Equal(ids, tc.want) && len(tc.want)+len(ids) > 0 {
					t.Errorf("ids = %v, want %v", ids, tc.want)
				}
			})
		}
		var items []map[string]any
		askOK(t, nc, "exports.list", `{"state":"running"}`, &items)
		if len(items) != 1 || len(items[0]) != 4 || items[0]["records"] != 42.0 || items[0]["state"] != "running" ||
			items[0]["createdAt"] != "2024-05-01T12:00:01Z" {
			t.Errorf("list item = %v, want {id, state, records, createdAt}", items)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		var m api.Manifest
		askOK(t, nc, "exports.cancel", `{"id":"`+b.ID+`"}`, &m)
		if m.ID != b.ID || m.State != api.StateCancelled {
			t.Errorf("cancel gave %s %s", m.ID, m.State)
		}
	})
	t.Run("resume", func(t *testing.T) {
		var m api.Manifest
		askOK(t, nc, "exports.resume", `{"id":"`+b.ID+`"}`, &m)
		if m.ID != b.ID || m.State != api.StateQueued {
			t.Errorf("resume gave %s %s", m.ID, m.State)
		}
	})
	t.Run("delete", func(t *testing.T) {
		msg := ask(t, nc, "exports.delete", `{"id":"`+a.ID+`"}`)
		if want := `{"id":"` + a.ID + `","deleted":true}`; string(msg.Data) != want {
			t.Errorf("delete = %s, want %s", msg.Data, want)
		}
		if _, err := fake.Status(a.ID); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("after delete, Status: %v", err)
		}
	})
}

func TestErrors(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	queued := startOne(t, nc).ID
	done := startOne(t, nc).ID
	fake.set(done, func(m *api.Manifest) { m.State = api.StateCompleted })
	unknown := checkpoint.NewID()
	id := func(id string) string { return `{"id":"` + id + `"}` }

	for _, tc := range []struct {
		name, subject, body string
		startErr, listErr   error
		code                int
		field               string
		message             string // a part of it
	}{
		{name: "start: bad request", subject: "start", body: `{"collection":"tasks"}`, code: 400, field: "database", message: "database: required"},
		{name: "start: invalid without field", subject: "start", body: `{"database":"app"}`, startErr: fmt.Errorf("plan: %w", request.ErrInvalid), code: 400, message: "invalid export request"},
		{name: "start: empty body", subject: "start", body: ``, code: 400, field: "request"},
		{name: "start: busy", subject: "start", body: `{"database":"app"}`, startErr: fmt.Errorf("%w: 4 running, 16 queued", api.ErrBusy), code: 503, message: "export queue is full: 4 running"},
		{name: "start: stopping", subject: "start", body: `{"database":"app"}`, startErr: fmt.Errorf("store: %w", context.Canceled), code: 503, message: "busy or stopping"},
		{name: "start: internal", subject: "start", body: `{"database":"app"}`, startErr: errors.New("disk on fire"), code: 500, message: "internal error"},
		{name: "status: unknown", subject: "status", body: id(unknown), code: 404, message: "unknown export"},
		{name: "status: no id", subject: "status", body: `{}`, code: 400, field: "id", message: "missing"},
		{name: "status: empty body", subject: "status", body: ``, code: 400, field: "id"},
		{name: "status: malformed id", subject: "status", body: id("../../etc/passwd"), code: 400, field: "id", message: "not an export id"},
		{name: "status: id with space", subject: "status", body: id(" " + queued), code: 400, field: "id"},
		{name: "status: id a number", subject: "status", body: `{"id":7}`, code: 400, field: "id", message: "must be a JSON string, not number"},
		{name: "status: malformed JSON", subject: "status", body: `{"id":`, code: 400, field: "request", message: "invalid JSON"},
		{name: "status: not an object", subject: "status", body: `["x"]`, code: 400, field: "request"},
		{name: "status: unknown field", subject: "status", body: `{"id":"` + queued + `","force":true}`, code: 400, field: "force", message: "unknown field"},
		{name: "status: trailing data", subject: "status", body: id(queued) + `{}`, code: 400, field: "request", message: "after the JSON object"},
		{name: "list: unknown state", subject: "list", body: `{"state":"done"}`, code: 400, field: "state", message: `unknown state "done"`},
		{name: "list: unknown field", subject: "list", body: `{"status":"running"}`, code: 400, field: "status"},
		{name: "list: internal", subject: "list", body: `{}`, listErr: errors.New("bbolt says no"), code: 500, message: "internal error"},
		{name: "cancel: finished", subject: "cancel", body: id(done), code: 409, message: "wrong export state"},
		{name: "cancel: unknown", subject: "cancel", body: id(unknown), code: 404},
		{name: "cancel: no id", subject: "cancel", body: `{"id":""}`, code: 400, field: "id"},
		{name: "resume: queued", subject: "resume", body: id(queued), code: 409},
		{name: "resume: malformed id", subject: "resume", body: id("x"), code: 400, field: "id"},
		{name: "delete: unknown", subject: "delete", body: id(unknown), code: 404},
		{name: "delete: unknown field", subject: "delete", body: `{"ID":"` + queued + `","x":1}`, code: 400, field: "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.mu.Lock()
			fake.startErr, fake.listErr = tc.startErr, tc.listErr
			fake.mu.Unlock()
			msg := ask(t, nc, "exports."+tc.subject, tc.body)
			checkError(t, msg, tc.code, tc.field, tc.message)
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.byID[queued] == nil || fake.byID[queued].State != api.StateQueued {
		t.Errorf("a refused request changed export %s", queued)
	}
}

// checkError checks a micro error reply: the headers and the JSON body
// agree and say code, field and message.
func checkError(tb testing.TB, msg *nats.Msg, code int, field, message string) {
	tb.Helper()
	if got := msg.Header.Get(micro.ErrorCodeHeader); got != fmt.Sprint(code) {
		tb.Errorf("%s = %q, want %d (body %s)", micro.ErrorCodeHeader, got, code, msg.Data)
	}
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &body); err != nil || body.Error == nil {
		tb.Fatalf("error body %s: %v", msg.Data, err)
	}
	if body.Error["code"] != float64(code) {
		tb.Errorf("body code = %v, want %d", body.Error["code"], code)
	}
	desc := msg.Header.Get(micro.ErrorHeader)
	if desc == "" || body.Error["message"] != desc {
		tb.Errorf("%s = %q, body message = %q: want the same, not empty", micro.ErrorHeader, desc, body.Error["message"])
	}
	if !strings.Contains(desc, message) {
		tb.Errorf("message %q does not say %q", desc, message)
	}
	gotField, hasField := body.Error["field"]
	switch {
	case field == "" && hasField:
		tb.Errorf("body field = %v, want none", gotField)
	case field != "" && gotField != field:
		tb.Errorf("body field = %v, want %q (body %s)", gotField, field, msg.Data)
	}
}

func TestDiscovery(t *testing.T) {
	nc, _, svc := testService(t, nil)
	wantEndpoints := []string{"start", "status", "list", "cancel", "resume", "delete", "last"}

	t.Run("ping", func(t *testing.T) {
		for _, name := range []string{"", Name} {
			subj, err := micro.ControlSubject(micro.PingVerb, name, "")
			if err != nil {
				t.Fatal(err)
			}
			var ping micro.Ping
			askOK(t, nc, subj, "", &ping)
			if ping.Name != "exportd" || ping.Version != "1.2.3" || ping.Type != micro.PingResponseType || ping.ID != svc.Info().ID {
				t.Errorf("%s: %+v", subj, ping)
			}
		}
	})
	t.Run("info", func(t *testing.T) {
		subj, err := micro.ControlSubject(micro.InfoVerb, Name, "")
		if err != nil {
			t.Fatal(err)
		}
		var info micro.Info
		askOK(t, nc, subj, "", &info)
		if info.Name != "exportd" || info.Version != "1.2.3" || info.Metadata["prefix"] != "exports" || info.Description == "" {
			t.Errorf("info = %+v", info)
		}
		var names []string
		for _, ep := range info.Endpoints {
			names = append(names, ep.Name)
			if ep.Subject != "exports."+ep.Name || ep.QueueGroup != micro.DefaultQueueGroup || ep.Metadata["description"] == "" {
				t.Errorf("endpoint %+v", ep)
			}
		}
		if !slices.Equal(names, wantEndpoints) {
			t.Errorf("endpoints = %v, want %v", names, wantEndpoints)
		}
	})
	t.Run("stats count errors", func(t *testing.T) {
		ask(t, nc, "exports.status", `{}`)
		subj, err := micro.ControlSubject(micro.StatsVerb, Name, svc.Info().ID)
		if err != nil {
			t.Fatal(err)
		}
		// micro counts a request once its handler has returned, which may
		// be just after the reply arrives: ask until it has.
		counted := func() (micro.EndpointStats, bool) {
			var stats micro.Stats
			askOK(t, nc, subj, "", &stats)
			for _, ep := range stats.Endpoints {
				if ep.Name == "status" {
					return *ep, ep.NumRequests >= 1 && ep.NumErrors >= 1 && strings.HasPrefix(ep.LastError, "400:")
				}
			}
			return micro.EndpointStats{}, false
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			ep, ok := counted()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status stats = %+v", ep)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func TestConfig(t *testing.T) {
	t.Run("prefix", func(t *testing.T) {
		nc, _, svc := testService(t, func(c *Config) { c.Prefix = "acme.exports" })
		for _, ep := range svc.Info().Endpoints {
			if !strings.HasPrefix(ep.Subject, "acme.exports.") {
				t.Errorf("endpoint %s on %s", ep.Name, ep.Subject)
			}
		}
		var r startReply
		askOK(t, nc, "acme.exports.start", `{"database":"app"}`, &r)
		if r.ProgressSubject != "acme.exports.progress."+r.ID {
			t.Errorf("progressSubject = %q", r.ProgressSubject)
		}
	})
	t.Run("version", func(t *testing.T) {
		for _, tc := range []struct{ in, version, build string }{
			{"v0.4.1", "0.4.1", ""},
			{"1.0.0-rc.1+abc", "1.0.0-rc.1+abc", ""},
			{"(devel)", "0.0.0-dev", "(devel)"},
			{"", "0.0.0-dev", ""},
		} {
			_, _, svc := testService(t, func(c *Config) { c.Version = tc.in })
			info := svc.Info()
			if info.Version != tc.version || info.Metadata["build"] != tc.build {
				t.Errorf("version %q: announced %q, build %q", tc.in, info.Version, info.Metadata["build"])
			}
		}
	})
	t.Run("refused", func(t *testing.T) {
		srv := natstest.Server(t)
		nc := natstest.Conn(t, srv)
		for name, cfg := range map[string]Config{
			"no conn":         {Exports: newFakeExports()},
			"no exports":      {Conn: nc},
			"wildcard prefix": {Conn: nc, Exports: newFakeExports(), Prefix: "exports.>"},
			"empty token":     {Conn: nc, Exports: newFakeExports(), Prefix: "a..b"},
		} {
			if svc, err := New(cfg); err == nil {
				_ = svc.Stop()
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

// A slow Start holds up neither the other endpoints nor discovery.
func TestSlowStartBlocksNothingElse(t *testing.T) {
	nc, fake, _ := testService(t, nil)
	id := startOne(t, nc).ID
	gate := make(chan struct{})
	fake.mu.Lock()
	fake.startGate = gate
	fake.mu.Unlock()

	started := make(chan *nats.Msg, 1)
	go func() {
		msg, err := nc.Request("exports.start", []byte(`{"database":"app"}`), 10*time.Second)
		if err != nil {
			t.Errorf("slow start: %v", err)
		}
		started <- msg
	}()
	for _, subj := range []string{"exports.status", "exports.list", "$SRV.PING.exportd"} {
		reply := make(chan error, 1)
		go func() {
			_, err := nc.Request(subj, []byte(`{"id":"`+id+`"}`), 5*time.Second)
			reply <- err
		}()
		select {
		case err := <-reply:
			if err != nil && subj != "exports.list" {
				t.Errorf("%s while a start is slow: %v", subj, err)
			}
		case <-started:
			t.Fatalf("start finished before %s answered", subj)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited for a slow start", subj)
		}
	}
	close(gate)
	select {
	case msg := <-started:
		if msg != nil && msg.Header.Get(micro.ErrorCodeHeader) != "" {
			t.Errorf("slow start failed: %s", msg.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slow start never answered")
	}
}

func TestStop(t *testing.T) {
	srv := natstest.Server(t)
	svc, err := New(Config{Conn: natstest.Conn(t, srv), Exports: newFakeExports(), Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	// Stop drains the subscriptions; the server forgets them soon after.
	nc := natstest.Conn(t, srv)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := nc.Request("exports.list", nil, time.Second)
		if errors.Is(err, nats.ErrNoResponders) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Stop, list: %v, want no responders", err)
		}
	}
	if err := svc.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}
