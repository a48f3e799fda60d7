// Package api is exportd's contract: what the daemon, its clients and its
// transports share. It holds the export's states, its manifest and chunk
// entries, the progress event and its names, the list item, the error
// body, the sentinel errors that the transports turn into codes, and the
// Exports interface the daemon implements. It imports nothing of the
// daemon's, so that a client links none of the daemon's dependencies.
package api
