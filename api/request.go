package api

import "encoding/json"

// Format is an output format.
type Format string

// The output formats.
const (
	NDJSON Format = "ndjson"
	JSON   Format = "json"
	CSV    Format = "csv"
)

// Compression is a chunk compression.
type Compression string

// The compressions.
const (
	Zstd Compression = "zstd"
	Gzip Compression = "gzip"
	None Compression = "none"
)

// Request is an export request as clients send it. Its JSON names are the
// contract; unknown names are refused.
type Request struct {
	// RequestID is an optional client key: the same key gives the same export.
	RequestID string `json:"requestId,omitempty"`
	// Profile names a mapping (configs/profiles/<name>.yaml) of the old
	// service's request shape, Filters and Options, onto fields.
	Profile string `json:"profile,omitempty"`
	// Filters are the old service's named filters; they need a profile.
	Filters json.RawMessage `json:"filters,omitempty"`
	// Options are the old service's sort options; they need a profile.
	Options *Options `json:"options,omitempty"`
	// Database and Collection name the namespace to export.
	Database   string `json:"database"`
	Collection string `json:"collection"`
	// Format is ndjson (default), json or csv.
	Format Format `json:"format,omitempty"`
	// Compression is zstd (default), gzip or none.
	Compression Compression `json:"compression,omitempty"`
	// Filter is a MongoDB query in Extended JSON.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Sort is a MongoDB sort document in Extended JSON; _id is always the
	// last tie-breaker.
	Sort json.RawMessage `json:"sort,omitempty"`
	// Fields lists the field paths to export (dotted paths reach into
	// sub-documents); empty means all fields. csv needs it.
	Fields []string `json:"fields,omitempty"`
	// JSONFormat is relaxed (default) or canonical Extended JSON.
	JSONFormat string `json:"jsonFormat,omitempty"`
	// ChunkRecords and ChunkBytes bound each chunk; a chunk ends at the
	// first bound reached, always on a record boundary.
	ChunkRecords int64 `json:"chunkRecords,omitempty"`
	ChunkBytes   int64 `json:"chunkBytes,omitempty"`
	// BatchSize is the cursor's batch size.
	BatchSize int64 `json:"batchSize,omitempty"`
	// Skip leaves out the first Skip records of the sorted result
	// (mongoexport's --skip); Limit, when not 0, exports at most Limit
	// records after them (--limit). Both are kept across a resume: the
	// skip applies once, at the start, and the limit counts the records
	// already exported.
	Skip  int64 `json:"skip,omitempty"`
	Limit int64 `json:"limit,omitempty"`
	// ProgressEvery is how many records pass between progress events.
	ProgressEvery int64 `json:"progressEvery,omitempty"`
	// CSVFormulaGuard, when false, turns off the quote that keeps a
	// spreadsheet from running a cell as a formula. Default true.
	CSVFormulaGuard *bool `json:"csvFormulaGuard,omitempty"`
	// CSVArrays is how a csv cell holds an array: "json" (default, relaxed
	// Extended JSON) or "join" (its items' text joined by CSVArraySeparator).
	CSVArrays string `json:"csvArrays,omitempty"`
	// CSVArraySeparator goes between the items of a joined array (default
	// "; "); only with CSVArrays "join".
	CSVArraySeparator string `json:"csvArraySeparator,omitempty"`
	// CSVBOM, when true, starts a csv export with a UTF-8 byte order mark,
	// for spreadsheets that otherwise guess another encoding. Default false.
	CSVBOM *bool `json:"csvBom,omitempty"`
	// CSVHeader, when false, leaves out a csv export's header line: the
	// file is the rows alone (mongoexport's --noHeaderLine). Default true.
	CSVHeader *bool `json:"csvHeader,omitempty"`
	// ArrayKey is the json envelope's array name (default "documents").
	ArrayKey string `json:"arrayKey,omitempty"`
	// JSONArray, when true, makes format json one bare JSON array of the
	// documents, [doc, doc, …], instead of the envelope {"exportInfo": …,
	// "documents": [ … ]} (mongoexport's --jsonArray). Default false.
	JSONArray bool `json:"jsonArray,omitempty"`
	// Headers name the csv columns, one per field (default: the paths).
	Headers []string `json:"headers,omitempty"`
}

// Options are the old service's sort options.
type Options struct {
	SortBy    string `json:"sortBy,omitempty" yaml:"sortBy"`
	SortOrder string `json:"sortOrder,omitempty" yaml:"sortOrder"`
}

// Valid reports whether f is one of the formats.
func (f Format) Valid() bool { return f == NDJSON || f == JSON || f == CSV }

// Valid reports whether c is one of the compressions.
func (c Compression) Valid() bool { return c == Zstd || c == Gzip || c == None }

// Ext is the file name extension of a chunk in this format and compression,
// for example "ndjson.zst".
func Ext(f Format, c Compression) string {
	switch c {
	case Zstd:
		return string(f) + ".zst"
	case Gzip:
		return string(f) + ".gz"
	}
	return string(f)
}
