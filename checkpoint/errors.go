package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/exportd/exportd/api"
)

var (
	// ErrLocked means another process has the store open.
	ErrLocked = errors.New("checkpoint store is in use by another process")
	// ErrNotFound means no export has that id; it is the service's.
	ErrNotFound = api.ErrNotFound
	// ErrState means the export is not in a state that allows the change;
	// it is the service's.
	ErrState = api.ErrState
	// ErrCorrupt means a stored record cannot be read back. Errors that
	// wrap it are *CorruptError values, which say which record.
	ErrCorrupt = errors.New("checkpoint record is corrupt")
	// ErrOrder means a chunk was committed out of order.
	ErrOrder = errors.New("chunk committed out of order")
)

// CorruptError is a stored record that cannot be read back: its bytes do
// not decode, or they decode to another export than their key names. It
// wraps ErrCorrupt and its cause. The store never overwrites such a record
// (only Delete removes it), so that it can still be repaired by hand.
type CorruptError struct {
	// ID is the export the record belongs to. It is empty when the record
	// is in the exports bucket under a key that is not an export id (see
	// ValidID); List leaves such records out, and only Store.Unreadable
	// reports them.
	ID string
	// Key is the record's key in its bucket: in the exports bucket, or
	// with Chunk set, in the export's chunk bucket (a big-endian chunk
	// index; nil when the export's whole chunk bucket is missing).
	Key []byte
	// Chunk is set for a chunk record, clear for an export record.
	Chunk bool
	// Err is why the record cannot be read.
	Err error
}

// Error names the record and the cause, for example
// "checkpoint record is corrupt: export <id> chunk 3: unexpected end of JSON input".
func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrCorrupt, e.record(), e.Err)
}

// Unwrap returns ErrCorrupt and the cause.
func (e *CorruptError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// status is the message an export shows for the record, in place of its
// own error: "checkpoint record unreadable: <cause>".
func (e *CorruptError) status() string {
	if e.Chunk {
		return fmt.Sprintf("checkpoint record unreadable: %s: %v", e.chunk(), e.Err)
	}
	return fmt.Sprintf("checkpoint record unreadable: %v", e.Err)
}

// record names the record: `export <id>`, `export <id> chunk 3` or
// `exports key "<key>"`.
func (e *CorruptError) record() string {
	switch {
	case e.ID == "":
		return fmt.Sprintf("exports key %q", e.Key)
	case e.Chunk:
		return "export " + e.ID + " " + e.chunk()
	}
	return "export " + e.ID
}

func (e *CorruptError) chunk() string {
	switch len(e.Key) {
	case 0:
		return "chunks"
	case 4:
		return fmt.Sprintf("chunk %d", binary.BigEndian.Uint32(e.Key))
	}
	return fmt.Sprintf("chunk key %x", e.Key)
}
