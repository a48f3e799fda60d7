package checkpoint

import (
	"fmt"
	"time"

	"github.com/exportd/exportd/api"
)

// The rules of an export's record, which every store applies the same
// way: which chunk may be recorded next, what recording it changes, and
// which state changes are allowed.

// CheckCommit says whether chunk c may be recorded next: the export is not
// finished and c is the next chunk in order.
func (e *Export) CheckCommit(c api.Chunk) error {
	if e.Finished() {
		return fmt.Errorf("%w: export %s is %s", ErrState, e.ID, e.State)
	}
	if c.Index != e.Chunks {
		return fmt.Errorf("%w: export %s expects chunk %d, got %d", ErrOrder, e.ID, e.Chunks, c.Index)
	}
	return nil
}

// Advance moves the resume point past recorded chunk c (checked with
// CheckCommit); with final set, the export is completed at at.
func (e *Export) Advance(c api.Chunk, final bool, at time.Time) {
	e.Chunks++
	e.Records += c.Records
	e.Bytes += c.Bytes
	if c.Records > 0 {
		e.LastKey = c.LastKey
	}
	if final {
		e.State, e.FinishedAt = api.StateCompleted, &at
	}
}

// SetState moves the export to state at at, with msg as its error (empty
// to clear it). A completed export cannot move; any other may move to any
// state (resume takes a failed or cancelled one back to queued, and the
// runner makes it running).
func (e *Export) SetState(state api.State, msg string, at time.Time) error {
	if e.State == api.StateCompleted && state != api.StateCompleted {
		return fmt.Errorf("%w: export %s is completed", ErrState, e.ID)
	}
	switch state {
	case api.StateRunning:
		if e.StartedAt == nil {
			e.StartedAt = &at
		} else {
			e.Resumes++ // after a stop, a failure, a crash or a takeover
		}
		e.FinishedAt = nil
	case api.StateQueued:
		e.FinishedAt = nil
	default:
		e.FinishedAt = &at
	}
	e.State, e.Error = state, msg
	return nil
}
