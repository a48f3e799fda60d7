package export

import "errors"

var (
	// ErrMissingChunk means a chunk is recorded in the checkpoint but its
	// file is gone or has the wrong size: the export cannot be resumed
	// without losing data, so it is not touched.
	ErrMissingChunk = errors.New("recorded chunk file is missing or damaged")
	// ErrRetriesExhausted wraps the last error of an export that failed
	// more times in a row than its retry budget allows.
	ErrRetriesExhausted = errors.New("retries exhausted")
)
