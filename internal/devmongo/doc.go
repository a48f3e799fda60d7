// Package devmongo runs a development MongoDB-compatible server and fills it
// with deterministic synthetic data.
//
// There is no mongod on the development and CI machines, so the database that
// exportd is developed and tested against is FerretDB, embedded in process with
// its SQLite handler and listening on TCP. [Start] runs one; the
// [github.com/exportd/exportd/internal/devmongo/devmongotest] package wraps it
// for tests, and cmd/devmongo runs it as a standalone server.
//
// The data set is a task manager's tasks collection. [AppendTask] encodes task
// number i as BSON from i alone, so any range of tasks can be generated, seeded
// with [Seed] and later checked byte for byte by any process on any machine.
//
// # Invariants
//
//   - AppendTask(dst, i) depends only on i. Changing the generator changes the
//     data set; the golden test in this package catches that.
//   - Task _ids are unique for every int64 i: the last 8 bytes of the ObjectID
//     are i itself.
//   - Tasks only use BSON that FerretDB 1.24 stores exactly: no NaN or ±Inf,
//     no -0.0, no decimal128, no nested arrays, no dots in keys. A task read
//     back from FerretDB has the same bytes as the one inserted.
package devmongo
