package natsapi

import (
	"context"

	"github.com/exportd/exportd/api"
)

// lastEvent answers <prefix>.last: {id} gives that export's newest
// progress event, {} the newest of every export. An event the Publisher
// sent has its seq; for an export it has sent nothing for (since a restart,
// or for an hour) the event is made from the manifest, with seq 0, so
// that the reply always says where each export is.
func (s *Service) lastEvent(_ context.Context, data []byte) (any, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeRequest(data, &req); err != nil {
		return nil, err
	}
	if req.ID != "" {
		if err := checkID(req.ID); err != nil {
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
func (s *Service) newest(m *api.Manifest) api.Event {
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
	return m.Event()
}
