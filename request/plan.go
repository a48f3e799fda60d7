package request

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Plan is a checked request with every default applied: all that an export
// needs to run, and all that its output depends on (with the export's
// creation time). Plans are kept in checkpoints and must not change meaning
// between versions.
type Plan struct {
	Database    string      `json:"database"`
	Collection  string      `json:"collection"`
	Format      Format      `json:"format"`
	Compression Compression `json:"compression"`
	// Canonical selects canonical Extended JSON over relaxed.
	Canonical bool `json:"canonical"`
	// Filter is the query, nil for all documents.
	Filter bson.D `json:"-"`
	// Sort is the resolved sort; its last key is always _id.
	Sort bson.D `json:"-"`
	// SortKeys are Sort's field paths and directions, in order.
	SortKeys []SortKey `json:"sortKeys"`
	// Fields are the requested field paths; nil means all fields.
	Fields []string `json:"fields,omitempty"`
	// Projection is what the cursor asks for: Fields plus the sort paths
	// that Fields lacks (nil when Fields is nil).
	Projection bson.D `json:"-"`
	// Hidden are top-level fields that the projection adds only for the
	// sort key; document encoders leave them out.
	Hidden       []string `json:"hidden,omitempty"`
	ChunkRecords int64    `json:"chunkRecords"`
	ChunkBytes   int64    `json:"chunkBytes"`
	BatchSize    int32    `json:"batchSize"`
	// Skip is how many records of the sorted result come before the
	// export's first; Limit, when not 0, is how many it exports at most.
	// 0 for both (as in every plan stored before they existed) exports
	// every record.
	Skip  int64 `json:"skip,omitempty"`
	Limit int64 `json:"limit,omitempty"`
	// ProgressEvery is how many records pass between progress events.
	ProgressEvery int64 `json:"progressEvery"`
	FormulaGuard  bool  `json:"formulaGuard"`
	// ArrayKey names the json envelope's array.
	ArrayKey string `json:"arrayKey"`
	// Headers name the csv columns (nil: the field paths).
	Headers []string `json:"headers,omitempty"`
	// CSVArraySeparator, when set, makes a csv cell holding an array its
	// items' text joined by it; empty (as in every plan stored before it
	// existed) keeps the array's relaxed Extended JSON.
	CSVArraySeparator string `json:"csvArraySeparator,omitempty"`
	// CSVBOM starts the export's first chunk with a UTF-8 byte order mark;
	// false (as in every plan stored before it existed) writes none.
	CSVBOM bool `json:"csvBom,omitempty"`
	// CSVNoHeader leaves out the csv header line; false (as in every plan
	// stored before it existed) writes it.
	CSVNoHeader bool `json:"csvNoHeader,omitempty"`
	// JSONArray makes format json a bare array of the documents; false (as
	// in every plan stored before it existed) writes the envelope.
	JSONArray bool `json:"jsonArray,omitempty"`
}

// SortKey is one component of the export order.
type SortKey struct {
	Path string `json:"path"`
	// Desc is true for a descending component.
	Desc bool `json:"desc,omitempty"`
}

// refused are the query operators that run code on the server.
var refused = map[string]bool{"$where": true, "$function": true, "$accumulator": true}

// namespace names: what MongoDB allows, minus what would surprise in a path.
var (
	dbName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`)
	collName = regexp.MustCompile(`^[^\x00$]{1,255}$`)
	arrayKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// Compile checks r and resolves it into a Plan. The error, if any, is a
// *FieldError naming the first wrong field.
func Compile(r *Request) (*Plan, error) {
	p := &Plan{
		Database:      r.Database,
		Collection:    r.Collection,
		Format:        r.Format,
		Compression:   r.Compression,
		ChunkRecords:  r.ChunkRecords,
		ChunkBytes:    r.ChunkBytes,
		ProgressEvery: r.ProgressEvery,
		FormulaGuard:  r.CSVFormulaGuard == nil || *r.CSVFormulaGuard,
		ArrayKey:      r.ArrayKey,
	}
	applyDefaults(p, r)

	if !dbName.MatchString(p.Database) {
		return nil, fieldErr("database", "must be 1 to 63 letters, digits, '_' or '-', got %s", quote(p.Database))
	}
	if !collName.MatchString(p.Collection) || strings.HasPrefix(p.Collection, "system.") {
		return nil, fieldErr("collection", "must be a collection name (1 to 255 bytes, no '$' or NUL, not system.*), got %s", quote(p.Collection))
	}
	if n := len(p.Database) + 1 + len(p.Collection); n > MaxNamespaceLen {
		return nil, fieldErr("collection", "namespace %s is %d bytes, MongoDB allows at most %d", quote(p.Database+"."+p.Collection), n, MaxNamespaceLen)
	}
	if err := checkRequestID(r.RequestID); err != nil {
		return nil, err
	}
	if !p.Format.Valid() {
		return nil, fieldErr("format", "unknown format %s (one of %s)", quote(string(p.Format)), oneOf(NDJSON, JSON, CSV))
	}
	if !p.Compression.Valid() {
		return nil, fieldErr("compression", "unknown compression %s (one of %s)", quote(string(p.Compression)), oneOf(Zstd, Gzip, None))
	}
	switch r.JSONFormat {
	case "", "relaxed":
	case "canonical":
		p.Canonical = true
	default:
		return nil, fieldErr("jsonFormat", "unknown Extended JSON mode %s (one of \"relaxed\", \"canonical\")", quote(r.JSONFormat))
	}
	if p.ChunkRecords < 1 || p.ChunkRecords > MaxChunkRecords {
		return nil, fieldErr("chunkRecords", "must be between 1 and %d, got %d", MaxChunkRecords, p.ChunkRecords)
	}
	if p.ChunkBytes < MinChunkBytes || p.ChunkBytes > MaxChunkBytes {
		return nil, fieldErr("chunkBytes", "must be between %d and %d, got %d", MinChunkBytes, MaxChunkBytes, p.ChunkBytes)
	}
	if r.BatchSize < 0 || r.BatchSize > MaxBatchSize {
		return nil, fieldErr("batchSize", "must be between 1 and %d, got %d", MaxBatchSize, r.BatchSize)
	}
	if r.Skip < 0 {
		return nil, fieldErr("skip", "must be 0 or more, got %d", r.Skip)
	}
	if r.Limit < 0 {
		return nil, fieldErr("limit", "must be 0 (no limit) or more, got %d", r.Limit)
	}
	p.Skip, p.Limit = r.Skip, r.Limit
	if p.ProgressEvery < 1 {
		return nil, fieldErr("progressEvery", "must be at least 1, got %d", p.ProgressEvery)
	}
	if !arrayKey.MatchString(p.ArrayKey) {
		return nil, fieldErr("arrayKey", "must be a plain identifier, got %s", quote(p.ArrayKey))
	}
	if err := compileJSONArray(p, r); err != nil {
		return nil, err
	}

	filter, err := parseExtJSON("filter", r.Filter)
	if err != nil {
		return nil, err
	}
	if err := checkQuery("filter", filter); err != nil {
		return nil, err
	}
	p.Filter = filter

	if err := compileSort(p, r.Sort); err != nil {
		return nil, err
	}
	if err := compileFields(p, r.Fields); err != nil {
		return nil, err
	}
	if len(r.Headers) > 0 {
		if len(r.Headers) != len(r.Fields) {
			return nil, fieldErr("headers", "%d headers for %d fields", len(r.Headers), len(r.Fields))
		}
		for i, h := range r.Headers {
			if len(h) > maxHeaderLen {
				return nil, fieldErr("headers["+strconv.Itoa(i)+"]", "is %d bytes, at most %d", len(h), maxHeaderLen)
			}
		}
		p.Headers = append([]string(nil), r.Headers...)
	}
	if err := compileCSV(p, r); err != nil {
		return nil, err
	}
	if (r.Filters != nil || r.Options != nil) && r.Profile == "" {
		return nil, fieldErr("filters", "filters and options need a profile")
	}
	return p, nil
}

// applyDefaults fills what the request left out, in one place.
func applyDefaults(p *Plan, r *Request) {
	if p.Format == "" {
		p.Format = NDJSON // the lossless one, as mongoexport's default
	}
	if p.Compression == "" {
		p.Compression = Zstd // fast enough not to slow the pipeline, and small
	}
	if p.ChunkRecords == 0 {
		p.ChunkRecords = DefaultChunkRecords // about 40 MB of tasks: a download that finishes
	}
	if p.ChunkBytes == 0 {
		p.ChunkBytes = DefaultChunkBytes // a bound for documents much larger than tasks
	}
	p.BatchSize = int32(r.BatchSize)
	if p.BatchSize == 0 {
		p.BatchSize = DefaultBatchSize // what the old service used; larger gains little
	}
	if p.ProgressEvery == 0 {
		p.ProgressEvery = DefaultProgressEvery // the old service's event rate
	}
	if p.ArrayKey == "" {
		p.ArrayKey = "documents"
	}
}

// checkQuery refuses operators and values that run code on the server,
// anywhere in the query, and a query nested deeper than MaxDepth. The
// query is level 1; its field name is field.
func checkQuery(field string, v any) error {
	return (&queryCheck{path: []string{field}}).check(v)
}

// queryCheck walks a query keeping the path to the current value as a
// stack: the path becomes a string only for an error, so that a wide query
// costs no more than its size.
type queryCheck struct {
	path []string
}

func (q *queryCheck) check(v any) error {
	switch v := v.(type) {
	case bson.D:
		if len(q.path) > MaxDepth {
			return errTooDeep(q.path[0])
		}
		for _, e := range v {
			q.path = append(q.path, "."+e.Key)
			if refused[e.Key] {
				return fieldErr(q.name(), "operator %s runs code on the server and is refused", e.Key)
			}
			if err := q.check(e.Value); err != nil {
				return err
			}
			q.path = q.path[:len(q.path)-1]
		}
	case bson.A:
		if len(q.path) > MaxDepth {
			return errTooDeep(q.path[0])
		}
		for i, x := range v {
			q.path = append(q.path, "["+strconv.Itoa(i)+"]")
			if err := q.check(x); err != nil {
				return err
			}
			q.path = q.path[:len(q.path)-1]
		}
	case bson.JavaScript, bson.CodeWithScope:
		return fieldErr(q.name(), "JavaScript values are refused")
	}
	return nil
}

func (q *queryCheck) name() string { return strings.Join(q.path, "") }

// errTooDeep refuses field for nesting deeper than MaxDepth. It names only
// the top-level field: the path inside would repeat the whole request.
func errTooDeep(field string) error {
	return fieldErr(field, "nested deeper than %d levels (MongoDB's limit)", MaxDepth)
}

// checkPath says what is wrong with a field path, if anything.
func checkPath(path string) string {
	switch {
	case path == "":
		return "empty field path"
	case len(path) > maxFieldPathLen:
		return "field path longer than 1024 bytes"
	case strings.ContainsRune(path, 0):
		return "field path contains a NUL byte"
	}
	for seg := range strings.SplitSeq(path, ".") {
		switch {
		case seg == "":
			return fmt.Sprintf("field path %s has an empty segment", quote(path))
		case strings.HasPrefix(seg, "$"):
			return fmt.Sprintf("field path %s has a segment starting with '$'", quote(path))
		}
	}
	return ""
}

func compileSort(p *Plan, raw []byte) error {
	sort, err := parseExtJSON("sort", raw)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	hasID := false
	for _, e := range sort {
		field := "sort." + e.Key
		if msg := checkPath(e.Key); msg != "" {
			return fieldErr(field, "%s", msg)
		}
		if seen[e.Key] {
			return fieldErr(field, "appears twice")
		}
		seen[e.Key] = true
		dir, ok := direction(e.Value)
		if !ok {
			return fieldErr(field, "must be 1 (ascending) or -1 (descending), got %v", e.Value)
		}
		p.Sort = append(p.Sort, bson.E{Key: e.Key, Value: int32(dir)})
		p.SortKeys = append(p.SortKeys, SortKey{Path: e.Key, Desc: dir < 0})
		if e.Key == "_id" {
			hasID = true
			break // _id is unique: later keys could never decide anything
		}
	}
	if !hasID {
		p.Sort = append(p.Sort, bson.E{Key: "_id", Value: int32(1)})
		p.SortKeys = append(p.SortKeys, SortKey{Path: "_id"})
	}
	return nil
}

func direction(v any) (int, bool) {
	var f float64
	switch v := v.(type) {
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case float64:
		f = v
	case string:
		switch strings.ToLower(v) {
		case "asc", "ascending":
			return 1, true
		case "desc", "descending":
			return -1, true
		}
		return 0, false
	default:
		return 0, false
	}
	switch f {
	case 1:
		return 1, true
	case -1:
		return -1, true
	}
	return 0, false
}

// covers reports whether the projected path f returns the path s.
func covers(f, s string) bool { return f == s || strings.HasPrefix(s, f+".") }

func topSegment(path string) string {
	top, _, _ := strings.Cut(path, ".")
	return top
}

func compileFields(p *Plan, fields []string) error {
	if len(fields) == 0 {
		if p.Format == CSV {
			return fieldErr("fields", "csv needs the list of fields to make columns of")
		}
		return nil
	}
	if len(fields) > maxFields {
		return fieldErr("fields", "at most %d fields, got %d", maxFields, len(fields))
	}
	for i, f := range fields {
		name := "fields[" + strconv.Itoa(i) + "]"
		if msg := checkPath(f); msg != "" {
			return fieldErr(name, "%s", msg)
		}
		for j, g := range fields[:i] {
			if f == g {
				return fieldErr(name, "%s repeats fields[%d]", quote(f), j)
			}
		}
	}
	p.Fields = append([]string(nil), fields...)
	// The projection names each path once: "a" already returns "a.b", and
	// MongoDB refuses both together.
	for i, f := range fields {
		inner := false
		for j, g := range fields {
			if i != j && covers(g, f) && g != f {
				inner = true
			}
		}
		if !inner {
			p.Projection = append(p.Projection, bson.E{Key: f, Value: int32(1)})
		}
	}
	// The sort key must come back with each document; what the fields lack
	// is projected too and, for the document formats, hidden again.
	for _, k := range p.SortKeys {
		if k.Path == "_id" || coveredBy(fields, k.Path) {
			continue
		}
		top := topSegment(k.Path)
		if p.Format != CSV {
			for _, f := range fields {
				if topSegment(f) == top {
					return fieldErr("sort."+k.Path, "sort path is not among the fields but shares %q with field %q: add it to fields", top, f)
				}
			}
			if !slices.Contains(p.Hidden, top) {
				p.Hidden = append(p.Hidden, top)
			}
		}
		p.Projection = append(p.Projection, bson.E{Key: k.Path, Value: int32(1)})
	}
	return nil
}

func coveredBy(fields []string, path string) bool {
	for _, f := range fields {
		if covers(f, path) {
			return true
		}
	}
	return false
}
