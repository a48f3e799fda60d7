package chunker

// Bounds are the limits of one chunk, in records and in uncompressed
// bytes. A chunk ends at the first bound it reaches, always on a record
// boundary, so that chunk boundaries depend only on the records: the same
// records cut the same way, however often the export was resumed.
type Bounds struct {
	Records, Bytes int64
}

// Overflows reports whether a record of size bytes must start a new chunk
// rather than join one that holds records records of raw bytes: it would
// take a chunk that is not empty past the byte bound. A record larger than
// the bound still makes a chunk of its own.
func (b Bounds) Overflows(records, raw, size int64) bool {
	return records > 0 && raw+size > b.Bytes
}

// Full reports whether a chunk of records records and raw bytes has
// reached a bound and is sealed.
func (b Bounds) Full(records, raw int64) bool {
	return records >= b.Records || raw >= b.Bytes
}
