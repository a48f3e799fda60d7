package transport

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/exportd/exportd/chunker"
)

// Exports is the daemon's job runner as the transports see it.
type Exports interface {
	// Start accepts a request (JSON, as sent) and returns the export's
	// manifest: a new export, or the one made earlier for the same
	// requestId. Errors: a *request.FieldError (wrapping request.ErrInvalid)
	// for a bad request, ErrBusy when the queue is full.
	Start(ctx context.Context, req json.RawMessage) (*chunker.Manifest, error)
	// Status returns the manifest of export id; ErrNotFound if unknown.
	Status(id string) (*chunker.Manifest, error)
	// List returns the exports, oldest first, only those in state when it
	// is not empty.
	List(state string) ([]*chunker.Manifest, error)
	// Cancel stops a queued or running export; ErrState if it finished.
	Cancel(id string) (*chunker.Manifest, error)
	// Resume queues a failed or cancelled export again; ErrState otherwise.
	Resume(id string) (*chunker.Manifest, error)
	// Delete removes a finished export and its files (a running one is
	// cancelled first).
	Delete(id string) error
	// Dir is the directory of export id's chunk files.
	Dir(id string) (string, error)
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
	Chunk *chunker.Chunk `json:"chunk,omitempty"`
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

var (
	// ErrNotFound means no export has that id (404).
	ErrNotFound = errors.New("unknown export")
	// ErrState means the export is not in a state that allows the
	// operation (409).
	ErrState = errors.New("wrong export state")
	// ErrBusy means the queue is full (503).
	ErrBusy = errors.New("export queue is full")
	// ErrForbidden means the export's namespace is outside the daemon's
	// allow-list (403): it is neither served nor run.
	ErrForbidden = errors.New("namespace not allowed")
)
