package httpapi

import (
	"cmp"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/exportd/exportd/api"
)

// EventLog is what the event routes replay and follow: the progress
// events as subscribers of <prefix>.progress.> see them. MemoryLog keeps
// them in memory (in a cluster, filled first from the progress stream:
// Hold, Fill); a durable log (a JetStream stream on those subjects, whose
// stream sequence is a Pos) can take its place.
type EventLog interface {
	// Follow starts a Feed of export id's events, or of every export's
	// when id is empty, after position after: for one export, after its
	// event whose Seq is after (0: from its first); for every export,
	// after the event whose Pos is after. FromNow asks for no past. The
	// caller calls the Feed's Stop when done with it.
	Follow(id string, after uint64) (*Feed, error)
}

// FromNow, as Follow's after, starts a Feed without Past.
const FromNow = math.MaxUint64

// Logged is an event with its place in the log.
type Logged struct {
	// Pos increases with each event the log takes, across exports, and
	// never repeats within one log.
	Pos   uint64
	Event api.Event
}

// Feed is a stream of logged events: Past, then Live, each event once and
// in order.
type Feed struct {
	// Past holds every logged event after Follow's after, oldest first,
	// when Reached; it is empty otherwise.
	Past []Logged
	// Reached reports whether the log reaches back to after: no event
	// between after and the first of Past (or Live) is missing. When it is
	// false, a stream starts with a snapshot of the exports' state instead.
	Reached bool
	// Head is where the log stood when the Feed began, what a snapshot of
	// that moment stands for: for one export the Seq of its newest event
	// (0: none), for every export the Pos of the newest event (the log's
	// start: none).
	Head uint64
	// HeadFinal reports whether the export's event at Head is a final one
	// (completed, failed, cancelled); one export's feeds only.
	HeadFinal bool
	// Live carries the events logged after Head, in order. The log never
	// waits for a follower: one that falls behind by more than the channel
	// holds has it closed, and so does Stop. A stream whose Live closes
	// ends, and its client resumes from the last event it got.
	Live <-chan Logged
	// Stop ends the Feed and releases what it holds.
	Stop func()
}

// The bounds of a MemoryLog when NewMemoryLog is given zero: at 4
// export-processing events a second (the Publisher's limit), 1,000 events
// are four minutes of a running export, enough to ride out any reconnect;
// 100 exports' worth is at most a few tens of MB.
const (
	DefaultLogEvents  = 1000
	DefaultLogExports = 100
)

// liveBuffer is how many events a follower may be behind before it is
// dropped: a few seconds of events of every export at once.
const liveBuffer = 256

// MemoryLog is an EventLog in memory, bounded: the newest events of each
// export (a quarter is shed when full) for the exports with the most
// recent events. Pos starts at the microseconds since 1970 when the log
// was made, so the positions of a restarted daemon are above those of the
// one before (unless that one logged more than a million events a
// second): a client's Last-Event-ID from before is then recognised as out
// of reach, not mistaken for a later event. When an export's seq starts
// again (the Publisher does after a restart or an idle hour, and so does
// another daemon of a cluster), its earlier events are dropped. It is safe
// for concurrent use.
type MemoryLog struct {
	perExport, exports int

	mu        sync.Mutex
	pos       uint64 // of the newest event
	floor     uint64 // every event after floor is held
	logs      map[string]*exportLog
	followers map[*follower]struct{}
	// held are the events FollowNATS heard while Hold holds them, oldest
	// first; holding says it does.
	held    []api.Event
	holding bool
}

// holdMax bounds the events Hold keeps waiting; beyond it the oldest go.
const holdMax = 10_000

// exportLog is one export's events, oldest first, all of one run of seq.
type exportLog struct {
	events []Logged
}

type follower struct {
	id string // "" for every export
	ch chan Logged
}

// NewMemoryLog returns an empty log that keeps perExport events of each of
// the exports most recently heard of (zero: the defaults).
func NewMemoryLog(perExport, exports int) *MemoryLog {
	if perExport <= 0 {
		perExport = DefaultLogEvents
	}
	if exports <= 0 {
		exports = DefaultLogExports
	}
	start := uint64(time.Now().UnixMicro())
	return &MemoryLog{
		perExport: max(perExport, 4),
		exports:   exports,
		pos:       start,
		floor:     start,
		logs:      map[string]*exportLog{},
		followers: map[*follower]struct{}{},
	}
}

// Append logs ev and hands it to its followers. An event logged already
// (its seq, name and time) is not logged again.
func (l *MemoryLog) Append(ev api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appendLocked(ev)
}

// appendLocked is Append, l.mu held.
func (l *MemoryLog) appendLocked(ev api.Event) {
	x := l.logs[ev.ExportID]
	if x != nil && x.holds(ev) {
		return // heard twice: from the stream before, and from NATS
	}
	l.pos++
	lg := Logged{Pos: l.pos, Event: ev}
	if x == nil {
		if len(l.logs) >= l.exports {
			l.evictOldest()
		}
		x = &exportLog{}
		l.logs[ev.ExportID] = x
	}
	if n := len(x.events); n > 0 && ev.Seq <= x.events[n-1].Event.Seq {
		l.drop(x, n) // a new run of seq
	}
	if len(x.events) >= l.perExport {
		l.drop(x, l.perExport/4)
	}
	x.events = append(x.events, lg)
	for f := range l.followers {
		if f.id != "" && f.id != ev.ExportID {
			continue
		}
		select {
		case f.ch <- lg:
		default: // behind: it resumes from the log
			delete(l.followers, f)
			close(f.ch)
		}
	}
}

// holds reports whether x logged ev already: an event of its seq, name
// and time.
func (x *exportLog) holds(ev api.Event) bool {
	i, found := slices.BinarySearchFunc(x.events, ev.Seq, func(e Logged, seq int64) int { return cmp.Compare(e.Event.Seq, seq) })
	return found && x.events[i].Event.Event == ev.Event && x.events[i].Event.Time.Equal(ev.Time)
}

// drop sheds x's n oldest events.
func (l *MemoryLog) drop(x *exportLog, n int) {
	l.floor = max(l.floor, x.events[n-1].Pos)
	rest := copy(x.events, x.events[n:])
	clear(x.events[rest:])
	x.events = x.events[:rest]
}

// evictOldest forgets the export whose newest event is the oldest.
func (l *MemoryLog) evictOldest() {
	var oldest string
	var at uint64 = math.MaxUint64
	for id, x := range l.logs {
		if p := x.events[len(x.events)-1].Pos; p < at {
			oldest, at = id, p
		}
	}
	l.floor = max(l.floor, at)
	delete(l.logs, oldest)
}

// Follow implements EventLog.
func (l *MemoryLog) Follow(id string, after uint64) (*Feed, error) {
	f := &follower{id: id, ch: make(chan Logged, liveBuffer)}
	feed := &Feed{Live: f.ch}
	l.mu.Lock()
	if id == "" {
		feed.Head = l.pos
		if after != FromNow && after >= l.floor && after <= l.pos {
			feed.Reached = true
			for _, x := range l.logs {
				i, _ := slices.BinarySearchFunc(x.events, after+1, func(e Logged, p uint64) int { return cmpUint(e.Pos, p) })
				feed.Past = append(feed.Past, x.events[i:]...)
			}
			slices.SortFunc(feed.Past, func(a, b Logged) int { return cmpUint(a.Pos, b.Pos) })
		}
	} else if x := l.logs[id]; x != nil {
		first, last := x.events[0].Event, x.events[len(x.events)-1].Event
		feed.Head, feed.HeadFinal = uint64(max(last.Seq, 0)), finalEvent(last.Event)
		if after != FromNow && after+1 >= uint64(max(first.Seq, 0)) && after <= feed.Head {
			feed.Reached = true
			for _, e := range x.events {
				if uint64(max(e.Event.Seq, 0)) > after {
					feed.Past = append(feed.Past, e)
				}
			}
		}
	}
	l.followers[f] = struct{}{}
	l.mu.Unlock()
	feed.Stop = func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if _, ok := l.followers[f]; ok {
			delete(l.followers, f)
			close(f.ch)
		}
	}
	return feed, nil
}

// Followers is how many Feeds are open.
func (l *MemoryLog) Followers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.followers)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// finalEvent reports whether an event of this name ends its export's
// run: completed, failed or cancelled.
func finalEvent(name string) bool {
	return name == api.EventCompleted || name == api.EventFailed || name == api.EventCancelled
}

// eventName is what an event's name may be: it becomes an SSE event type,
// one line.
var eventName = regexp.MustCompile(`^[a-z][a-z-]{0,63}$`)

// FollowNATS subscribes l to <prefix>.progress.> on nc, so that it logs
// what every NATS subscriber sees, until the subscription is
// unsubscribed. A message that is not an event of the export its subject
// names is ignored. An empty prefix means api.DefaultPrefix.
func (l *MemoryLog) FollowNATS(nc *nats.Conn, prefix string) (*nats.Subscription, error) {
	base := api.ProgressSubject(prefix, "")
	return nc.Subscribe(base+">", func(m *nats.Msg) {
		ev, ok := eventOf(base, m.Subject, m.Data)
		if !ok {
			return
		}
		l.mu.Lock()
		if l.holding {
			if len(l.held) == holdMax {
				l.held = slices.Delete(l.held, 0, holdMax/4)
			}
			l.held = append(l.held, ev)
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		l.Append(ev)
	})
}

// Fill logs data, an event published on subject (an export's
// <prefix>.progress.<id>) before this log was made, as a cluster's
// progress stream keeps it; what is not an event of that export is
// ignored. Called between Hold and its release, oldest first, it puts
// the past before what FollowNATS hears meanwhile.
func (l *MemoryLog) Fill(prefix, subject string, data []byte) {
	if ev, ok := eventOf(api.ProgressSubject(prefix, ""), subject, data); ok {
		l.Append(ev)
	}
}

// Hold makes the events FollowNATS hears wait, in order, until release is
// called (once), so that Fill can log the past first. Released, the
// waiting events are logged, but for those Fill logged already.
func (l *MemoryLog) Hold() (release func()) {
	l.mu.Lock()
	l.holding = true
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			held := l.held
			l.held, l.holding = nil, false
			// Appended under the lock's protection of order: no event
			// FollowNATS hears now can pass those held.
			for _, ev := range held {
				l.appendLocked(ev)
			}
			l.mu.Unlock()
		})
	}
}

// eventOf decodes data, heard on subject under base (<prefix>.progress.),
// as an event of the export the subject names.
func eventOf(base, subject string, data []byte) (api.Event, bool) {
	var ev api.Event
	if json.Unmarshal(data, &ev) != nil || strings.TrimPrefix(subject, base) != ev.ExportID ||
		!api.ValidSubjectToken(ev.ExportID) || !eventName.MatchString(ev.Event) {
		return api.Event{}, false
	}
	return ev, true
}
