package checkpoint

import (
	"time"

	"github.com/exportd/exportd/api"
)

// Records is a store of export records as the runner and export.Run use
// it. Store (bbolt, one node) implements it, and so does cluster.Store
// (JetStream key-value, several nodes); checkpoint/storetest is the
// contract both pass.
type Records interface {
	// Create stores e, or returns the export made for e.RequestID with
	// created false.
	Create(e *Export) (got *Export, created bool, err error)
	// Get returns export id.
	Get(id string) (*Export, error)
	// ByRequestID returns the export made for a client's requestId.
	ByRequestID(key string) (*Export, error)
	// List returns every export, oldest first.
	List() ([]*Export, error)
	// Chunks returns the recorded chunks of export id, in order.
	Chunks(id string) ([]api.Chunk, error)
	// Commit records chunk c of export id and advances its resume point;
	// final completes the export too.
	Commit(id string, c api.Chunk, final bool, at time.Time) error
	// SetState moves export id to state, with msg as its error.
	SetState(id string, state api.State, msg string, at time.Time) error
	// Delete removes export id, its chunks and its requestId.
	Delete(id string) error
	// Manifest builds the manifest of export id from its records.
	Manifest(id string) (*api.Manifest, error)
	// Unreadable returns every record the store cannot read back.
	Unreadable() ([]*CorruptError, error)
}

var _ Records = (*Store)(nil)
