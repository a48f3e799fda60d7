// Package checkpoint keeps the durable state of exports in a bbolt file:
// each export's request and plan as accepted, its state and counters, and
// one record per sealed chunk.
//
// Invariants, which resume relies on:
//
//   - A chunk record is written only after its file is synced and renamed,
//     and in the same transaction that advances the export's resume point
//     (its record count and last key). A chunk is durable and recorded, or
//     neither as far as resume is concerned.
//   - Everything an export's output depends on (the plan, the creation time
//     that the json envelope prints) is stored when the export is created
//     and read back on resume, never taken again from the clock.
//   - An export whose last chunk is recorded is completed in that same
//     transaction, so a crash can never lead to a second final chunk.
//
// A record that cannot be read back (corrupt bytes, or a plan whose filter
// the Extended JSON parser refuses) costs only its own export, never the
// store: List, Get, ByRequestID and Manifest give a failed placeholder for
// it (Export.Unreadable says why), Commit and SetState refuse it with
// ErrCorrupt, and only Delete removes it. The store never writes over it,
// so an operator can still repair it; Store.Unreadable lists every such
// record, for the daemon's log.
//
// Only one process opens a store at a time: a second one gets ErrLocked
// after a short wait instead of hanging.
package checkpoint
