package api

import (
	"strings"
	"time"
)

// DefaultPrefix is the first part of every subject of the service and of
// its progress events when none is configured.
const DefaultPrefix = "exports"

// ProgressSubject is the subject of export id's progress events.
func ProgressSubject(prefix, id string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return prefix + ".progress." + id
}

// ValidSubjectToken reports whether s can be one token of a NATS subject
// (a prefix's token, an export id in a progress subject).
func ValidSubjectToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}

// Event is a progress event, published on <prefix>.progress.<exportId>.
// Its names are the old service's WebSocket events, so that a gateway can
// forward them unchanged.
type Event struct {
	Event    string `json:"event"`
	ExportID string `json:"exportId"`
	// Seq increases by one with each event of an export; the Publisher
	// assigns it when it sends the event.
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	// Records and Bytes count what the export has written so far; Chunks
	// how many chunks are sealed.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	Chunks  int   `json:"chunks"`
	// Total is the number of records to export when it is known cheaply,
	// else null; Percent follows from it. It is never below Records: a
	// total that the export passes is raised to Records. Once every
	// record is written (export-finalizing, export-completed) it is
	// Records, exact, and Percent is 100, whether a total was known
	// before or not.
	Total *int64 `json:"total"`
	// TotalEstimated is true when Total is an estimate, not a count: the
	// collection's metadata count (no filter), or a sample's share of it
	// (a filter on a large collection). The export may write more or
	// fewer records; Percent then stays at most 99 until the export
	// ends. False (left out) when Total was counted or is null.
	TotalEstimated bool     `json:"totalEstimated,omitempty"`
	Percent        *float64 `json:"percent"`
	// Rate is records per second over the current run.
	Rate float64 `json:"rate"`
	// Chunk is the sealed chunk, for export-file-generation.
	Chunk *Chunk `json:"chunk,omitempty"`
	// Error says why, for export-failed.
	Error string `json:"error,omitempty"`
}

// The event names.
const (
	EventQueued         = "export-queued"
	EventFetching       = "export-fetching"
	EventProcessing     = "export-processing"
	EventFileGeneration = "export-file-generation"
	EventFinalizing     = "export-finalizing"
	EventCompleted      = "export-completed"
	EventFailed         = "export-failed"
	EventResumed        = "export-resumed"
	EventCancelled      = "export-cancelled"
)

// Event is the progress event that says where the export of m
// stands: its state's event name (export-processing while it runs), its
// counters, seq 0 (not an event that was sent) and the time of its last
// change of state.
func (m *Manifest) Event() Event {
	ev := Event{ExportID: m.ID, Records: m.Records, Bytes: m.Bytes, Chunks: len(m.Chunks), Time: m.CreatedAt, Error: m.Error}
	for _, t := range []*time.Time{m.StartedAt, m.FinishedAt} {
		if t != nil && t.After(ev.Time) {
			ev.Time = *t
		}
	}
	switch m.State {
	case StateQueued:
		ev.Event = EventQueued
	case StateRunning:
		ev.Event = EventProcessing
	case StateCompleted:
		ev.Event = EventCompleted
	case StateFailed:
		ev.Event = EventFailed
	case StateCancelled:
		ev.Event = EventCancelled
	}
	return ev
}
