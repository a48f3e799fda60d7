package progress

import (
	"time"

	"github.com/exportd/exportd/api"
)

// queue is one export's events on their way to NATS, oldest first,
// with the export's sequence counter and rate limit. The Publisher's mutex
// guards it.
type queue struct {
	subject string
	items   []api.Event // items[head:] are queued
	head    int
	active  bool // in Publisher.active

	// seq is the last seq sent; gap is how many events were lost since,
	// so that the next one sent shows the hole.
	seq, gap int64
	// pos is the position in the history of the export's last event
	// there, as far as this Publisher knows (0: none): its next event is
	// stored only if no other was since.
	pos uint64
	// known says seq is the export's: the Publisher has no history, or
	// the history answered (or failed to). Until then the queue's events
	// wait; looking says the lookup is in flight.
	known, looking bool
	// nextProcessing is when the next export-processing event may go.
	nextProcessing time.Time
	// last is when an event was last taken, for forgetting idle exports.
	last time.Time
	// sent is the last event taken, seq included: what Publisher.Last
	// answers.
	sent    api.Event
	hasSent bool
}

// shed counts what push shed to stay within the limit.
type shed struct {
	processing int // export-processing events: as if coalesced
	other      int // any other kind: lost
}

func (q *queue) len() int { return len(q.items) - q.head }

func (q *queue) front() api.Event { return q.items[q.head] }

func (q *queue) pop() {
	q.items[q.head] = api.Event{} // let go of what it points to
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
}

func (q *queue) reset() {
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}

// push queues ev. An export-processing event replaces a queued one at the
// tail (it has newer counts and nothing came between them); then push
// reports appended false. A queue at limit first sheds a quarter of it.
func (q *queue) push(ev api.Event, limit int) (appended bool, shed shed) {
	if ev.Event == api.EventProcessing && q.len() > 0 && q.items[len(q.items)-1].Event == api.EventProcessing {
		q.items[len(q.items)-1] = ev
		return false, shed
	}
	if q.len() >= limit {
		shed = q.shed(limit - limit/4)
	}
	if len(q.items) == cap(q.items) && q.head >= len(q.items)/2 {
		// Reuse the popped front instead of growing: amortized O(1), as
		// at least half the slice moves only after as many pops.
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, ev)
	return true, shed
}

// shed removes events until target are left: the oldest export-processing
// events first, keeping the newest one, then the oldest events of any
// kind, which leave a gap in seq.
func (q *queue) shed(target int) shed {
	var s shed
	live := q.items[q.head:]
	excess := len(live) - target
	if excess <= 0 {
		return s
	}
	newest := -1 // the newest export-processing event stays
	for i := len(live) - 1; i >= 0; i-- {
		if live[i].Event == api.EventProcessing {
			newest = i
			break
		}
	}
	kept := live[:0]
	for i, ev := range live {
		if excess > 0 && ev.Event == api.EventProcessing && i != newest {
			excess--
			s.processing++
			continue
		}
		kept = append(kept, ev)
	}
	if excess > 0 {
		kept = kept[excess:]
		s.other = excess
		q.gap += int64(excess)
	}
	n := copy(q.items, kept)
	clear(q.items[n:])
	q.items, q.head = q.items[:n], 0
	return s
}
