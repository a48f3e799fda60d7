package progress

import (
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
