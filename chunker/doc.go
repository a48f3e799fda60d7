// Package chunker owns the files of an export: chunk files, written under a
// temporary name and sealed (synced, renamed, directory synced) in one step,
// and the manifest that lists them.
//
// The invariant every reader can rely on: a file under a chunk's final name
// is complete and durable. Anything else in the directory is a temporary
// file that recovery may delete.
package chunker
