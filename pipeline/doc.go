// Package pipeline streams documents from a source into sealed, compressed
// chunk files, in four stages that run concurrently:
//
//	Source ──► reader ──work (cap W)────► encoder ×W ──┐ closes job.done
//	             │                                      │
//	             └──ordered (cap W)──► compressor ◄─────┘ waits job.done in order
//	                                       │
//	                                   parts (cap 8)
//	                                       ▼
//	                                    writer ──► chunk files, Commit hook
//
// What the channels carry and who closes them:
//
//   - reader gathers up to the plan's BatchSize documents (or batchBytes
//     bytes) into a rawBatch without copying them: they stay in the
//     cursor's batch, which the batch keeps alive. It wraps the batch in a
//     job, and puts the job on ordered first, then on work. It owns and
//     closes both channels.
//   - encoder workers take jobs from work, encode every record into the
//     job's buffer, and close job.done. They own no channel.
//   - compressor takes jobs from ordered in read order and waits for each
//     job's done, so order is restored without a reorder buffer. It cuts the
//     encoded stream into chunks (at the first of the plan's ChunkRecords
//     or ChunkBytes, always on a record boundary: chunker.Bounds is the
//     rule), compresses each chunk as one zstd frame or gzip member, and
//     sends the compressed bytes as parts to the writer; the last part of a
//     chunk carries its description. When it has to wait for its input it
//     compresses in bursts of a few MiB (zstdBurst, gzipBurst), so that its
//     tables come back into the CPU cache once per burst rather than once
//     per batch; when the next job is already waiting it compresses as it
//     goes, so the encoders run meanwhile. It owns and closes parts, and
//     returns each job's buffers to their pools.
//   - writer writes parts to the chunk's temporary file, seals it (sync,
//     rename, directory sync) and only then calls Commit: what Commit
//     records is durable.
//
// Memory is bounded by design: at most W+2 jobs exist at once. Every job
// goes on ordered before work, so the jobs on work and in the encoders'
// hands are among the at most W that ordered holds or the one the
// compressor has taken from it (it lets go of one before it takes the
// next); add the one the reader is filling. Each is at most batchBytes of
// documents plus their encoding; add one burst of encoded bytes, and at
// most ten parts of partBytes (partsBuffered waiting, one the compressor
// fills, one the writer writes). Nothing grows with the collection.
//
// The first error of any stage cancels the others through one errgroup,
// and Run returns it naming the stage and the chunk or record. A chunk
// file that was not sealed is removed; one that was sealed stays, and was
// committed or will be found by recovery.
package pipeline
