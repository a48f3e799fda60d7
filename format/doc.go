// Package format turns raw BSON documents into the bytes of an export's
// output format: ndjson, json (the envelope, or a bare array), or csv.
//
// An Encoder is made once per export from its Plan and is safe for
// concurrent use by the encoder pool. Its output depends only on the Plan,
// the export's creation time and the documents, never on the clock or on
// which worker encodes a record, so that a resumed export writes the same
// bytes as an uninterrupted one.
//
// The whole export is Header, then Append for each record in order (record
// n is told its index so that json knows where a separator goes), then
// Footer. Chunks cut this stream only at record boundaries. Header or
// Footer may be empty (ndjson; csv without its header line).
package format
