package checkpoint

import "errors"

var (
	// ErrLocked means another process has the store open.
	ErrLocked = errors.New("checkpoint store is in use by another process")
	// ErrNotFound means no export has that id.
	ErrNotFound = errors.New("unknown export")
	// ErrState means the export is not in a state that allows the change.
	ErrState = errors.New("wrong export state")
	// ErrCorrupt means a stored record cannot be read back.
	ErrCorrupt = errors.New("checkpoint record is corrupt")
	// ErrOrder means a chunk was committed out of order.
	ErrOrder = errors.New("chunk committed out of order")
)
