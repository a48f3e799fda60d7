// Package storetest is the contract every store of export records keeps,
// as a test suite: the bbolt checkpoint.Store of one daemon and the
// JetStream cluster.Store of many run the same Run.
//
// The contract, which the runner and resume rely on:
//
//   - Create stores a new export; a requestId already used gives the
//     export made for it, with created false, however many callers race.
//   - Get, ByRequestID, Chunks, Commit, SetState, Delete and Manifest of
//     an unknown export fail with checkpoint.ErrNotFound.
//   - List gives every export, oldest first (ties by id).
//   - Commit takes chunks in order only (checkpoint.ErrOrder otherwise,
//     a repeated chunk too) and advances the counters and the resume
//     point with each; an empty chunk keeps the last key. A final commit
//     completes the export in the same step, and a finished export takes
//     no more chunks (checkpoint.ErrState).
//   - SetState moves any export that is not completed to any state:
//     running sets the start time the first time and counts a resume
//     after that, queued and running clear the finish time, the final
//     states set it.
//   - Delete removes the export, its chunks and its requestId, which can
//     then make a new export.
//   - Manifest is the export's record with its chunks, in order.
package storetest

import (
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
)

// Store is the store of export records as the runner uses it: the methods
// checkpoint.Store and cluster.Store share. It belongs in checkpoint (as
// checkpoint.Records) once the runner takes either store.
type Store interface {
	// Create stores e, or returns the export made for e.RequestID with
	// created false.
	Create(e *checkpoint.Export) (got *checkpoint.Export, created bool, err error)
	// Get returns export id.
	Get(id string) (*checkpoint.Export, error)
	// ByRequestID returns the export made for a client's requestId.
	ByRequestID(key string) (*checkpoint.Export, error)
	// List returns every export, oldest first.
	List() ([]*checkpoint.Export, error)
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
	Unreadable() ([]*checkpoint.CorruptError, error)
}
