package format

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/exportd/exportd/extjson"
	"github.com/exportd/exportd/request"
)

// Encoder encodes the documents of one export. It is immutable after New
// and safe for concurrent use.
type Encoder struct {
	kind      request.Format
	canonical bool
	bare      bool // json: a bare array, no envelope
	guard     bool
	sep       string // csv: joins an array's items; "" writes arrays as JSON
	hidden    []string
	columns   [][]string // csv: each column's path segments
	tops      []string   // csv: the distinct first segments of the columns
	byTop     [][]int    // csv: the columns under each of tops
	header    []byte
	footer    []byte
}

// bom is the UTF-8 byte order mark that a csv export may start with.
const bom = "\uFEFF"

// Info is what the json envelope says about the export besides its
// documents. It is fixed when the export is created.
type Info struct {
	GeneratedAt time.Time
}

// New makes the encoder for p.
func New(p *request.Plan, info Info) (*Encoder, error) {
	e := &Encoder{kind: p.Format, canonical: p.Canonical, bare: p.JSONArray, guard: p.FormulaGuard, sep: p.CSVArraySeparator, hidden: p.Hidden}
	if p.Format != request.CSV && (p.CSVBOM || p.CSVArraySeparator != "" || p.CSVNoHeader) {
		return nil, fmt.Errorf("%w: csv options with format %q", ErrUnsupported, p.Format)
	}
	if p.Format != request.JSON && p.JSONArray {
		return nil, fmt.Errorf("%w: a bare json array with format %q", ErrUnsupported, p.Format)
	}
	switch p.Format {
	case request.NDJSON:
	case request.JSON:
		if p.JSONArray {
			// Record 0 starts on a line of its own (see Append): an
			// empty export is "[\n]\n".
			e.header = []byte("[")
			e.footer = []byte("\n]\n")
			break
		}
		head, err := envelopeHeader(p, info)
		if err != nil {
			return nil, err
		}
		e.header = head
		e.footer = []byte("\n]}\n")
	case request.CSV:
		if len(p.Fields) == 0 {
			return nil, fmt.Errorf("%w: csv without fields", ErrUnsupported)
		}
		if p.CSVBOM {
			e.header = append(e.header, bom...)
		}
		for _, f := range p.Fields {
			e.columns = append(e.columns, strings.Split(f, "."))
		}
		if !p.CSVNoHeader {
			e.header = appendHeaderLine(e.header, p)
		}
		for i, path := range e.columns {
			k := slices.Index(e.tops, path[0])
			if k < 0 {
				k = len(e.tops)
				e.tops = append(e.tops, path[0])
				e.byTop = append(e.byTop, nil)
			}
			e.byTop[k] = append(e.byTop[k], i)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupported, p.Format)
	}
	return e, nil
}

// appendHeaderLine appends the csv header line: each column's header, or
// its field path, as a cell, then CRLF.
func appendHeaderLine(dst []byte, p *request.Plan) []byte {
	for i, f := range p.Fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		name := f
		if len(p.Headers) == len(p.Fields) {
			name = p.Headers[i]
		}
		dst = appendCell(dst, name, false)
	}
	return append(dst, "\r\n"...)
}

// envelopeHeader is the json envelope up to the array's first element.
func envelopeHeader(p *request.Plan, info Info) ([]byte, error) {
	mode := "relaxed"
	if p.Canonical {
		mode = "canonical"
	}
	exportInfo := struct {
		GeneratedAt string `json:"generatedAt"`
		Format      string `json:"format"`
		Database    string `json:"database"`
		Collection  string `json:"collection"`
		JSONFormat  string `json:"jsonFormat"`
	}{
		GeneratedAt: info.GeneratedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Format:      string(p.Format),
		Database:    p.Database,
		Collection:  p.Collection,
		JSONFormat:  mode,
	}
	b, err := json.Marshal(exportInfo)
	if err != nil {
		return nil, err
	}
	key, err := json.Marshal(p.ArrayKey)
	if err != nil {
		return nil, err
	}
	head := append([]byte(`{"exportInfo":`), b...)
	head = append(head, ',')
	head = append(head, key...)
	return append(head, ":[\n"...), nil
}

// Header returns the bytes that open the export (the first chunk's start):
// for json, the envelope up to its array's first element, or "[" for a
// bare array; for csv, the byte order mark if the plan asks for one, then
// the header line unless the plan leaves it out. It may be empty. The
// caller must not modify them.
func (e *Encoder) Header() []byte { return e.header }

// Footer returns the bytes that close the export (the last chunk's end).
// The caller must not modify them.
func (e *Encoder) Footer() []byte { return e.footer }

// Append appends record n (0-based, counted over the whole export) to dst.
func (e *Encoder) Append(dst []byte, doc bson.Raw, n int64) ([]byte, error) {
	switch e.kind {
	case request.CSV:
		return e.appendRow(dst, doc)
	case request.JSON:
		switch {
		case n > 0:
			dst = append(dst, ",\n"...)
		case e.bare:
			dst = append(dst, '\n') // after the "[" of the header
		}
	}
	var err error
	if len(e.hidden) > 0 {
		dst, err = e.appendVisible(dst, doc)
	} else {
		dst, err = extjson.AppendDocument(dst, doc, e.canonical)
	}
	if err != nil {
		return dst, err
	}
	if e.kind == request.NDJSON {
		dst = append(dst, '\n')
	}
	return dst, nil
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendVisible encodes doc without the fields that were projected only to
// read the sort key.
func (e *Encoder) appendVisible(dst []byte, doc bson.Raw) ([]byte, error) {
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	idx, buf := bsoncore.AppendDocumentStart((*bp)[:0])
	elems, err := bsoncore.Document(doc).Elements()
	if err != nil {
		return dst, fmt.Errorf("%w: %v", extjson.ErrMalformed, err)
	}
	for _, el := range elems {
		if !contains(e.hidden, el.Key()) {
			buf = append(buf, el...)
		}
	}
	buf, err = bsoncore.AppendDocumentEnd(buf, idx)
	if err != nil {
		return dst, err
	}
	*bp = buf
	return extjson.AppendDocument(dst, bson.Raw(buf), e.canonical)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
