package transport

import (
	"context"
	"time"

	"github.com/exportd/exportd/api"
)

// lastEvent answers <prefix>.last: {id} gives that export's newest
// progress event, {} the newest of every export. An event the Publisher
// sent has its seq; for an export it has sent nothing for (since a restart,
// or for an hour) the event is made from the manifest, with seq 0, so
// that the reply always says where each export is.
func (s *NATSService) lastEvent(_ context.Context, data []byte) (any, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeNATSRequest(data, &req); err != nil {
		return nil, err
	}
	if req.ID != "" {
		if err := checkNATSID(req.ID); err != nil {
			return nil, err
		}
		m, err := s.exports.Status(req.ID)
		if err != nil {
			return nil, err
		}
		return s.newest(m), nil
	}
	ms, err := s.exports.List("")
	if err != nil {
		return nil, err
	}
	out := make([]api.Event, 0, len(ms))
	for _, m := range ms {
		out = append(out, s.newest(m))
	}
	return out, nil
}

// newest is the Publisher's last event of m's export, or, when it has
// none, one made from m. A list's manifest has no chunks: the export's
// whole manifest is asked for then, for their count.
func (s *NATSService) newest(m *api.Manifest) api.Event {
	if s.last != nil {
		if ev, ok := s.last(m.ID); ok {
			return ev
		}
	}
	if m.Chunks == nil {
		if full, err := s.exports.Status(m.ID); err == nil {
			m = full
		}
	}
	return ManifestEvent(m)
}

// ManifestEvent is the progress event that says where the export of m
// stands: its state's event name (export-processing while it runs), its
// counters, seq 0 (not an event that was sent) and the time of its last
// change of state.
func ManifestEvent(m *api.Manifest) api.Event {
	ev := api.Event{ExportID: m.ID, Records: m.Records, Bytes: m.Bytes, Chunks: len(m.Chunks), Time: m.CreatedAt, Error: m.Error}
	for _, t := range []*time.Time{m.StartedAt, m.FinishedAt} {
		if t != nil && t.After(ev.Time) {
			ev.Time = *t
		}
	}
	switch m.State {
	case api.StateQueued:
		ev.Event = api.EventQueued
	case api.StateRunning:
		ev.Event = api.EventProcessing
	case api.StateCompleted:
		ev.Event = api.EventCompleted
	case api.StateFailed:
		ev.Event = api.EventFailed
	case api.StateCancelled:
		ev.Event = api.EventCancelled
	}
	return ev
}
