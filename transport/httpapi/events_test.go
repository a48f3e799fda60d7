package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/request"
)

// sseEvent is one server-sent event, or a comment.
type sseEvent struct {
	id, event, data, comment string
	hasID                    bool
}

// sseStream is an open event stream whose events a goroutine parses.
type sseStream struct {
	resp   *http.Response
	events chan sseEvent // closed at the end of the stream
	cancel context.CancelFunc
}

// openEvents opens path with the headers (name, value pairs) and
// fails unless it is answered 200 with an event stream.
func (fx *fixture) openEvents(tb testing.TB, path string, headers ...string) *sseStream {
	tb.Helper()
	s, status := fx.tryEvents(tb, path, headers...)
	if status != http.StatusOK {
		tb.Fatalf("GET %s: status %d, want 200", path, status)
	}
	return s
}

// tryEvents opens path; the stream is nil unless the status is 200.
func (fx *fixture) tryEvents(tb testing.TB, path string, headers ...string) (*sseStream, int) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := fx.srv.Client().Do(fx.request(tb, ctx, http.MethodGet, path, "", headers...))
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		tb.Errorf("Content-Type %q", ct)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 1024), cancel: cancel}
	go s.read()
	tb.Cleanup(s.close)
	return s, resp.StatusCode
}

// read parses the stream as the HTML standard says, strictly: every line
// must be a field this server sends.
func (s *sseStream) read() {
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ": ")
		switch {
		case line == "":
			if ev.event != "" || ev.comment != "" {
				s.events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.comment = strings.TrimPrefix(line, ": ")
		case field == "id":
			ev.id, ev.hasID = value, true
		case field == "event":
			ev.event = value
		case field == "data":
			ev.data = value
		default:
			ev.event = "unexpected line " + line
			s.events <- ev
			return
		}
	}
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event, skipping comments; ok is false at the end
// of the stream.
func (s *sseStream) next(tb testing.TB) (ev sseEvent, e api.Event, ok bool) {
	tb.Helper()
	for {
		select {
		case ev, ok = <-s.events:
			if !ok {
				return ev, e, false
			}
			if ev.comment != "" {
				continue
			}
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				tb.Fatalf("event data %q: %v", ev.data, err)
			}
			if e.Event != ev.event {
				tb.Fatalf("event type %q, data says %q", ev.event, e.Event)
			}
			return ev, e, true
		case <-time.After(10 * time.Second):
			tb.Fatal("no event in 10s")
		}
	}
}

// wantEnd fails unless the stream ends without another event.
func (s *sseStream) wantEnd(tb testing.TB) {
	tb.Helper()
	if ev, _, ok := s.next(tb); ok {
		tb.Fatalf("event %+v, want the end of the stream", ev)
	}
}

// progress is event seq of export id, an export-processing one unless
// name is given.
func progress(id string, seq int64, name ...string) api.Event {
	ev := api.Event{Event: api.EventProcessing, ExportID: id, Seq: seq, Records: seq * 10, Time: time.Unix(seq, 0).UTC()}
	if len(name) > 0 {
		ev.Event = name[0]
	}
	return ev
}

// eventsFixture is a fixture whose event log the test feeds.
func eventsFixture(tb testing.TB, log *MemoryLog, cfg Config) *fixture {
	tb.Helper()
	cfg.Events = log
	fx := newFixtureConfig(tb, cfg)
	fx.h.heartbeat = 50 * time.Millisecond
	return fx
}

// The wire format: id is the seq, the event type the name, the data one
// line of the event's JSON; heartbeat comments while nothing happens; the
// stream ends after the final event.
func TestExportEventsFormat(t *testing.T) {
	log := NewMemoryLog(0, 0)
	fx := eventsFixture(t, log, Config{})
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	id := e.m.ID
	log.Append(progress(id, 1, api.EventQueued))
	log.Append(progress(id, 2, api.EventFetching))

	s := fx.openEvents(t, "/exports/"+id+"/events")
	for _, h := range []string{"Cache-Control", "X-Content-Type-Options"} {
		if s.resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	for want := int64(1); want <= 2; want++ {
		ev, got, _ := s.next(t)
		if ev.id != strconv.FormatInt(want, 10) || got.Seq != want || got.ExportID != id {
			t.Fatalf("event %+v, want seq %d", ev, want)
		}
	}
	// Nothing happens: heartbeats.
	select {
	case ev := <-s.events:
		if ev.comment != "heartbeat" {
			t.Fatalf("got %+v, want a heartbeat comment", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}
	log.Append(progress(id, 3))
	chunk := progress(id, 4, api.EventFileGeneration)
	chunk.Chunk = &api.Chunk{Index: 0, Name: "chunk-000000.ndjson.zst", SHA256: strings.Repeat("a", 64)}
	log.Append(chunk)
	log.Append(progress(id+"x", 1)) // another export's
	log.Append(progress(id, 5, api.EventCompleted))
	for _, want := range []string{api.EventProcessing, api.EventFileGeneration, api.EventCompleted} {
		ev, got, ok := s.next(t)
		if !ok || ev.event != want {
			t.Fatalf("event %+v, want %s", ev, want)
		}
		if want == api.EventFileGeneration && (got.Chunk == nil || got.Chunk.Name != "chunk-000000.ndjson.zst") {
			t.Errorf("file-generation event without its chunk: %s", ev.data)
		}
	}
	s.wantEnd(t)

	// Reconnecting after the final event: 204, which stops an EventSource.
	if _, status := fx.tryEvents(t, "/exports/"+id+"/events", "Last-Event-ID", "5"); status != http.StatusNoContent {
		t.Errorf("reconnect after the final event: %d, want 204", status)
	}
	wantError(t, fx.do(t, "GET", "/exports/"+id+"/events", "Last-Event-ID", "five"), http.StatusBadRequest)
	wantError(t, fx.do(t, "GET", "/exports/"+strings.Repeat("a", 26)+"/events"), http.StatusNotFound)
	wantError(t, fx.do(t, "GET", "/exports/nope/events"), http.StatusBadRequest)
}

// A client that drops its stream at random and reconnects with the id of
// the last event it got, while events keep coming, sees every event once,
// in order.
func TestExportEventsReconnect(t *testing.T) {
	log := NewMemoryLog(0, 0)
	fx := eventsFixture(t, log, Config{})
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	id := e.m.ID
	const n = 400
	go func() {
		for seq := int64(1); seq <= n; seq++ {
			name := api.EventProcessing
			if seq == n {
				name = api.EventCompleted
			}
			log.Append(progress(id, seq, name))
			if seq%8 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	var got []int64
	last := ""
	for round := 0; ; round++ {
		var hdr []string
		if last != "" {
			hdr = []string{"Last-Event-ID", last}
		}
		s, status := fx.tryEvents(t, "/exports/"+id+"/events", hdr...)
		if status == http.StatusNoContent {
			break
		}
		if status != http.StatusOK {
			t.Fatalf("round %d: status %d", round, status)
		}
		for k := 0; k < 1+round*7%23; k++ {
			ev, e, ok := s.next(t)
			if !ok {
				break
			}
			if ev.id != strconv.FormatInt(e.Seq, 10) {
				t.Fatalf("id %q for seq %d", ev.id, e.Seq)
			}
			got = append(got, e.Seq)
			last = ev.id
		}
		s.close()
	}
	if len(got) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	for i, seq := range got {
		if seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: lost or repeated", i, seq)
		}
	}
}

// When the log does not reach back to Last-Event-ID, or holds nothing of
// the export, the stream starts with the export's state from its
// manifest (seq 0), whose id is the newest seq the log holds.
func TestExportEventsSnapshot(t *testing.T) {
	log := NewMemoryLog(8, 0)
	fx := eventsFixture(t, log, Config{})
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, zstdChunks(t, 2, 5))
	id := e.m.ID
	for seq := int64(1); seq <= 20; seq++ {
		log.Append(progress(id, seq))
	}
	for _, last := range []string{"", "0", "2", "99"} {
		s := fx.openEvents(t, "/exports/"+id+"/events", "Last-Event-ID", last)
		ev, got, _ := s.next(t)
		if ev.id != "20" || got.Seq != 0 || got.Event != api.EventProcessing || got.Chunks != 2 {
			t.Fatalf("Last-Event-ID %q: first event %+v, want the manifest's with id 20", last, ev)
		}
		s.close()
	}
	// Within reach: exactly what follows.
	s := fx.openEvents(t, "/exports/"+id+"/events", "Last-Event-ID", "17")
	for want := int64(18); want <= 21; want++ {
		if want == 21 {
			log.Append(progress(id, 21))
		}
		if _, got, _ := s.next(t); got.Seq != want {
			t.Fatalf("seq %d, want %d", got.Seq, want)
		}
	}
	s.close()

	// A finished export the log knows nothing of: its state, then the end.
	done := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 5))
	s = fx.openEvents(t, "/exports/"+done.m.ID+"/events")
	if ev, got, _ := s.next(t); ev.id != "0" || got.Event != api.EventCompleted || got.Seq != 0 {
		t.Fatalf("first event %+v, want the completed manifest's", ev)
	}
	s.wantEnd(t)

	// The Publisher's seq started again (a restart of the node that runs
	// it): the log holds the new run only.
	log.Append(progress(id, 1, api.EventResumed))
	s = fx.openEvents(t, "/exports/"+id+"/events", "Last-Event-ID", "0")
	if ev, got, _ := s.next(t); ev.id != "1" || got.Event != api.EventResumed {
		t.Fatalf("after the seq started again: %+v", ev)
	}
}

// GET /events mixes every export: a first connection gets a snapshot of
// each (only the last with an id, the log's head), then every event with
// its log position as id; a reconnect gets exactly what followed.
func TestEventsAll(t *testing.T) {
	log := NewMemoryLog(0, 0)
	fx := eventsFixture(t, log, Config{})
	a := fx.add(t, api.StateCompleted, request.CSV, request.Gzip, gzipChunks(t, []byte("a\n")))
	b := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	log.Append(progress(b.m.ID, 1, api.EventQueued))

	s := fx.openEvents(t, "/events")
	ev, got, _ := s.next(t)
	if ev.hasID || got.ExportID != a.m.ID || got.Event != api.EventCompleted || got.Chunks != 1 {
		t.Fatalf("first snapshot event %+v (%+v)", ev, got)
	}
	ev, got, _ = s.next(t)
	head, err := strconv.ParseUint(ev.id, 10, 64)
	if err != nil || got.ExportID != b.m.ID || got.Seq != 0 {
		t.Fatalf("last snapshot event %+v", ev)
	}
	var ids []string
	for i := int64(2); i <= 7; i++ {
		exp := a.m.ID
		if i%2 == 0 {
			exp = b.m.ID
		}
		log.Append(progress(exp, i))
		ev, got, _ := s.next(t)
		pos, _ := strconv.ParseUint(ev.id, 10, 64)
		if pos != head+uint64(i-1) || got.ExportID != exp || got.Seq != i {
			t.Fatalf("live event %+v, want position %d of %s", ev, head+uint64(i-1), exp)
		}
		ids = append(ids, ev.id)
	}
	s.close()

	s = fx.openEvents(t, "/events", "Last-Event-ID", ids[2])
	for _, want := range ids[3:] {
		if ev, _, _ := s.next(t); ev.id != want {
			t.Fatalf("replayed id %s, want %s", ev.id, want)
		}
	}
	s.close()

	// An id from before this log began (an earlier daemon): a snapshot.
	s = fx.openEvents(t, "/events", "Last-Event-ID", "12")
	if ev, got, _ := s.next(t); ev.hasID || got.Seq != 0 || got.ExportID != a.m.ID {
		t.Fatalf("old id: %+v, want the snapshot", ev)
	}
}

// Every stream's goroutine and feed go when its client goes, when the
// server shuts down, and beyond the limit a stream gets 503.
func TestEventsCleanup(t *testing.T) {
	log := NewMemoryLog(0, 0)
	fx := eventsFixture(t, log, Config{MaxEventStreams: 3})
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	base := runtime.NumGoroutine()

	var streams []*sseStream
	for _, path := range []string{"/events", "/exports/" + e.m.ID + "/events", "/events"} {
		s := fx.openEvents(t, path)
		s.next(t) // the snapshot: the handler is past Follow
		streams = append(streams, s)
	}
	resp := fx.do(t, "GET", "/events")
	wantError(t, resp, http.StatusServiceUnavailable)
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if log.Followers() != 3 {
		t.Fatalf("%d followers, want 3", log.Followers())
	}
	for _, s := range streams {
		s.close()
	}
	waitFor(t, "the followers to go", func() bool { return log.Followers() == 0 })
	s := fx.openEvents(t, "/events") // the places are free again
	s.next(t)
	s.close()
	waitFor(t, "the goroutines to end", func() bool {
		fx.srv.Client().CloseIdleConnections() // keep-alive connections are not the streams'
		return runtime.NumGoroutine() <= base
	})

	// Shutdown ends the streams instead of waiting for them.
	s = fx.openEvents(t, "/exports/"+e.m.ID+"/events")
	s.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := fx.srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with a stream open: %v", err)
	}
	s.wantEnd(t)
	waitFor(t, "the followers to go", func() bool { return log.Followers() == 0 })
}

// A client that does not read is dropped once it is a buffer behind; its
// stream ends and its reconnect replays from the log.
func TestMemoryLogDropsLaggard(t *testing.T) {
	log := NewMemoryLog(0, 0)
	feed, _ := log.Follow("", FromNow)
	defer feed.Stop()
	for seq := int64(1); seq <= liveBuffer+1; seq++ {
		log.Append(progress("x", seq))
	}
	n := 0
	for range feed.Live {
		n++
	}
	if n != liveBuffer || log.Followers() != 0 {
		t.Fatalf("%d events before the end, %d followers; want %d, 0", n, log.Followers(), liveBuffer)
	}
	again, _ := log.Follow("", feed.Head+uint64(n))
	defer again.Stop()
	if !again.Reached || len(again.Past) != 1 || again.Past[0].Event.Seq != liveBuffer+1 {
		t.Fatalf("resumed feed: reached %v, past %v", again.Reached, again.Past)
	}
}

// The log's bounds: a full export sheds its oldest quarter, the exports
// heard of least recently are forgotten, and what is gone is out of reach.
func TestMemoryLogBounds(t *testing.T) {
	log := NewMemoryLog(8, 2)
	for seq := int64(1); seq <= 9; seq++ {
		log.Append(progress("a", seq))
	}
	f, _ := log.Follow("a", 0)
	if f.Reached || f.Head != 9 {
		t.Errorf("after shedding: reached %v, head %d", f.Reached, f.Head)
	}
	f.Stop()
	f, _ = log.Follow("a", 2)
	if !f.Reached || len(f.Past) != 7 || f.Past[0].Event.Seq != 3 {
		t.Errorf("from seq 2: reached %v, %d events", f.Reached, len(f.Past))
	}
	f.Stop()
	all, _ := log.Follow("", FromNow)
	all.Stop()
	log.Append(progress("b", 1))
	log.Append(progress("c", 1)) // a is forgotten
	if f, _ := log.Follow("a", 5); f.Reached || f.Head != 0 {
		t.Errorf("forgotten export: reached %v, head %d", f.Reached, f.Head)
	}
	if f, _ := log.Follow("", all.Head-1); f.Reached {
		t.Error("every export's feed reaches back past a forgotten export's events")
	}
	if f, _ := log.Follow("", all.Head+1); !f.Reached || len(f.Past) != 1 || f.Past[0].Event.ExportID != "c" {
		t.Errorf("after b's event: reached %v, past %v", f.Reached, f.Past)
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The event routes are guarded like the downloads: with a secret, a
// bearer or a URL signed for the stream (the links' eventsUrl).
func TestEventsGuard(t *testing.T) {
	fx := eventsFixture(t, NewMemoryLog(0, 0), Config{Secret: testSecret, APIToken: testAPIToken})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 5))
	path := "/exports/" + e.m.ID + "/events"
	wantError(t, fx.do(t, "GET", path), http.StatusUnauthorized)
	wantError(t, fx.do(t, "GET", "/events"), http.StatusUnauthorized)
	s := fx.openEvents(t, "/events", testBearer...)
	s.close()
	signed := fx.h.SignURL(path, time.Now())
	s = fx.openEvents(t, signed)
	s.next(t)
	s.wantEnd(t)
	moved := strings.Replace(fx.h.SignURL("/exports/"+e.m.ID, time.Now()), e.m.ID, e.m.ID+"/events", 1)
	wantError(t, fx.do(t, "GET", moved), http.StatusForbidden)
}

// FollowNATS logs what the progress subjects carry, and nothing that is
// not an event of the export its subject names.
func TestFollowNATS(t *testing.T) {
	nc := natstest.Conn(t, natstest.Server(t))
	log := NewMemoryLog(0, 0)
	sub, err := log.FollowNATS(nc, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	feed, _ := log.Follow("", FromNow)
	defer feed.Stop()
	publish := func(subject string, v any) {
		data, ok := v.([]byte)
		if !ok {
			data, _ = json.Marshal(v)
		}
		if err := nc.Publish(subject, data); err != nil {
			t.Fatal(err)
		}
	}
	publish("jobs.progress.a", progress("b", 1))                            // another export's subject
	publish("jobs.progress.a", []byte("not json"))                          // not an event
	publish("jobs.progress.a", progress("a", 1, "export-x\nevent: forged")) // a name that is no SSE line
	publish("exports.progress.a", progress("a", 1))                         // another prefix
	publish("jobs.progress.a", progress("a", 7, api.EventQueued))           // this one
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-feed.Live:
		if e.Event.ExportID != "a" || e.Event.Seq != 7 || e.Event.Event != api.EventQueued {
			t.Fatalf("logged %+v", e.Event)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing logged")
	}
	select {
	case e := <-feed.Live:
		t.Fatalf("also logged %+v", e.Event)
	case <-time.After(100 * time.Millisecond):
	}
}

// Held, what FollowNATS hears waits while Fill logs the past; released,
// it follows the past, but for the events the past held already: one
// export's log is its whole run, each seq once.
func TestMemoryLogHoldFill(t *testing.T) {
	nc := natstest.Conn(t, natstest.Server(t))
	log := NewMemoryLog(0, 0)
	release := log.Hold()
	sub, err := log.FollowNATS(nc, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	// Heard while held: seq 3 (which the past holds too) and 4.
	for _, seq := range []int64{3, 4} {
		data, _ := json.Marshal(progress("a", seq))
		if err := nc.Publish("jobs.progress.a", data); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		log.mu.Lock()
		n := len(log.held)
		log.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events held, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if feed, _ := log.Follow("a", 0); feed.Reached || len(feed.Past) != 0 {
		t.Fatalf("held events were logged: %+v", feed.Past)
	} else {
		feed.Stop()
	}
	for _, seq := range []int64{1, 2, 3} {
		data, _ := json.Marshal(progress("a", seq))
		log.Fill("jobs", "jobs.progress.a", data)
	}
	log.Fill("jobs", "jobs.progress.a", []byte("not json"))
	release()
	release() // once only

	feed, _ := log.Follow("a", 0)
	defer feed.Stop()
	var seqs []int64
	for _, e := range feed.Past {
		seqs = append(seqs, e.Event.Seq)
	}
	if !slices.Equal(seqs, []int64{1, 2, 3, 4}) {
		t.Fatalf("logged seqs %v, want 1 to 4", seqs)
	}
	// A new run of seq (another time) still replaces the old one.
	log.Append(progress("a", 1, api.EventResumed))
	if f, _ := log.Follow("a", 0); len(f.Past) != 1 || f.Past[0].Event.Event != api.EventResumed {
		t.Fatalf("after a new run: %+v", f.Past)
	} else {
		f.Stop()
	}
}
