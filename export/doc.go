// Package export runs one export from its checkpoint to its end: it
// recovers the export's directory, opens the cursor after the last recorded
// key, runs the pipeline, records every sealed chunk in the checkpoint store
// and rewrites the manifest, and retries what a retry can cure.
//
// exportd export and the daemon run exports through this one code path, so
// the same request gives the same bytes in both, and both resume the same
// way.
package export
