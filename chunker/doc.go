// Package chunker owns the files of an export and the rules they follow:
//
//   - chunk files (Name, Create, File.Seal, File.Abort), written under a
//     temporary name and sealed (synced, renamed, directory synced) in one
//     step, and what recovery needs of them (IsTemp, RemoveTemps, SyncDir);
//   - the manifest that lists them (WriteManifest, ReadManifest, through
//     WriteFileAtomic);
//   - where a chunk ends (Bounds: at the first of its record and byte
//     bounds, always on a record boundary);
//   - how to read chunks back (Decompress: concatenated chunks read as one
//     stream).
//
// It does not cut the stream itself: the pipeline's compressor applies
// Bounds record by record, because a cut there also ends a compression
// frame and records the chunk's first and last keys.
//
// The invariant every reader can rely on: a file under a chunk's final name
// is complete and durable. Anything else in the directory is a temporary
// file that recovery may delete.
package chunker
