// Package request parses and checks export requests and compiles them into
// a Plan: the fixed, validated parameters an export runs with.
//
// The same Request arrives as JSON (NATS exports.start, exportctl --request)
// or as flags (exportd export). Everything the output depends on is in the
// Plan, so the same Plan over the same data gives the same bytes.
package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

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

// Bounds on the numeric request fields. They keep a request from asking for
// something that cannot work (a zero batch) or that would hold too much in
// memory at once (a chunk larger than a file system or a download wants).
const (
	DefaultChunkRecords  = 100_000
	DefaultChunkBytes    = 64 << 20
	DefaultBatchSize     = 1000
	DefaultProgressEvery = 1000
	MinChunkBytes        = 1 << 10
	MaxChunkBytes        = 1 << 30
	MaxChunkRecords      = 1_000_000_000
	MaxBatchSize         = 100_000
	maxFieldPathLen      = 1024
	maxFields            = 1000
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
	// ProgressEvery is how many records pass between progress events.
	ProgressEvery int64 `json:"progressEvery,omitempty"`
	// CSVFormulaGuard, when false, turns off the quote that keeps a
	// spreadsheet from running a cell as a formula. Default true.
	CSVFormulaGuard *bool `json:"csvFormulaGuard,omitempty"`
	// ArrayKey is the json envelope's array name (default "documents").
	ArrayKey string `json:"arrayKey,omitempty"`
	// Headers name the csv columns, one per field (default: the paths).
	Headers []string `json:"headers,omitempty"`
}

// Options are the old service's sort options.
type Options struct {
	SortBy    string `json:"sortBy,omitempty" yaml:"sortBy"`
	SortOrder string `json:"sortOrder,omitempty" yaml:"sortOrder"`
}

// Decode reads one JSON request. Unknown fields, trailing data, syntax
// errors and a request larger than MaxRequestBytes are refused with an
// error that names the place.
func Decode(data []byte) (*Request, error) {
	if len(data) > MaxRequestBytes {
		return nil, fieldErr("request", "is %d bytes, at most %d", len(data), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Request
	if err := dec.Decode(&r); err != nil {
		return nil, jsonErr("request", data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fieldErr("request", "unexpected data after the JSON object")
	}
	return &r, nil
}

// jsonErr turns a decoding error into a FieldError with a line and column.
func jsonErr(field string, data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return fieldErr(field, "invalid JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		name := typ.Field
		if name == "" {
			name = field
		}
		return fieldErr(name, "must be %s, not JSON %s", typ.Type, typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr(field, "invalid JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	return fieldErr(field, "%s", strings.TrimPrefix(msg, "json: "))
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// parseExtJSON parses an Extended JSON object into an ordered document.
func parseExtJSON(field string, data []byte) (bson.D, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return nil, nil
	}
	// A cheap guard first: nothing nested this deep can be within MaxDepth
	// once its Extended JSON values are read.
	if jsonDepth(trimmed, MaxDepth+extJSONWrap) {
		return nil, errTooDeep(field)
	}
	// Stored plans are JSON, which would turn invalid bytes into U+FFFD:
	// the plan that runs would not be the one accepted.
	if !utf8.Valid(trimmed) {
		return nil, fieldErr(field, "must be UTF-8 text")
	}
	var probe any
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return nil, jsonErr(field, trimmed, err)
	}
	if _, ok := probe.(map[string]any); !ok {
		return nil, fieldErr(field, "must be a JSON object")
	}
	var d bson.D
	if err := bson.UnmarshalExtJSON(trimmed, false, &d); err != nil {
		return nil, fieldErr(field, "invalid Extended JSON: %v", err)
	}
	return d, nil
}

func (f Format) valid() bool      { return f == NDJSON || f == JSON || f == CSV }
func (c Compression) valid() bool { return c == Zstd || c == Gzip || c == None }

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

func oneOf[T ~string](vals ...T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = fmt.Sprintf("%q", string(v))
	}
	return strings.Join(s, ", ")
}
