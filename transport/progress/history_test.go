package progress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// openHistory opens the cluster's progress stream (of the default prefix,
// the Publisher's) through a connection to server i of c.
func openHistory(tb testing.TB, c *natstest.Servers, i, replicas int) (*cluster.Progress, jetstream.JetStream) {
	tb.Helper()
	js, err := jetstream.New(c.Connect(tb, i))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 20*time.Second)
	defer cancel()
	h, err := cluster.OpenProgress(ctx, js, cluster.Config{Replicas: replicas})
	if err != nil {
		tb.Fatal(err)
	}
	return h, js
}

// waitStored waits until h's last event of export id has seq: the stream
// stores what a Publisher sent a moment after the server has it.
func waitStored(tb testing.TB, h History, id string, seq int64) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		data, _, err := h.LastEvent(tb.Context(), api.ProgressSubject("", id))
		var ev api.Event
		if err == nil && json.Unmarshal(data, &ev) == nil && ev.Seq == seq {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			tb.Fatalf("history of %s: %s, %v; want seq %d within 10s", id, data, err, seq)
		}
	}
}

// testLog is a logger whose output a test reads.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *testLog) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// slowHistory is h, except that it does not answer for the subjects in
// silent until its context ends; calls counts the questions.
type slowHistory struct {
	h      History
	silent map[string]bool
	calls  atomic.Int64
}

func (s *slowHistory) LastEvent(ctx context.Context, subject string) ([]byte, uint64, error) {
	s.calls.Add(1)
	if s.silent[subject] {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	}
	return s.h.LastEvent(ctx, subject)
}

func (s *slowHistory) Append(ctx context.Context, subject string, data []byte, msgID string, after uint64) (uint64, bool, error) {
	return s.h.Append(ctx, subject, data, msgID, after)
}

// An export's seq goes on where another Publisher left it, on another
// node of the cluster: as after a restart or a takeover. Last answers from
// the stream for an export this Publisher never sent.
func TestPublisherHistory(t *testing.T) {
	c := natstest.Cluster(t, 3)
	h1, _ := openHistory(t, c, 0, 3)
	h2, _ := openHistory(t, c, 1, 3)
	sub := c.Connect(t, 2)
	a, b := "aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb"
	onA := subscribe(t, sub, api.ProgressSubject("", a))
	onB := subscribe(t, sub, api.ProgressSubject("", b))
	isCompleted := func(ev api.Event) bool { return ev.Event == api.EventCompleted }
	var log testLog

	// Node 1 runs export a to the end.
	p1 := NewPublisher(c.Connect(t, 0), "", log.logger(), WithHistory(h1, cluster.ErrNoEvent))
	first := run(a, 3)
	for _, ev := range first {
		p1.Publish(ev)
	}
	checkSeq(t, collect(t, onA, 10*time.Second, isCompleted), 1)
	closeStats(t, p1)
	n := int64(len(first))
	waitStored(t, h2, a, n)

	// Node 2 knows nothing of a, and answers for it from the stream.
	p2 := NewPublisher(c.Connect(t, 1), "", log.logger(), WithHistory(h2, cluster.ErrNoEvent))
	if ev, ok := p2.Last(a); !ok || ev.Seq != n || ev.Event != api.EventCompleted || ev.ExportID != a {
		t.Fatalf("Last(%s) on a new Publisher = %+v, %v; want the stored %s with seq %d", a, ev, ok, api.EventCompleted, n)
	}
	if ev, ok := p2.Last(b); ok {
		t.Fatalf("Last(%s), never published = %+v, want none", b, ev)
	}

	// Node 2 resumes a, and runs b, which nobody ran before: a's seq goes
	// on, b's starts at 1, and each keeps its order.
	again := []api.Event{
		{Event: api.EventResumed, ExportID: a},
		{Event: api.EventFileGeneration, ExportID: a, Records: 40, Chunks: 4},
		{Event: api.EventFinalizing, ExportID: a, Records: 40},
		{Event: api.EventCompleted, ExportID: a, Records: 40},
	}
	other := run(b, 2)
	for i := range max(len(again), len(other)) {
		for _, evs := range [][]api.Event{again, other} {
			if i < len(evs) {
				p2.Publish(evs[i])
			}
		}
	}
	gotA := collect(t, onA, 10*time.Second, isCompleted)
	checkSeq(t, gotA, n+1)
	for i, ev := range gotA {
		if ev.Event != again[i].Event || ev.Records != again[i].Records {
			t.Errorf("event %d after the takeover = %s with %d records, want %s with %d", i, ev.Event, ev.Records, again[i].Event, again[i].Records)
		}
	}
	checkSeq(t, collect(t, onB, 10*time.Second, isCompleted), 1)
	if ev, ok := p2.Last(a); !ok || ev.Seq != n+int64(len(again)) {
		t.Errorf("Last(%s) = %+v, %v; want seq %d", a, ev, ok, n+int64(len(again)))
	}
	if st := closeStats(t, p2); st.Sent != int64(len(again)+len(other)) || st.Lost != 0 {
		t.Errorf("stats = %+v, want %d sent", st, len(again)+len(other))
	}
	nothingMore(t, sub, onA)
	if strings.Contains(log.String(), "level=WARN") {
		t.Errorf("warnings with a working history:\n%s", log.String())
	}
}

// A history that fails, or does not answer in time, costs the export its
// seq's continuity (it starts at 1, with a warning), not its events; and
// Last stops asking it for a while.
func TestPublisherHistoryFails(t *testing.T) {
	const x, z = "xxxxxxxxxxxxxxxxxxxxxxxxxx", "zzzzzzzzzzzzzzzzzzzzzzzzzz"
	for _, tc := range []struct {
		name string
		// history makes the failing history; its JetStream is on c.
		history func(t *testing.T, c *natstest.Servers) History
	}{
		{"stream deleted", func(t *testing.T, c *natstest.Servers) History {
			h, js := openHistory(t, c, 0, 1)
			if err := js.DeleteStream(t.Context(), "EXPORTD_PROGRESS"); err != nil {
				t.Fatal(err)
			}
			return h
		}},
		{"server gone", func(t *testing.T, c *natstest.Servers) History {
			h, _ := openHistory(t, c, 0, 1)
			c.Kill(0)
			return h
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := natstest.Cluster(t, 1)
			h := &slowHistory{h: tc.history(t, c)}
			srv := natstest.Server(t) // the progress subjects' server, up throughout
			sub := natstest.Conn(t, srv)
			ch := subscribe(t, sub, api.ProgressSubject("", x))
			var log testLog
			p := NewPublisher(natstest.Conn(t, srv), "", log.logger(),
				WithHistory(h, cluster.ErrNoEvent), WithHistoryTimeout(500*time.Millisecond))
			evs := run(x, 2)
			for _, ev := range evs {
				p.Publish(ev)
			}
			got := collect(t, ch, 10*time.Second, func(ev api.Event) bool { return ev.Event == api.EventCompleted })
			checkSeq(t, got, 1)
			if len(got) != len(evs) {
				t.Errorf("%d events arrived, want %d", len(got), len(evs))
			}
			if logs := log.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "export="+x) {
				t.Errorf("no warning about the history for %s:\n%s", x, logs)
			}

			// Last knows x from this Publisher, and asks nothing; z it
			// does not know, and the history, having failed, is not asked.
			calls := h.calls.Load()
			if ev, ok := p.Last(x); !ok || ev.Seq != int64(len(evs)) {
				t.Errorf("Last(%s) = %+v, %v; want seq %d", x, ev, ok, len(evs))
			}
			if ev, ok := p.Last(z); ok {
				t.Errorf("Last(%s) = %+v with a failing history, want none", z, ev)
			}
			if n := h.calls.Load() - calls; n != 0 {
				t.Errorf("Last asked a history that just failed %d times", n)
			}
			if st := closeStats(t, p); st.Sent != int64(len(evs)) || st.Lost != 0 {
				t.Errorf("stats = %+v, want %d sent", st, len(evs))
			}

			// A Publisher whose Last finds the history failing stops
			// asking it too.
			p = NewPublisher(natstest.Conn(t, srv), "", log.logger(),
				WithHistory(h, cluster.ErrNoEvent), WithHistoryTimeout(500*time.Millisecond))
			for i := range 3 {
				calls := h.calls.Load()
				if ev, ok := p.Last(z); ok {
					t.Errorf("Last(%s) = %+v with a failing history, want none", z, ev)
				}
				want := int64(0) // only the first asks
				if i == 0 {
					want = 1
				}
				if n := h.calls.Load() - calls; n != want {
					t.Errorf("Last %d asked the history %d times, want %d", i, n, want)
				}
			}
			closeStats(t, p)
		})
	}
}

// While the history does not answer for one export, the others' events go
// on; Close waits for the lookup, and gives up on it with its context.
func TestPublisherHistoryHoldsOnlyItsExport(t *testing.T) {
	const x, y = "xxxxxxxxxxxxxxxxxxxxxxxxxx", "yyyyyyyyyyyyyyyyyyyyyyyyyy"
	c := natstest.Cluster(t, 1)
	stream, _ := openHistory(t, c, 0, 1)
	h := &slowHistory{h: stream, silent: map[string]bool{api.ProgressSubject("", x): true}}
	sub := c.Connect(t, 0)
	all := subscribe(t, sub, "exports.progress.>")
	isCompleted := func(id string) func(api.Event) bool {
		return func(ev api.Event) bool { return ev.ExportID == id && ev.Event == api.EventCompleted }
	}

	t.Run("close waits", func(t *testing.T) {
		const timeout = 500 * time.Millisecond
		p := NewPublisher(c.Connect(t, 0), "", nil, WithHistory(h, cluster.ErrNoEvent), WithHistoryTimeout(timeout))
		evX, evY := run(x, 2), run(y, 2)
		begin := time.Now()
		for _, ev := range evX {
			p.Publish(ev)
		}
		for _, ev := range evY {
			p.Publish(ev)
		}
		// y's events come first, all of them, while x's wait.
		gotY := collect(t, all, 10*time.Second, isCompleted(y))
		if took := time.Since(begin); took >= timeout {
			t.Errorf("%s's events took %v, the history timeout for %s", y, took, x)
		}
		for _, ev := range gotY {
			if ev.ExportID != y {
				t.Fatalf("%s's event %s came before %s's, whose history answers", ev.ExportID, ev.Event, y)
			}
		}
		checkSeq(t, gotY, 1)
		// Close sends x's once its lookup gives up.
		if st := closeStats(t, p); st.Sent != int64(len(evX)+len(evY)) || st.Lost != 0 {
			t.Errorf("stats = %+v, want all sent", st)
		}
		if took := time.Since(begin); took < timeout {
			t.Errorf("x's events went in %v, before the lookup's timeout", took)
		}
		gotX := collect(t, all, 10*time.Second, isCompleted(x))
		checkSeq(t, gotX, 1)
		if len(gotX) != len(evX) {
			t.Errorf("%d events of %s, want %d", len(gotX), x, len(evX))
		}
		nothingMore(t, sub, all)
	})

	t.Run("close gives up", func(t *testing.T) {
		p := NewPublisher(c.Connect(t, 0), "", nil, WithHistory(h, cluster.ErrNoEvent), WithHistoryTimeout(time.Minute))
		for range 3 {
			p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: x})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- p.Close(ctx) }()
		select {
		case err := <-closed:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 events not sent") {
				t.Errorf("Close = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not give up on the history lookup when its context ended")
		}
		if st := p.Stats(); st.Lost != 3 || st.Sent != 0 {
			t.Errorf("stats = %+v, want 3 lost", st)
		}
		nothingMore(t, sub, all)
	})
}

// What the stream holds for an export decides where its seq goes on: a
// stored event's seq, or 1, with a warning when what is stored is not an
// event of the export.
func TestPublisherHistoryStored(t *testing.T) {
	c := natstest.Cluster(t, 1)
	h, _ := openHistory(t, c, 0, 1)
	nc := c.Connect(t, 0)
	for i, tc := range []struct {
		name    string
		stored  string // published on the export's subject; "": nothing
		wantSeq int64
		warn    bool
	}{
		{name: "none stored", wantSeq: 1},
		{name: "an event", stored: `{"event":"export-processing","exportId":"%s","seq":41}`, wantSeq: 42},
		{name: "another export's", stored: `{"event":"export-processing","exportId":"other","seq":41}`, wantSeq: 1, warn: true},
		{name: "no seq", stored: `{"event":"export-processing","exportId":"%s"}`, wantSeq: 1, warn: true},
		{name: "not JSON", stored: `seq 41`, wantSeq: 1, warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("%026d", i)
			subject := api.ProgressSubject("", id)
			if tc.stored != "" {
				data := []byte(strings.ReplaceAll(tc.stored, "%s", id))
				if err := nc.Publish("exports.history."+id, data); err != nil {
					t.Fatal(err)
				}
				waitStoredData(t, h, subject, data)
			}
			ch := subscribe(t, nc, subject)
			var log testLog
			p := NewPublisher(nc, "", log.logger(), WithHistory(h, cluster.ErrNoEvent))
			p.Publish(api.Event{Event: api.EventResumed, ExportID: id})
			if got := collect(t, ch, 10*time.Second, func(api.Event) bool { return true }); got[0].Seq != tc.wantSeq {
				t.Errorf("seq %d, want %d", got[0].Seq, tc.wantSeq)
			}
			closeStats(t, p)
			if warned := strings.Contains(log.String(), "level=WARN"); warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, log.String())
			}
		})
	}

	// A History without a "none" error says none with nil data.
	t.Run("nil data", func(t *testing.T) {
		const id = "nnnnnnnnnnnnnnnnnnnnnnnnnn"
		ch := subscribe(t, nc, api.ProgressSubject("", id))
		var log testLog
		none := historyFunc{last: func(context.Context, string) ([]byte, uint64, error) { return nil, 0, nil }, nc: nc}
		p := NewPublisher(nc, "", log.logger(), WithHistory(none, nil))
		if ev, ok := p.Last(id); ok {
			t.Errorf("Last = %+v, want none", ev)
		}
		p.Publish(api.Event{Event: api.EventQueued, ExportID: id})
		if got := collect(t, ch, 10*time.Second, func(api.Event) bool { return true }); got[0].Seq != 1 {
			t.Errorf("seq %d, want 1", got[0].Seq)
		}
		closeStats(t, p)
		if strings.Contains(log.String(), "level=WARN") {
			t.Errorf("warned:\n%s", log.String())
		}
	})
}

// waitStoredData waits until h's last event on subject is data.
func waitStoredData(tb testing.TB, h History, subject string, data []byte) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		got, _, err := h.LastEvent(tb.Context(), subject)
		if err == nil && bytes.Equal(got, data) {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			tb.Fatalf("history of %s: %s, %v; want %s within 10s", subject, got, err, data)
		}
	}
}

// historyFunc is a History whose LastEvent a function answers (the
// contract's nil data, which the stream never gives), and whose Append
// publishes on nc at once.
type historyFunc struct {
	last func(ctx context.Context, subject string) ([]byte, uint64, error)
	nc   *nats.Conn
}

func (f historyFunc) LastEvent(ctx context.Context, subject string) ([]byte, uint64, error) {
	return f.last(ctx, subject)
}

func (f historyFunc) Append(_ context.Context, subject string, data []byte, _ string, _ uint64) (uint64, bool, error) {
	return 1, true, f.nc.Publish(subject, data)
}
