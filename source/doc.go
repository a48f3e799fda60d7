// Package source reads an export's documents from MongoDB: it connects to
// the deployment (Connect, Redact for what logs and errors show), opens the
// cursor of a plan (Find, a pipeline.Source), and when an export resumes,
// seeks just past its last recorded record with a keyset condition (After)
// instead of skipping what came before.
//
// It also holds the server quirks, the ways a FerretDB differs from a
// MongoDB in what an export asks of it: FerretDB cannot store some BSON
// types, which the keyset condition must leave out (Unstorable,
// FerretDBUnstorable), and its count reads every document, so no total is
// asked of it (Total).
//
// The pipeline does not know MongoDB: it reads any pipeline.Source.
package source
