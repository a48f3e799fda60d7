package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/nats-io/nats.go"
)

// Defaults of the Publisher. The processing interval makes "at most a few
// export-processing events per second per export" four, the runner's own
// tick. The queue limit keeps the events of thousands of chunks per export
// (a few MB) while NATS is away.
const (
	DefaultProcessingInterval = 250 * time.Millisecond
	DefaultProgressQueueLimit = 10_000
)

const (
	// takeMax bounds the events the sender takes per lock, so that
	// Publish never waits behind a long critical section.
	takeMax = 256
	// retryMin and retryMax bound the wait before events
	// that NATS refused (reconnect buffer full) are offered again, and how
	// often a disconnected connection is looked at.
	retryMin = 20 * time.Millisecond
	retryMax = 500 * time.Millisecond
	// idle is how long an export's sequence counter outlives its
	// last event; after that the export is forgotten and a later event
	// starts again at seq 1.
	idle = time.Hour
	// flushTimeout bounds Close's final NATS flush when its
	// context has no deadline (nats.go requires one).
	flushTimeout = 10 * time.Second
)

// errLater means NATS refused an event for now (reconnect buffer
// full); it is offered again later.
var errLater = errors.New("progress: nats cannot take more now")

// Publisher publishes progress events on <prefix>.progress.<exportId>.
//
// Guarantees:
//
//   - Publish never blocks its caller, whatever NATS does: it is O(1)
//     (amortized) and allocation-free, takes one short lock, appends to (or
//     overwrites the tail of) the export's queue and returns. Encoding and publishing happen on the Publisher's own
//     goroutine.
//   - The events of one export reach NATS in the order they were
//     published. The Publisher assigns Seq (the caller's value is ignored)
//     when it hands an event to NATS: one more than the export's last, so
//     a subscriber sees seq increase by one with each event it gets. A gap
//     means events were lost past the queue limit (see below). The counter
//     is kept until the export has had no event for an hour.
//   - With a History (WithHistory), an export the Publisher has no counter
//     for (since it was made, or for an hour) continues from the seq of
//     the last event the history stored, whichever node sent it: seq keeps
//     increasing across daemon restarts and takeovers. The export's events
//     wait in its queue, in order, until the history answers; other
//     exports' events do not wait. When the history has no event of the
//     export (none kept, or older than it keeps), seq starts at 1; when it
//     fails, or does not answer within DefaultHistoryTimeout, a warning is
//     logged and seq starts at 1 too. Each event goes through the history
//     (History.Append), which publishes it once stored: a subscriber never
//     sees a seq that a node taking the export over could not find. An
//     event is stored only after the export's last event this Publisher
//     knows of; when another Publisher stored one since, this one's events
//     of the export are numbered after it, so two nodes publishing for one
//     export at once never send the same seq. Until
//     the history takes an event, the Publisher's later events wait; when
//     it fails to within the history timeout, events are published
//     directly for a while, as without a history. Without a history, a
//     daemon restart, or an event after that hour, starts again at 1 (with
//     export-queued or export-resumed).
//   - export-processing events are rate limited to one per processing
//     interval per export (DefaultProcessingInterval). A queued one is
//     replaced by a newer one, and dropped when any later event of its
//     export is queued behind it before it goes, since that event carries
//     newer counts; the newest one is always sent, when its slot comes. No
//     other kind of event is coalesced or dropped, except past the queue
//     limit.
//   - While NATS is disconnected, events other than export-processing are
//     handed to the connection, which keeps them in its reconnect buffer
//     (nats.ReconnectBufSize); export-processing events wait in the queue
//     and coalesce, so a subscriber gets the newest one on reconnect, not a
//     backlog. When the reconnect buffer is full (or disabled), everything
//     waits in the queue and is offered again until the connection is back:
//     progress catches up on reconnect.
//   - Each export's queue holds at most the queue limit. Reaching it sheds
//     a quarter: the oldest export-processing events first (never the
//     newest one), then, if that is not enough, the oldest events of any
//     kind. Shed export-processing events count as
//     Coalesced; any other shed event counts as Lost and leaves a gap in
//     seq where it was. Memory is bounded by the limit times the exports
//     that have events queued.
//
// Events published after Close, and events still queued when the
// connection is closed for good or when Close's context ends, are Lost.
// The caller must not modify what an event points to (Chunk, Total,
// Percent) once it is published.
type Publisher struct {
	nc       *nats.Conn
	prefix   string
	log      *slog.Logger
	interval time.Duration
	limit    int
	idle     time.Duration

	history        History
	none           error         // the history's "no event stored"
	historyTimeout time.Duration // bounds each question to it
	// historyDownUntil is when Last may ask the history again after it
	// failed (unix nanoseconds).
	historyDownUntil atomic.Int64
	// lookupCtx ends the history lookups when the sender stops, which
	// waits for them (lookups).
	lookupCtx   context.Context
	stopLookups context.CancelFunc
	lookups     sync.WaitGroup
	// nonce makes the ids of this Publisher's events its own, so that the
	// history never takes one for another node's (or an earlier run's)
	// event of the same seq.
	nonce string
	// appendFailing says the history did not take the last event it was
	// offered: a warning was logged. Only the sender uses it.
	appendFailing bool

	mu      sync.Mutex
	exports map[string]*queue
	active  []*queue // the queues that hold events
	looking int      // history lookups in flight
	closing bool

	wake      chan struct{} // a queue grew; capacity 1
	closeCh   chan struct{} // closed by Close: send everything, then stop
	abort     chan struct{} // closed when Close gives up: stop now
	abortOnce sync.Once
	done      chan struct{} // closed when the sender returns

	published, sent, coalesced, lost atomic.Int64
	closedConn                       atomic.Bool
}

// PublisherStats counts a Publisher's events since it was made. Once Close
// returns, Published = Sent + Coalesced + Lost.
type PublisherStats struct {
	// Published is how many events were given to Publish.
	Published int64
	// Sent is how many the NATS connection accepted.
	Sent int64
	// Coalesced is how many export-processing events the rate limit left
	// out, as it means to.
	Coalesced int64
	// Lost is how many events were not sent for any other reason: past the
	// queue limit, published after Close, queued when the connection was
	// closed or when Close gave up, or not encodable.
	Lost int64
}

// PublisherOption changes a Publisher's defaults.
type PublisherOption func(*Publisher)

// WithProcessingInterval sets the least time between two export-processing
// events of one export on NATS. Zero or less sends every one that NATS
// takes (coalescing still happens while NATS is slow).
func WithProcessingInterval(d time.Duration) PublisherOption {
	return func(p *Publisher) { p.interval = max(d, 0) }
}

// WithProgressQueueLimit sets how many events one export may have queued
// before the oldest are shed (at least 4).
func WithProgressQueueLimit(n int) PublisherOption {
	return func(p *Publisher) { p.limit = max(n, 4) }
}

// NewPublisher returns a Publisher on nc and starts its sender goroutine,
// which Close stops. An empty prefix means api.DefaultPrefix; a nil logger
// discards.
func NewPublisher(nc *nats.Conn, prefix string, logger *slog.Logger, opts ...PublisherOption) *Publisher {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		nc:       nc,
		prefix:   prefix,
		log:      logger,
		interval: DefaultProcessingInterval,
		limit:    DefaultProgressQueueLimit,
		idle:     idle,
		exports:  make(map[string]*queue),
		wake:     make(chan struct{}, 1),
		closeCh:  make(chan struct{}),
		abort:    make(chan struct{}),
		done:     make(chan struct{}),

		historyTimeout: DefaultHistoryTimeout,
	}
	for _, opt := range opts {
		opt(p)
	}
	p.lookupCtx, p.stopLookups = context.WithCancel(context.Background())
	p.nonce = nats.NewInbox()[len(nats.InboxPrefix):]
	go p.run()
	return p
}

// Publish queues ev for its export and returns at once. A zero ev.Time is
// set to now; ev.Seq is assigned when the event is sent.
func (p *Publisher) Publish(ev api.Event) {
	p.published.Add(1)
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.lost.Add(1)
		return
	}
	q := p.exports[ev.ExportID]
	if q == nil {
		if !api.ValidSubjectToken(ev.ExportID) {
			p.mu.Unlock()
			p.lost.Add(1)
			p.log.Warn("progress event without a usable export id", "event", ev.Event, "export", ev.ExportID)
			return
		}
		q = &queue{subject: api.ProgressSubject(p.prefix, ev.ExportID), known: p.history == nil}
		p.exports[ev.ExportID] = q
	}
	appended, shed := q.push(ev, p.limit)
	if !q.active {
		q.active = true
		p.active = append(p.active, q)
	}
	p.mu.Unlock()

	if !appended {
		p.coalesced.Add(1)
		return // the sender knows this queue already
	}
	if shed.processing > 0 {
		p.coalesced.Add(int64(shed.processing))
	}
	if shed.other > 0 {
		p.lost.Add(int64(shed.other))
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Last returns the newest event of export id that was handed to NATS, with
// its seq, if the Publisher knows the export (it forgets one an hour after
// its last event, and knows nothing from before it was made). For an export
// it does not know, a Publisher with a History returns the history's last
// stored event, which another node (or this daemon before a restart) may
// have sent; asking takes DefaultHistoryTimeout at most, and for a while
// after the history failed Last does not ask it. A subscriber that came
// late, or that resubscribed after an outage, asks for it (the service's
// <prefix>.last) to catch up with what it missed.
func (p *Publisher) Last(id string) (api.Event, bool) {
	p.mu.Lock()
	q := p.exports[id]
	switch {
	case q != nil && q.hasSent:
		ev := q.sent
		p.mu.Unlock()
		return ev, true
	case p.history == nil || q != nil && q.known:
		// Known, and nothing was sent: the history had no event either.
		p.mu.Unlock()
		return api.Event{}, false
	}
	p.mu.Unlock()
	return p.lastFromHistory(id)
}

// Stats returns the Publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published: p.published.Load(),
		Sent:      p.sent.Load(),
		Coalesced: p.coalesced.Load(),
		Lost:      p.lost.Load(),
	}
}

// Close stops taking events, hands every queued event to NATS (rate limits
// no longer apply; an export whose history lookup is in flight waits for
// it, DefaultHistoryTimeout at most), waits until the server has them, and
// stops the sender.
// When ctx ends first, what is still queued is Lost and Close returns an
// error that says how many. It does not close the connection.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	first := !p.closing
	p.closing = true
	p.mu.Unlock()
	if first {
		close(p.closeCh)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		before := p.lost.Load()
		p.abortOnce.Do(func() { close(p.abort) })
		p.stopLookups() // and an append waiting for the history
		<-p.done
		return fmt.Errorf("progress: close: %s not sent: %w", api.Count(p.lost.Load()-before, "event"), context.Cause(ctx))
	}
	if p.closedConn.Load() {
		return fmt.Errorf("progress: close: %w", nats.ErrConnectionClosed)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("progress: close: flush: %w", err)
	}
	return nil
}

// message is an event taken from its queue, with its seq assigned, on
// its way to NATS.
type message struct {
	subject string
	ev      api.Event
	data    []byte // encoded once, kept while NATS refuses it
	q       *queue // the export's, for its history position
}

// run is the sender: it takes what may go now, hands it to NATS, and sleeps
// until an event is queued, a rate limit slot opens, NATS may take more, or
// Close is called.
func (p *Publisher) run() {
	defer close(p.done)
	defer func() {
		p.stopLookups()
		p.lookups.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var (
		pending  []message // taken, not yet accepted by NATS
		retryAt  time.Time
		retry    = retryMin
		flushing bool
		closeCh  = p.closeCh
		swept    = time.Now()
	)
	for {
		now := time.Now()
		var next time.Time // when to look again; zero: only when woken
		held := false      // some export's events wait for the history
		if len(pending) == 0 {
			pending, next, held = p.take(now, flushing, p.nc.IsConnected(), pending)
		}
		switch {
		case len(pending) > 0 && now.Before(retryAt):
			next = retryAt
		case len(pending) > 0:
			n, err := p.send(pending)
			rest := copy(pending, pending[n:])
			clear(pending[rest:])
			pending = pending[:rest]
			switch {
			case err == nil:
				retry, retryAt = retryMin, time.Time{}
				continue // take what came meanwhile
			case errors.Is(err, errLater):
				retryAt = now.Add(retry)
				next = retryAt
				retry = min(2*retry, retryMax)
			default: // the connection is closed for good
				pending = p.loseAll(pending, err)
				if flushing {
					return
				}
			}
		case flushing && !held:
			return // taking while flushing holds nothing back: all is sent
		}
		if now.Sub(swept) > p.idle/4 {
			p.sweep(now)
			swept = now
		}

		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(max(next.Sub(now), 0))
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-closeCh:
			flushing, closeCh = true, nil
			retryAt = time.Time{} // try at once, the caller is waiting
		case <-p.abort:
			p.loseAll(pending, nil)
			return
		}
	}
}

// take moves the events that may go now from the queues to out, assigning
// their seq, and returns when a held export-processing event may go.
// Flushing holds nothing back but the exports that wait for the history
// (held), whose lookups it starts; each one's end wakes the sender.
func (p *Publisher) take(now time.Time, flushing, connected bool, out []message) (_ []message, next time.Time, held bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.active[:0]
	for _, q := range p.active {
		if !q.known {
			if !q.looking && p.looking < lookupsMax {
				p.lookUp(q, q.front().ExportID)
			}
			held = true
			keep = append(keep, q)
			continue
		}
		for q.len() > 0 && len(out) < takeMax {
			ev := q.front()
			if ev.Event == api.EventProcessing && !flushing {
				if q.len() > 1 { // superseded: what follows has newer counts
					q.pop()
					p.coalesced.Add(1)
					continue
				}
				if !connected || now.Before(q.nextProcessing) {
					at := q.nextProcessing
					if !connected {
						at = now.Add(retryMax)
					}
					if next.IsZero() || at.Before(next) {
						next = at
					}
					break
				}
				q.nextProcessing = now.Add(p.interval)
			}
			q.pop()
			q.seq += 1 + q.gap
			q.gap = 0
			ev.Seq = q.seq
			q.last = now
			q.sent, q.hasSent = ev, true
			out = append(out, message{subject: q.subject, ev: ev, q: q})
		}
		if q.len() > 0 {
			keep = append(keep, q)
		} else {
			q.active = false
		}
	}
	clear(p.active[len(keep):])
	p.active = keep
	return out, next, held
}

// send hands msgs to NATS in order and returns how many are done with:
// accepted, or dropped because NATS can never take them. It stops at
// errLater, or at an error that means the connection is closed.
func (p *Publisher) send(msgs []message) (int, error) {
	for i := range msgs {
		m := &msgs[i]
		if m.data == nil {
			if err := m.encode(); err != nil {
				p.lost.Add(1)
				p.log.Error("encode progress event", "export", m.ev.ExportID, "event", m.ev.Event, "err", err)
				continue
			}
		}
		if p.history != nil && p.appendEvent(msgs, i) {
			continue
		}
		err := p.nc.Publish(m.subject, m.data)
		switch {
		case err == nil:
			p.sent.Add(1)
		case errors.Is(err, nats.ErrReconnectBufExceeded):
			return i, errLater
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
			errors.Is(err, nats.ErrInvalidConnection):
			return i, err
		default: // this event can never go (too large, say); the next may
			p.lost.Add(1)
			p.log.Error("publish progress event", "export", m.ev.ExportID, "event", m.ev.Event, "err", err)
		}
	}
	return len(msgs), nil
}

// encode sets m.data to the JSON of m.ev.
func (m *message) encode() error {
	data, err := json.Marshal(sanitizeEvent(m.ev))
	m.data = data
	return err
}

// appendConflictsMax bounds how often in a row one event is numbered again
// after another node's events before it is published without the history.
const appendConflictsMax = 5

// appendEvent hands msgs[i] to the history, which stores it and then
// publishes it on its subject, and reports whether it did (it is then
// sent). It is stored only after the last event of its export this
// Publisher knows of: when another node (or an earlier run) stored one
// since, the export's events from msgs[i] on are numbered after that one
// (see renumber) and offered again. When the history fails (within the
// history timeout, while it retries), or failed less than historyPause
// ago, the event is to be published directly, as without a history:
// progress goes on, and only a takeover meanwhile may repeat a seq. The
// first failure is logged as a warning, the recovery too.
func (p *Publisher) appendEvent(msgs []message, i int) bool {
	m := &msgs[i]
	if time.Now().UnixNano() < p.historyDownUntil.Load() {
		return false
	}
	var err error
	for range appendConflictsMax {
		p.mu.Lock()
		after := m.q.pos
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(p.lookupCtx, p.historyTimeout)
		var pos uint64
		var stored bool
		pos, stored, err = p.history.Append(ctx, m.subject, m.data, p.nonce+"."+m.ev.ExportID+"."+strconv.FormatInt(m.ev.Seq, 10), after)
		cancel()
		if err != nil {
			break
		}
		if stored {
			p.mu.Lock()
			m.q.pos = pos
			p.mu.Unlock()
			p.sent.Add(1)
			if p.appendFailing {
				p.appendFailing = false
				p.log.Info("progress history takes events again")
			}
			return true
		}
		if err = p.renumber(msgs, i); err != nil {
			break
		}
	}
	if err == nil {
		err = fmt.Errorf("other events of the export were stored before this one %d times in a row", appendConflictsMax)
	}
	p.historyDownUntil.Store(time.Now().Add(historyPause).UnixNano())
	if !p.appendFailing && p.lookupCtx.Err() == nil {
		p.appendFailing = true
		p.log.Warn("progress history does not take events: they are published without it until it does",
			"export", m.ev.ExportID, "err", err)
	}
	return false
}

// renumber looks the last stored event of msgs[i]'s export up, and moves
// that export's events, from msgs[i] on and still queued, after it: seq
// goes on from the other node's last event, never back.
func (p *Publisher) renumber(msgs []message, i int) error {
	m := &msgs[i]
	ev, pos, found, err := p.lastStored(p.lookupCtx, m.subject, m.ev.ExportID)
	if err != nil && pos == 0 {
		return err
	}
	// What is stored last may not be an event of the export (found false,
	// pos known): this one goes after it, with the seq it has.
	next := int64(1)
	if found {
		next = ev.Seq + 1
	}
	delta := max(next-m.ev.Seq, 0)
	q := m.q
	p.mu.Lock()
	q.pos = pos
	q.seq += delta
	if q.hasSent {
		q.sent.Seq += delta
	}
	p.mu.Unlock()
	for j := i; j < len(msgs); j++ {
		if msgs[j].q == q {
			msgs[j].ev.Seq += delta
			msgs[j].data = nil
		}
	}
	return m.encode()
}

// loseAll counts pending and everything queued as Lost and empties the
// queues. A non-nil err is the reason, logged once.
func (p *Publisher) loseAll(pending []message, err error) []message {
	n := len(pending)
	clear(pending)
	p.mu.Lock()
	for _, q := range p.active {
		n += q.len()
		q.gap += int64(q.len())
		q.reset()
		q.active = false
	}
	clear(p.active)
	p.active = p.active[:0]
	p.mu.Unlock()
	p.lost.Add(int64(n))
	if err != nil && !p.closedConn.Swap(true) {
		p.log.Error("progress events lost: the NATS connection is closed", "events", n, "err", err)
	}
	return pending[:0]
}

// sweep forgets the exports that have had no event for the idle time.
func (p *Publisher) sweep(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, q := range p.exports {
		if !q.active && now.Sub(q.last) > p.idle {
			delete(p.exports, id)
		}
	}
}

// sanitizeEvent makes ev encodable: JSON has no NaN or infinity.
func sanitizeEvent(ev api.Event) *api.Event {
	if math.IsNaN(ev.Rate) || math.IsInf(ev.Rate, 0) {
		ev.Rate = 0
	}
	if ev.Percent != nil && (math.IsNaN(*ev.Percent) || math.IsInf(*ev.Percent, 0)) {
		ev.Percent = nil
	}
	return &ev
}
