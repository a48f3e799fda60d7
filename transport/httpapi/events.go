package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/exportd/exportd/api"
)

// The defaults of the event routes.
const (
	// DefaultMaxEventStreams is how many event streams may be open at once
	// when Config.MaxEventStreams is zero; one more is answered 503.
	DefaultMaxEventStreams = 100
	// heartbeatInterval is how often an idle stream sends a comment, so
	// that proxies keep it and a dead client is noticed.
	heartbeatInterval = 15 * time.Second
	// eventWriteTimeout bounds one write to a stream's client: one that
	// reads nothing for that long is dropped.
	eventWriteTimeout = 30 * time.Second
)

// serveExportEvents streams export id's progress events as server-sent
// events: the event type is the event's name, the id its seq. A client
// that reconnects with Last-Event-ID gets every event after that seq, once
// and in order, when the log still holds them; otherwise, as at the first
// connection when the log does not reach back to the export's first
// event, the stream starts with a snapshot: the event made from the
// export's manifest (seq 0 in its data), whose id is the newest seq the
// log holds. The stream ends after a final event (completed, failed,
// cancelled); a reconnect after that final event gets 204, which tells an
// EventSource to stop.
func (h *Server) serveExportEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	feed, done, ok := h.openFeed(w, r, id, 0)
	if !ok {
		return
	}
	defer done()
	m, err := h.exports.Status(id) // after Follow: at least as new as the feed's head
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	if feed.Reached && len(feed.Past) == 0 && feed.HeadFinal {
		w.WriteHeader(http.StatusNoContent) // the client has the final event
		return
	}
	s, ok := h.startStream(w, r)
	if !ok {
		return
	}
	final := false
	if feed.Reached {
		for _, e := range feed.Past {
			if s.event(strconv.FormatInt(e.Event.Seq, 10), &e.Event) != nil {
				return
			}
			final = finalEvent(e.Event.Event)
		}
	} else {
		ev := m.Event()
		if s.event(strconv.FormatUint(feed.Head, 10), &ev) != nil {
			return
		}
		final = m.State.Final()
	}
	if final || s.flush() != nil {
		return
	}
	s.follow(feed.Live, func(e *Logged) (bool, error) {
		err := s.event(strconv.FormatInt(e.Event.Seq, 10), &e.Event)
		return finalEvent(e.Event.Event), err
	})
}

// serveEvents streams every export's progress events. The id of each is
// its log position (Logged.Pos), which increases across exports; a client
// that reconnects with Last-Event-ID gets every event after it, once and
// in order, when the log still holds them. A first connection, or one the
// log does not reach back to, starts with a snapshot of every export (the
// event made from each manifest, seq 0 in its data), of which only the
// last carries an id: the log's head, so that a client cut off during the
// snapshot gets a whole one again. The stream does not end by itself.
func (h *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	feed, done, ok := h.openFeed(w, r, "", FromNow)
	if !ok {
		return
	}
	defer done()
	var snapshot []api.Event
	var err error
	if !feed.Reached {
		if snapshot, err = h.snapshot(); err != nil {
			h.writeErr(w, r, err)
			return
		}
	}
	s, ok := h.startStream(w, r)
	if !ok {
		return
	}
	for _, e := range feed.Past {
		if s.event(strconv.FormatUint(e.Pos, 10), &e.Event) != nil {
			return
		}
	}
	for i := range snapshot {
		id := ""
		if i == len(snapshot)-1 {
			id = strconv.FormatUint(feed.Head, 10)
		}
		if s.event(id, &snapshot[i]) != nil {
			return
		}
	}
	if s.flush() != nil {
		return
	}
	s.follow(feed.Live, func(e *Logged) (bool, error) {
		return false, s.event(strconv.FormatUint(e.Pos, 10), &e.Event)
	})
}

// snapshot is the event made from every export's manifest, oldest export
// first.
func (h *Server) snapshot() ([]api.Event, error) {
	ms, err := h.exports.List("")
	if err != nil {
		return nil, err
	}
	out := make([]api.Event, 0, len(ms))
	for _, m := range ms {
		if full, err := h.exports.Status(m.ID); err == nil {
			m = full // a list's manifest has no chunks to count
		}
		out = append(out, m.Event())
	}
	return out, nil
}

// openFeed takes one of the streams' places and follows the log after
// r's Last-Event-ID (fresh without one), or answers the refusal; done
// stops the feed and frees the place.
func (h *Server) openFeed(w http.ResponseWriter, r *http.Request, id string, fresh uint64) (feed *Feed, done func(), ok bool) {
	after, ok := h.lastEventID(w, r, fresh)
	if !ok {
		return nil, nil, false
	}
	release, ok := h.openStream(w, r)
	if !ok {
		return nil, nil, false
	}
	feed, err := h.events.Follow(id, after)
	if err != nil {
		release()
		h.writeErr(w, r, err)
		return nil, nil, false
	}
	return feed, func() { feed.Stop(); release() }, true
}

// lastEventID reads the Last-Event-ID header: a number, or none (def).
func (h *Server) lastEventID(w http.ResponseWriter, r *http.Request, def uint64) (uint64, bool) {
	raw := r.Header.Get("Last-Event-ID")
	if raw == "" {
		return def, true
	}
	n, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || n == FromNow {
		h.writeError(w, r, http.StatusBadRequest, "malformed Last-Event-ID: an id this server sent is a number")
		return 0, false
	}
	return n, true
}

// openStream takes one of the event streams' places, or answers 503.
func (h *Server) openStream(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	select {
	case h.streams <- struct{}{}:
		return func() { <-h.streams }, true
	default:
		w.Header().Set("Retry-After", "5")
		h.writeError(w, r, http.StatusServiceUnavailable, "too many event streams open; try again later")
		return nil, false
	}
}

// stream writes server-sent events to one client.
type stream struct {
	h   *Server
	w   http.ResponseWriter
	r   *http.Request
	rc  *http.ResponseController
	buf []byte
}

// startStream sends the event stream's headers; a HEAD request gets only
// them.
func (h *Server) startStream(w http.ResponseWriter, r *http.Request) (*stream, bool) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil, false
	}
	return &stream{h: h, w: w, r: r, rc: http.NewResponseController(w)}, true
}

// event writes ev as one server-sent event, with id unless it is empty.
// The data is the event's JSON, one line.
func (s *stream) event(id string, ev *api.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		s.h.logger.Error("encode progress event", "export", ev.ExportID, "err", err)
		return nil // the next may do
	}
	b := s.buf[:0]
	if id != "" {
		b = append(append(append(b, "id: "...), id...), '\n')
	}
	b = append(append(append(b, "event: "...), ev.Event...), '\n')
	b = append(append(append(b, "data: "...), data...), "\n\n"...)
	s.buf = b
	return s.write(b)
}

func (s *stream) write(b []byte) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)) // not every writer has deadlines; then it waits
	_, err := s.w.Write(b)
	return err
}

func (s *stream) flush() error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	return s.rc.Flush()
}

// follow sends what live brings, each flushed at once, and a heartbeat
// comment when it brings nothing for a while, until send reports the end
// (a final event), the client goes away, a write fails, live closes (the
// follower fell behind; the client resumes from its last id) or the server
// shuts down.
func (s *stream) follow(live <-chan Logged, send func(*Logged) (end bool, err error)) {
	heartbeat := time.NewTicker(s.h.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case e, ok := <-live:
			if !ok {
				return
			}
			end, err := send(&e)
			if err != nil || s.flush() != nil || end {
				return
			}
		case <-heartbeat.C:
			if s.write([]byte(": heartbeat\n\n")) != nil || s.flush() != nil {
				return
			}
		case <-s.r.Context().Done():
			return
		case <-s.h.shutdown:
			return
		}
	}
}
