package cluster

import "errors"

var (
	// ErrConflict means another writer changed the export's record while
	// this one was changing it, and the change is not safe to retry: a
	// Claim that another claim beat, or a record changing faster than
	// the update could follow.
	ErrConflict = errors.New("export record changed concurrently")
	// ErrNotOwner means the export is held by another node or epoch than
	// the caller's: it was taken over, and the caller must stop.
	ErrNotOwner = errors.New("export is held by another node")
	// ErrNoEvent means no progress event of that subject is stored.
	ErrNoEvent = errors.New("no progress event stored")
	// ErrLeaseLost means a job's message could not be kept in progress
	// for a whole lease: another node may be running it already.
	ErrLeaseLost = errors.New("job lease lost")
)
