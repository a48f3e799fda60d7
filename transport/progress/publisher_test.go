package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/nats-io/nats.go"
)

// subscribe subscribes nc to subject and returns the events that
// arrive, in order.
func subscribe(tb testing.TB, nc *nats.Conn, subject string) <-chan api.Event {
	tb.Helper()
	ch := make(chan api.Event, 1<<18)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var ev api.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			tb.Errorf("event on %s: %s: %v", m.Subject, m.Data, err)
			return
		}
		if want := "exports.progress." + ev.ExportID; m.Subject != want {
			tb.Errorf("event of %s on %s", ev.ExportID, m.Subject)
		}
		select {
		case ch <- ev:
		default:
			tb.Errorf("test subscriber overflows")
		}
	})
	if err != nil {
		tb.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	return ch
}

// collect receives events until last says it is the last one.
func collect(tb testing.TB, ch <-chan api.Event, timeout time.Duration, last func(api.Event) bool) []api.Event {
	tb.Helper()
	var got []api.Event
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-ch:
			got = append(got, ev)
			if last(ev) {
				return got
			}
		case <-deadline:
			tb.Fatalf("after %v: %d events, the last one not among them (last received: %+v)", timeout, len(got), newest(got))
			return nil
		}
	}
}

// newest is the last of evs, or nil.
func newest(evs []api.Event) any {
	if len(evs) == 0 {
		return nil
	}
	return evs[len(evs)-1]
}

// nothingMore checks that nothing else arrives once a round trip
// through the server is done.
func nothingMore(tb testing.TB, nc *nats.Conn, ch <-chan api.Event) {
	tb.Helper()
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	select {
	case ev := <-ch:
		tb.Errorf("unexpected event %+v", ev)
	default:
	}
}

// checkSeq checks that seq goes up by one from first.
func checkSeq(tb testing.TB, evs []api.Event, first int64) {
	tb.Helper()
	for i, ev := range evs {
		if ev.Seq != first+int64(i) {
			tb.Fatalf("event %d (%s) has seq %d, want %d", i, ev.Event, ev.Seq, first+int64(i))
		}
	}
}

func closeStats(tb testing.TB, p *Publisher) PublisherStats {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	st := p.Stats()
	if st.Published != st.Sent+st.Coalesced+st.Lost {
		tb.Errorf("stats %+v do not add up", st)
	}
	return st
}

// run is the events of one export's life.
func run(id string, chunks int) []api.Event {
	evs := []api.Event{{Event: api.EventQueued, ExportID: id}, {Event: api.EventFetching, ExportID: id}}
	for i := range chunks {
		evs = append(evs, api.Event{Event: api.EventFileGeneration, ExportID: id, Records: int64(i+1) * 10, Chunks: i + 1,
			Chunk: &api.Chunk{Index: i, Name: fmt.Sprintf("chunk-%06d.ndjson.zst", i), Records: 10}})
	}
	return append(evs, api.Event{Event: api.EventFinalizing, ExportID: id, Records: int64(chunks) * 10},
		api.Event{Event: api.EventCompleted, ExportID: id, Records: int64(chunks) * 10})
}

func TestPublisherOrderAndSeq(t *testing.T) {
	srv := natstest.Server(t)
	sub := natstest.Conn(t, srv)
	a, b := "aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb"
	onA := subscribe(t, sub, "exports.progress."+a)
	all := subscribe(t, sub, "exports.progress.>")
	p := NewPublisher(natstest.Conn(t, srv), "", nil)

	runA, runB := run(a, 5), run(b, 3)
	for i := range max(len(runA), len(runB)) {
		for _, run := range [][]api.Event{runA, runB} {
			if i < len(run) {
				ev := run[i]
				ev.Seq = 99 // the caller's seq does not count
				p.Publish(ev)
			}
		}
	}

	isLast := func(id string) func(api.Event) bool {
		return func(ev api.Event) bool { return ev.ExportID == id && ev.Event == api.EventCompleted }
	}
	got := collect(t, onA, 10*time.Second, isLast(a))
	if len(got) != len(runA) {
		t.Fatalf("got %d events of %s, want %d", len(got), a, len(runA))
	}
	checkSeq(t, got, 1)
	for i, ev := range got {
		want := runA[i]
		if ev.Event != want.Event || ev.ExportID != a || ev.Records != want.Records || ev.Time.IsZero() {
			t.Errorf("event %d = %+v, want %s with %d records and a time", i, ev, want.Event, want.Records)
		}
		if (ev.Chunk == nil) != (want.Chunk == nil) || ev.Chunk != nil && ev.Chunk.Name != want.Chunk.Name {
			t.Errorf("event %d chunk = %+v, want %+v", i, ev.Chunk, want.Chunk)
		}
	}

	// The wildcard subscriber sees both exports, each in its order.
	var seenA, seenB []api.Event
	for len(seenA) < len(runA) || len(seenB) < len(runB) {
		select {
		case ev := <-all:
			if ev.ExportID == a {
				seenA = append(seenA, ev)
			} else {
				seenB = append(seenB, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("wildcard subscriber got %d and %d events", len(seenA), len(seenB))
		}
	}
	checkSeq(t, seenA, 1)
	checkSeq(t, seenB, 1)
	for i, ev := range seenB {
		if ev.Event != runB[i].Event {
			t.Errorf("%s event %d = %s, want %s", b, i, ev.Event, runB[i].Event)
		}
	}

	// The sequence goes on with the export: a resume continues it.
	p.Publish(api.Event{Event: api.EventResumed, ExportID: a})
	for _, ch := range []<-chan api.Event{onA, all} {
		got = collect(t, ch, 10*time.Second, func(api.Event) bool { return true })
		if got[0].Seq != int64(len(runA))+1 {
			t.Errorf("export-resumed has seq %d, want %d", got[0].Seq, len(runA)+1)
		}
	}
	st := closeStats(t, p)
	if want := int64(len(runA) + len(runB) + 1); st.Sent != want || st.Lost != 0 || st.Coalesced != 0 {
		t.Errorf("stats = %+v, want %d sent", st, want)
	}
	nothingMore(t, sub, all)
}

func TestPublisherRateLimitsProcessing(t *testing.T) {
	srv := natstest.Server(t)
	sub := natstest.Conn(t, srv)
	ch := subscribe(t, sub, "exports.progress.>")
	const id = "cccccccccccccccccccccccccc"

	t.Run("tight loop", func(t *testing.T) {
		p := NewPublisher(natstest.Conn(t, srv), "", nil)
		const n = 10_000
		for i := int64(1); i <= n; i++ {
			p.Publish(api.Event{Event: api.EventProcessing, ExportID: id, Records: i})
			if i%1000 == 500 {
				p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: id, Records: i})
			}
		}
		// The newest processing event arrives when its slot comes, without
		// waiting for Close.
		got := collect(t, ch, 10*time.Second, func(ev api.Event) bool {
			return ev.Event == api.EventProcessing && ev.Records == n
		})
		checkSeq(t, got, 1)
		var processing, files []api.Event
		for i, ev := range got {
			if i > 0 && ev.Records < got[i-1].Records {
				t.Errorf("records go back: %d after %d", ev.Records, got[i-1].Records)
			}
			if ev.Event == api.EventProcessing {
				processing = append(processing, ev)
			} else {
				files = append(files, ev)
			}
		}
		if len(processing) > 30 {
			t.Errorf("%d of %d processing events reached NATS, want a few", len(processing), n)
		}
		if len(files) != 10 {
			t.Fatalf("%d file-generation events arrived, want all 10", len(files))
		}
		for i, ev := range files {
			if want := int64(i*1000 + 500); ev.Event != api.EventFileGeneration || ev.Records != want {
				t.Errorf("file event %d = %s with %d records, want %d", i, ev.Event, ev.Records, want)
			}
		}
		st := closeStats(t, p)
		if st.Lost != 0 || st.Sent != int64(len(got)) || st.Coalesced != st.Published-st.Sent {
			t.Errorf("stats = %+v, %d received", st, len(got))
		}
		nothingMore(t, sub, ch)
	})

	t.Run("over time", func(t *testing.T) {
		const interval = 100 * time.Millisecond
		p := NewPublisher(natstest.Conn(t, srv), "", nil, WithProcessingInterval(interval))
		begin := time.Now()
		var n int64
		for time.Since(begin) < 10*interval {
			n++
			p.Publish(api.Event{Event: api.EventProcessing, ExportID: id, Records: n})
		}
		got := collect(t, ch, 10*time.Second, func(ev api.Event) bool { return ev.Records == n })
		elapsed := time.Since(begin)
		if limit := int(elapsed/interval) + 2; len(got) > limit {
			t.Errorf("%d processing events in %v, want at most %d", len(got), elapsed, limit)
		}
		if len(got) < 3 {
			t.Errorf("%d processing events in %v: progress should show while it runs", len(got), elapsed)
		}
		closeStats(t, p)
	})
}

// Publish never blocks while the server is away, and what was queued goes
// out when it is back: through nats.go's reconnect buffer, or through the
// Publisher's own queue when that buffer is off.
func TestPublisherOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []nats.Option
	}{
		{"reconnect buffer", nil},
		{"no reconnect buffer", []nats.Option{nats.ReconnectBufSize(-1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Server(t)
			port := natstest.Port(t, srv)
			nc, down, up := reconnectingConn(t, srv, tc.opts...)
			// The subscriber shares the connection: nats.go sends its
			// subscriptions again before what it buffered.
			ch := subscribe(t, nc, "exports.progress.>")
			p := NewPublisher(nc, "", nil)
			const id = "dddddddddddddddddddddddddd"

			p.Publish(api.Event{Event: api.EventQueued, ExportID: id})
			collect(t, ch, 10*time.Second, func(api.Event) bool { return true })

			srv.Shutdown()
			wait(t, down, "disconnect")

			const n = 100_000
			done := make(chan time.Duration, 1)
			go func() {
				begin := time.Now()
				for i := int64(1); i <= n; i++ {
					kind := api.EventProcessing
					if i%100 == 0 {
						kind = api.EventFileGeneration
					}
					p.Publish(api.Event{Event: kind, ExportID: id, Records: i})
				}
				p.Publish(api.Event{Event: api.EventCompleted, ExportID: id, Records: n})
				done <- time.Since(begin)
			}()
			select {
			case took := <-done:
				t.Logf("%d events published in %v while the server was down", n+1, took)
			case <-time.After(5 * time.Second):
				t.Fatalf("Publish blocked: %d events not published within 5s while the server was down", n)
			}

			natstest.ServerOn(t, port)
			wait(t, up, "reconnect")
			got := collect(t, ch, 15*time.Second, func(ev api.Event) bool { return ev.Event == api.EventCompleted })
			checkSeq(t, got, 2)
			var files, processing int
			for _, ev := range got {
				switch ev.Event {
				case api.EventFileGeneration:
					files++
					if want := int64(files * 100); ev.Records != want {
						t.Fatalf("file event %d has %d records, want %d", files, ev.Records, want)
					}
				case api.EventProcessing:
					processing++
				}
			}
			if files != n/100 {
				t.Errorf("%d file-generation events after the outage, want %d", files, n/100)
			}
			if processing > 5 {
				t.Errorf("%d stale processing events after the outage, want the newest at most", processing)
			}
			if st := closeStats(t, p); st.Lost != 0 {
				t.Errorf("stats = %+v, want nothing lost", st)
			}
		})
	}
}

// Past the queue limit, processing events go first, then the oldest
// others, which leave a gap in seq; the newest events survive.
func TestPublisherQueueLimit(t *testing.T) {
	srv := natstest.Server(t)
	port := natstest.Port(t, srv)
	nc, down, up := reconnectingConn(t, srv, nats.ReconnectBufSize(-1))
	ch := subscribe(t, nc, "exports.progress.>")
	p := NewPublisher(nc, "", nil, WithProgressQueueLimit(100))
	const id = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	p.Publish(api.Event{Event: api.EventQueued, ExportID: id})
	collect(t, ch, 10*time.Second, func(api.Event) bool { return true })
	srv.Shutdown()
	wait(t, down, "disconnect")

	const files = 1000
	for i := int64(1); i <= files; i++ {
		p.Publish(api.Event{Event: api.EventProcessing, ExportID: id, Records: i})
		p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: id, Records: i})
	}
	p.Publish(api.Event{Event: api.EventCompleted, ExportID: id, Records: files})

	natstest.ServerOn(t, port)
	wait(t, up, "reconnect")
	got := collect(t, ch, 15*time.Second, func(ev api.Event) bool { return ev.Event == api.EventCompleted })
	// What the sender had taken before NATS refused it comes first, then
	// the queue as the limit left it.
	if len(got) > 100+takeMax {
		t.Errorf("%d events arrived, want at most the limit and one batch", len(got))
	}
	var gap int64
	prev := int64(1)
	for i, ev := range got {
		if ev.Seq <= prev {
			t.Fatalf("event %d: seq %d after %d", i, ev.Seq, prev)
		}
		gap += ev.Seq - prev - 1
		prev = ev.Seq
		if i < len(got)-1 && ev.Event != api.EventFileGeneration {
			t.Fatalf("event %d is %s: processing events are shed first", i, ev.Event)
		}
	}
	if last := got[len(got)-2]; last.Records != files {
		t.Errorf("newest file event has %d records, want %d", last.Records, files)
	}
	st := closeStats(t, p)
	if gap == 0 || st.Lost != gap {
		t.Errorf("lost %d, gaps in seq add up to %d; want the same, not 0", st.Lost, gap)
	}
	if kept := int64(len(got)) + st.Lost + 1; kept-1 != files+1 {
		t.Errorf("%d received + %d lost, want %d non-processing events", len(got), st.Lost, files+1)
	}
}

func TestPublisherClose(t *testing.T) {
	t.Run("publish after close", func(t *testing.T) {
		srv := natstest.Server(t)
		p := NewPublisher(natstest.Conn(t, srv), "", nil)
		closeStats(t, p)
		p.Publish(api.Event{Event: api.EventQueued, ExportID: "x"})
		if st := p.Stats(); st.Lost != 1 || st.Sent != 0 {
			t.Errorf("stats = %+v", st)
		}
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("closed connection", func(t *testing.T) {
		srv := natstest.Server(t)
		nc := natstest.Conn(t, srv)
		p := NewPublisher(nc, "", nil)
		nc.Close()
		for range 10 {
			p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: "x"})
		}
		err := p.Close(context.Background())
		if !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("Close = %v, want connection closed", err)
		}
		if st := p.Stats(); st.Lost != 10 {
			t.Errorf("stats = %+v, want 10 lost", st)
		}
	})
	t.Run("gives up with its context", func(t *testing.T) {
		srv := natstest.Server(t)
		nc, down, _ := reconnectingConn(t, srv, nats.ReconnectBufSize(-1))
		p := NewPublisher(nc, "", nil)
		srv.Shutdown()
		wait(t, down, "disconnect")
		for range 10 {
			p.Publish(api.Event{Event: api.EventFileGeneration, ExportID: "x"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		closed := make(chan error, 1)
		go func() { closed <- p.Close(ctx) }()
		select {
		case err := <-closed:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "10 events not sent") {
				t.Errorf("Close = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not give up when its context ended")
		}
		if st := p.Stats(); st.Lost != 10 || st.Published != 10 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("bad export id", func(t *testing.T) {
		srv := natstest.Server(t)
		nc := natstest.Conn(t, srv)
		ch := subscribe(t, nc, ">")
		p := NewPublisher(nc, "", nil)
		for _, id := range []string{"", "a.b", "a*", "a>", "a b"} {
			p.Publish(api.Event{Event: api.EventQueued, ExportID: id})
		}
		if st := closeStats(t, p); st.Lost != 5 {
			t.Errorf("stats = %+v, want 5 lost", st)
		}
		nothingMore(t, nc, ch)
	})
}

// reconnectingConn connects to s with endless quick reconnects and
// reports disconnects and reconnects.
func reconnectingConn(tb testing.TB, s interface{ ClientURL() string }, opts ...nats.Option) (nc *nats.Conn, down, up <-chan struct{}) {
	tb.Helper()
	d, u := make(chan struct{}, 16), make(chan struct{}, 16)
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(20 * time.Millisecond),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { d <- struct{}{} }),
		nats.ReconnectHandler(func(*nats.Conn) { u <- struct{}{} }),
	}, opts...)
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		tb.Fatalf("nats connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return nc, d, u
}

func wait(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("no %s within 10s", what)
	}
}

func TestQueueShed(t *testing.T) {
	const P, F = api.EventProcessing, api.EventFileGeneration
	for _, tc := range []struct {
		name      string
		push      []string
		limit     int
		want      []string // what stays queued, oldest first (records: push index)
		wantShed  shed
		wantGap   int64
		coalesced int
	}{
		{name: "processing coalesces at the tail", push: []string{P, P, P, F, P, P}, limit: 100,
			want: []string{P + "3", F + "4", P + "6"}, coalesced: 3},
		{name: "processing goes first", push: []string{F, P, F, P, F, P, F, P, F}, limit: 8,
			want: []string{F + "1", F + "3", F + "5", P + "6", F + "7", P + "8", F + "9"}, wantShed: shed{processing: 2}},
		{name: "then the oldest of the rest", push: []string{F, F, F, F, F, F, F, F, F}, limit: 8,
			want: []string{F + "3", F + "4", F + "5", F + "6", F + "7", F + "8", F + "9"}, wantShed: shed{other: 2}, wantGap: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q queue
			var shed shed
			coalesced := 0
			for i, kind := range tc.push {
				appended, s := q.push(api.Event{Event: kind, Records: int64(i + 1)}, tc.limit)
				if !appended {
					coalesced++
				}
				shed.processing += s.processing
				shed.other += s.other
			}
			var got []string
			for q.len() > 0 {
				ev := q.front()
				got = append(got, fmt.Sprint(ev.Event, ev.Records))
				q.pop()
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || shed != tc.wantShed || q.gap != tc.wantGap || coalesced != tc.coalesced {
				t.Errorf("queued %v, shed %+v, gap %d, coalesced %d\nwant   %v, shed %+v, gap %d, coalesced %d",
					got, shed, q.gap, coalesced, tc.want, tc.wantShed, tc.wantGap, tc.coalesced)
			}
		})
	}

	// A queue that is never empty reuses its slice instead of growing.
	var q queue
	for i := range 100_000 {
		q.push(api.Event{Event: api.EventFileGeneration, Records: int64(i)}, 1000)
		if q.len() > 10 {
			q.pop()
		}
	}
	if cap(q.items) > 64 {
		t.Errorf("a queue of 10 has a slice of %d", cap(q.items))
	}
}
