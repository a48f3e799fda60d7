package devmongo

import "errors"

var (
	// ErrNoDir is returned by Start when Options.Dir is empty.
	ErrNoDir = errors.New("devmongo: no data directory")

	// ErrNotReady is returned by Start when the server listens but does not
	// answer a ping before the start context ends.
	ErrNotReady = errors.New("devmongo: server did not answer a ping")

	// ErrBadRange is returned by Seed when n is negative.
	ErrBadRange = errors.New("devmongo: negative task count")
)
