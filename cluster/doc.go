// Package cluster lets several daemons on one NATS JetStream cluster act
// as one service, coordinated only through JetStream: no consensus or
// lease protocol of its own, only compare-and-set on key-value revisions
// and a work queue's acknowledgements.
//
//   - Store keeps the export records in a key-value bucket, with the
//     contract of checkpoint.Store (checkpoint/storetest runs on both).
//   - Queue hands exports to nodes: a message per export on a work-queue
//     stream, its delivery a lease that the holder renews.
//   - Progress keeps the progress events, so that a new owner continues
//     an export's event sequence.
//
// # Keys
//
// In the bucket, e.<id> holds an export's record: the checkpoint.Export
// JSON as the bbolt store keeps it (its chunk count, not its chunks) and
// the node that holds it with the epoch of its claim. c.<id>.<nnnnnn>
// holds chunk n, with the record revision its commit read. r.<h>, h the
// hex SHA-256 of a client's requestId, holds the id of the export made
// for it.
//
// # Invariants
//
// Every change of a record is a compare-and-set on the revision it read;
// on a conflict it reads again and retries only if the change is still
// valid (a commit of the next chunk, a claim no other claim beat).
//
//   - A requestId gives one export cluster-wide: the record is written
//     first, then the index with a create that fails if the key exists.
//     The loser of a race removes its own record, never anything of the
//     winner's, and returns the winner's export. An index entry always
//     has its record (Delete removes the index first, the record last).
//   - Two nodes never both advance one export. Claim makes a node the
//     owner with the next epoch; Owned's Commit and SetState fail with
//     ErrNotOwner once a later claim was made, so a node that was taken
//     over stops at its next chunk. Store's own Commit and SetState check
//     no owner (the single-daemon contract; SetState is how any node
//     cancels or resumes, and the owner's next commit sees it).
//   - A chunk is committed without a multi-key transaction: its key is
//     written first, then the record's count, counters, resume point (and
//     completed state, for the last chunk) by compare-and-set. The record
//     is the truth: a chunk key at or beyond its count is a leftover of a
//     commit whose compare-and-set failed (or has not landed yet), and
//     readers ignore it. A chunk the count covers is never written again,
//     so reading the record and then its chunks gives an agreeing
//     manifest.
//   - A leftover carries the record revision its commit read. The next
//     commit of that index replaces it (compare-and-set on the chunk key)
//     only when that revision is older than the record's: its commit can
//     then never land. A leftover of the very revision the new commit
//     read may still land; the new commit moves the record on unchanged
//     first (a fence), which makes it dead, and tries again.
//   - Every read is the stream leader's: the bucket's stream has direct
//     gets off, since a replica catching up after a restart answers them
//     with what it has. Chunks are read by key, the record giving their
//     count. Listings (List, Unreadable) come from a watch, whose first
//     snapshot can end early on such a replica: it is checked against the
//     leader's count of keys and read again while short, and its values
//     may lag by as much.
//   - A request that is not decided is sent again: lost as its server
//     went away, refused while a leader is elected, or refused because
//     the leader still has a write of the same key in flight (code 10164,
//     which nats.go reports as a conflict). A write sent again is done if
//     the bucket already holds what it wrote.
//
// A record that cannot be read back costs only its export, as in
// checkpoint: placeholders for it (without its requestId, which the index
// keeps only hashed), refused by Commit, SetState and Claim, removed by
// Delete. Removed keys leave purge markers in the bucket's stream.
//
// # Work
//
// An export runs where the work queue sends it: Next takes one job when
// the caller has room for it; the node Claims the export, runs it, renews
// the job's lease (Job.Hold) and acks it once the export is final
// (Job.Done). A node that dies stops renewing, and after LeaseTTL the
// job goes to another node, which Claims (a new epoch) and resumes from
// the record. A draining node hands its jobs over at once (Job.Handover).
package cluster
