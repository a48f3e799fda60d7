package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/exportd/exportd/api"
)

// DefaultHistoryTimeout bounds each question to a Publisher's History: an
// export's first event waits that long at most for its seq, and Last for
// an export the Publisher does not know. JetStream answers a direct get in
// milliseconds; two seconds leave room for a retry, not for a stream
// leader's election (4 to 9 s), which would hold the export's events
// back for as long.
const DefaultHistoryTimeout = 2 * time.Second

const (
	// lookupsMax bounds the history lookups in flight; the exports beyond
	// it wait for a slot. Enough for the exports a daemon resumes at once
	// to be looked up together even when the history does not answer.
	lookupsMax = 64
	// historyPause is how long Last does not ask a history that failed
	// (for Last or for a lookup), so that <prefix>.last for every export
	// answers from the manifests at once instead of waiting a timeout per
	// export. The lookups of seq always ask: each export gets its chance.
	historyPause = 10 * time.Second
)

// History keeps the progress events of every export beyond a Publisher's
// memory, whoever sent them: a cluster's progress stream
// (cluster.Progress), which stores each node's events. A Publisher with a
// History sends each event through it rather than on NATS directly: the
// History publishes an event on its subject once it is stored, so that no
// subscriber sees an event (and its seq) that a takeover may not find.
// Its methods are called from several goroutines at once.
type History interface {
	// LastEvent returns the JSON of the last api.Event stored for subject,
	// an export's api.ProgressSubject, and its position in the history
	// (unused here). It returns within ctx.
	LastEvent(ctx context.Context, subject string) (data []byte, seq uint64, err error)
	// Append stores data, the JSON of an event on subject, and has it
	// published there once stored, provided the last event stored for
	// subject is the one at position after (0: none); it returns within
	// ctx, with the new event's position. When another event was stored
	// since, it stores nothing and reports stored false. Appending the same
	// msgID again (the answer to the first was lost) stores and publishes
	// nothing more, and returns the first one's position.
	Append(ctx context.Context, subject string, data []byte, msgID string, after uint64) (pos uint64, stored bool, err error)
}

// WithHistory makes the Publisher continue each export's seq from the last
// event h has stored (see Publisher), and Last answer for the exports it
// does not know from h. none is the error, matched with errors.Is, by
// which h says no event of the export is stored (cluster.ErrNoEvent);
// nil data without an error says so too. Any other error is logged as a
// warning, and the Publisher goes on without the history's answer. A nil
// h (no value at all, not a nil pointer in it) means no history.
func WithHistory(h History, none error) PublisherOption {
	return func(p *Publisher) { p.history, p.none = h, none }
}

// WithHistoryTimeout bounds each question to the history instead of
// DefaultHistoryTimeout: a cluster whose stream leaders may be re-elected
// (a server lost) wants the election to fit, so that no export's seq
// starts again; its events wait meanwhile.
func WithHistoryTimeout(d time.Duration) PublisherOption {
	return func(p *Publisher) {
		if d > 0 {
			p.historyTimeout = d
		}
	}
}

// lookUp starts looking the last stored event of q's export (id) up, on a
// goroutine of its own that Close waits for. The answer sets q's counter
// and lets the sender take q's events. p.mu is held.
func (p *Publisher) lookUp(q *queue, id string) {
	q.looking = true
	p.looking++
	p.lookups.Add(1)
	go func() {
		defer p.lookups.Done()
		ev, pos, found, err := p.lastStored(p.lookupCtx, q.subject, id)
		p.mu.Lock()
		q.looking, q.known = false, true
		p.looking--
		q.pos = pos
		if found {
			q.seq = ev.Seq
			q.sent, q.hasSent = ev, true
		}
		p.mu.Unlock()
		if err != nil && p.lookupCtx.Err() == nil {
			p.historyDownUntil.Store(time.Now().Add(historyPause).UnixNano())
			p.log.Warn("progress history failed: seq starts again at 1", "export", id, "err", err)
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}()
}

// lastStored asks the history for the last stored event of export id on
// subject, within the history timeout, and its position there (also when
// what is stored there is not an event of the export). found is false
// when none is stored, or when err says why the history could not tell.
func (p *Publisher) lastStored(ctx context.Context, subject, id string) (ev api.Event, pos uint64, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, p.historyTimeout)
	defer cancel()
	data, pos, err := p.history.LastEvent(ctx, subject)
	switch {
	case err == nil && data == nil, err != nil && p.none != nil && errors.Is(err, p.none):
		return api.Event{}, 0, false, nil
	case err != nil:
		return api.Event{}, 0, false, err
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return api.Event{}, pos, false, fmt.Errorf("stored event of %s: %w", subject, err)
	}
	if ev.ExportID != id || ev.Seq < 1 {
		return api.Event{}, pos, false, fmt.Errorf("stored event of %s is export %q's with seq %d", subject, api.Clip(ev.ExportID, 64), ev.Seq)
	}
	return ev, pos, true, nil
}

// lastFromHistory is Last for an export the Publisher does not know: the
// history's last stored event, unless the history failed less than
// historyPause ago.
func (p *Publisher) lastFromHistory(id string) (api.Event, bool) {
	if !api.ValidSubjectToken(id) || time.Now().UnixNano() < p.historyDownUntil.Load() {
		return api.Event{}, false
	}
	ev, _, found, err := p.lastStored(context.Background(), api.ProgressSubject(p.prefix, id), id)
	if err != nil {
		p.historyDownUntil.Store(time.Now().Add(historyPause).UnixNano())
		p.log.Warn("progress history failed: last events come from the manifests for a while",
			"export", id, "pause", historyPause, "err", err)
	}
	return ev, found
}
