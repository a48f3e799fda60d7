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
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
)

// The request's shape is the service's contract, defined in package api;
// these are its names here, where requests are checked and compiled.
type (
	// Format is an output format.
	Format = api.Format
	// Compression is a chunk compression.
	Compression = api.Compression
	// Request is an export request as clients send it.
	Request = api.Request
	// Options are the old service's sort options.
	Options = api.Options
)

// The output formats and compressions.
const (
	NDJSON = api.NDJSON
	JSON   = api.JSON
	CSV    = api.CSV
	Zstd   = api.Zstd
	Gzip   = api.Gzip
	None   = api.None
)

// Ext is the file name extension of a chunk in format f and compression c,
// for example "ndjson.zst".
func Ext(f Format, c Compression) string { return api.Ext(f, c) }

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

// Decode reads one JSON request. Unknown fields, trailing data, syntax
// errors and a request larger than MaxRequestBytes are refused with an
// error that names the place.
func Decode(data []byte) (*Request, error) {
	if err := CheckSize(data); err != nil {
		return nil, err
	}
	var r Request
	if err := DecodeStrict(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeStrict reads the one JSON object of data into v, as every request
// the service takes is read: unknown fields, trailing data, a wrong type
// and a syntax error are a *FieldError naming the field ("request" when
// there is none to name) and, for a syntax error, the line and column.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonErr("request", data, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fieldErr("request", "unexpected data after the JSON object")
	}
	return nil
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
		return fieldErr(name, "must be a JSON %s, not %s", jsonKind(typ.Type.Kind()), typ.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr(field, "invalid JSON: unexpected end of input")
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(rest); uerr == nil {
			return fieldErr(name, "unknown field")
		}
	}
	return fieldErr(field, "%s", strings.TrimPrefix(msg, "json: "))
}

// jsonKind says a Go kind the way a JSON user would.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	}
	return "number"
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

func oneOf[T ~string](vals ...T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = fmt.Sprintf("%q", string(v))
	}
	return strings.Join(s, ", ")
}
