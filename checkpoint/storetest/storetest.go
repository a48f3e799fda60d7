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
	"github.com/exportd/exportd/checkpoint"
)

// Store is the contract under test: checkpoint.Records.
type Store = checkpoint.Records
