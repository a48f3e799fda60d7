package api

import (
	"context"
	"encoding/json"
	"time"
)

// Exports is the daemon's job runner as the transports see it.
type Exports interface {
	// Start accepts a request (JSON, as sent) and returns the export's
	// manifest: a new export, or the one made earlier for the same
	// requestId. Errors: a *request.FieldError (wrapping request.ErrInvalid)
	// for a bad request, ErrBusy when the queue is full.
	Start(ctx context.Context, req json.RawMessage) (*Manifest, error)
	// Status returns the manifest of export id; ErrNotFound if unknown.
	Status(id string) (*Manifest, error)
	// List returns the exports, oldest first, only those in state when it
	// is not empty.
	List(state State) ([]*Manifest, error)
	// Cancel stops a queued or running export; ErrState if it finished.
	Cancel(id string) (*Manifest, error)
	// Resume queues a failed or cancelled export again; ErrState otherwise.
	Resume(id string) (*Manifest, error)
	// Delete removes a finished export and its files (a running one is
	// cancelled first).
	Delete(id string) error
	// Dir is the directory of export id's chunk files.
	Dir(id string) (string, error)
}

// ListItem is one export in a list: NATS <prefix>.list and GET /exports.
type ListItem struct {
	ID        string    `json:"id"`
	State     State     `json:"state"`
	Records   int64     `json:"records"`
	CreatedAt time.Time `json:"createdAt"`
}

// Item is m's list entry.
func (m *Manifest) Item() ListItem {
	return ListItem{ID: m.ID, State: m.State, Records: m.Records, CreatedAt: m.CreatedAt}
}
