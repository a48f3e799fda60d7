package api

import "time"

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
	// else null; Percent follows from it.
	Total   *int64   `json:"total"`
	Percent *float64 `json:"percent"`
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
