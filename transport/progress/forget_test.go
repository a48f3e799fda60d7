package progress

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// An export that went to another node and came back: the node that
// published its first events forgets its own count when it takes the
// export again, and goes on after the other node's events.
func TestPublisherForget(t *testing.T) {
	c := natstest.Cluster(t, 1)
	h1, _ := openHistory(t, c, 0, 1)
	h2, _ := openHistory(t, c, 0, 1)
	a := "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	on := subscribe(t, c.Connect(t, 0), api.ProgressSubject("", a))
	p1 := NewPublisher(c.Connect(t, 0), "", nil, WithHistory(h1, cluster.ErrNoEvent))
	p2 := NewPublisher(c.Connect(t, 0), "", nil, WithHistory(h2, cluster.ErrNoEvent))
	defer closeStats(t, p1)
	defer closeStats(t, p2)
	isQueued := func(ev api.Event) bool { return ev.Event == api.EventQueued }
	isCompleted := func(ev api.Event) bool { return ev.Event == api.EventCompleted }

	// p1 accepts it (seq 1); p2 runs it (seq 2 to 5).
	p1.Publish(api.Event{Event: api.EventQueued, ExportID: a})
	checkSeq(t, collect(t, on, 10*time.Second, isQueued), 1)
	waitStored(t, h2, a, 1)
	for _, ev := range run(a, 2)[1:] {
		p2.Publish(ev)
	}
	got := collect(t, on, 10*time.Second, isCompleted)
	checkSeq(t, got, 2)
	last := got[len(got)-1].Seq
	waitStored(t, h1, a, last)

	// p1 resumes it: without Forget it would say seq 2.
	p1.Forget(a)
	p1.Publish(api.Event{Event: api.EventResumed, ExportID: a})
	p1.Publish(api.Event{Event: api.EventCompleted, ExportID: a})
	checkSeq(t, collect(t, on, 10*time.Second, isCompleted), last+1)
}

// lateHistory is h, except that its first answer to LastEvent comes late:
// as when two nodes look an export up at once, and both hear of no event.
type lateHistory struct {
	History
	late  time.Duration
	asked atomic.Bool
}

func (l *lateHistory) LastEvent(ctx context.Context, subject string) ([]byte, uint64, error) {
	data, pos, err := l.History.LastEvent(ctx, subject)
	if !l.asked.Swap(true) {
		time.Sleep(l.late)
	}
	return data, pos, err
}

// Two nodes publish events of one export at the same moment (one accepts
// it, the other runs it), each having heard of no event: the stream takes
// one's first event, the other's numbers its events after it, and a
// subscriber sees each seq once, in order, across both.
func TestPublisherConcurrentNodes(t *testing.T) {
	c := natstest.Cluster(t, 3)
	a := "cccccccccccccccccccccccccc"
	on := subscribe(t, c.Connect(t, 2), api.ProgressSubject("", a))
	var histories [2]*lateHistory
	var pubs [2]*Publisher
	for i := range 2 {
		h, _ := openHistory(t, c, i, 3)
		histories[i] = &lateHistory{History: h, late: 300 * time.Millisecond}
		pubs[i] = NewPublisher(c.Connect(t, i), "", nil, WithHistory(histories[i], cluster.ErrNoEvent))
	}
	pubs[0].Publish(api.Event{Event: api.EventQueued, ExportID: a})
	for _, ev := range run(a, 3)[1:] {
		pubs[1].Publish(ev)
	}
	want := 1 + len(run(a, 3)[1:])
	var got []api.Event
	for len(got) < want {
		got = append(got, collect(t, on, 10*time.Second, func(api.Event) bool { return true })...)
	}
	checkSeq(t, got, 1)
	for i, p := range pubs {
		if st := closeStats(t, p); st.Lost != 0 || st.Sent != st.Published {
			t.Errorf("publisher %d: %+v, want every event sent", i, st)
		}
	}
	nothingMore(t, c.Connect(t, 2), on)
	// Each Publisher's Last is the seq it last sent, renumbered or not.
	if ev, ok := pubs[1].Last(a); !ok || ev.Seq < 2 {
		t.Errorf("Last of the runner: %+v, %v", ev, ok)
	}
}
