package format_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/request"
)

// benchFields are the csv columns a user exporting tasks asks for.
var benchFields = []string{"_id", "title", "description", "status", "priority", "tags",
	"assignee.name", "assignee.email", "createdAt", "dueDate", "completedAt", "estimatedHours"}

// benchDocs is how many distinct tasks the benchmarks cycle through: enough
// for every kind of description and tag list, few enough to stay in cache
// as a cursor batch does.
const benchDocs = 10_000

// BenchmarkAppend measures Encoder.Append on task documents, one document
// per operation. Before timing, every document's output is checked against
// a reference (the driver's Extended JSON, or a csv parser); each timed
// Append must give the checked length. allocs/doc is exact where
// allocs/op rounds down.
func BenchmarkAppend(b *testing.B) {
	docs := make([]bson.Raw, benchDocs)
	var size int64
	for i := range docs {
		docs[i] = devmongo.Task(int64(i))
		size += int64(len(docs[i]))
	}
	cases := []struct {
		name  string
		req   request.Request
		check func(tb testing.TB, enc *format.Encoder, docs []bson.Raw, outs [][]byte)
	}{
		{"ndjson", request.Request{Format: request.NDJSON}, benchCheckExtJSON(false, "", "\n")},
		{"ndjson-canonical", request.Request{Format: request.NDJSON, JSONFormat: "canonical"}, benchCheckExtJSON(true, "", "\n")},
		{"json", request.Request{Format: request.JSON}, benchCheckExtJSON(false, ",\n", "")},
		{"csv", request.Request{Format: request.CSV, Fields: benchFields}, benchCheckCSV},
		{"csv-join", request.Request{Format: request.CSV, Fields: benchFields, CSVArrays: request.CSVArraysJoin}, benchCheckCSVJoined},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tc.req.Database, tc.req.Collection = "app", "tasks"
			p, err := request.Compile(&tc.req)
			if err != nil {
				b.Fatal(err)
			}
			enc, err := format.New(p, format.Info{GeneratedAt: generatedAt})
			if err != nil {
				b.Fatal(err)
			}
			outs := make([][]byte, len(docs))
			sizes := make([]int, len(docs))
			for i, d := range docs {
				if outs[i], err = enc.Append(nil, d, int64(i)); err != nil {
					b.Fatal(err)
				}
				sizes[i] = len(outs[i])
			}
			tc.check(b, enc, docs, outs)

			buf := make([]byte, 0, 64<<10)
			b.SetBytes(size / int64(len(docs)))
			b.ReportAllocs()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			n := 0
			for b.Loop() {
				i := n % len(docs)
				out, err := enc.Append(buf[:0], docs[i], int64(i))
				if err != nil || len(out) != sizes[i] {
					b.Fatalf("record %d: %v, %d bytes, want %d", i, err, len(out), sizes[i])
				}
				n++
			}
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
			b.ReportMetric(float64(ms.Mallocs-mallocs)/float64(n), "allocs/doc")
		})
	}
}

// benchCheckExtJSON checks each record against the driver's Extended JSON
// between sep (for every record but the first) and end.
func benchCheckExtJSON(canonical bool, sep, end string) func(testing.TB, *format.Encoder, []bson.Raw, [][]byte) {
	return func(tb testing.TB, _ *format.Encoder, docs []bson.Raw, outs [][]byte) {
		tb.Helper()
		for i, d := range docs {
			js, err := bson.MarshalExtJSON(d, canonical, false)
			if err != nil {
				tb.Fatal(err)
			}
			want := append([]byte(nil), js...)
			if i > 0 {
				want = append([]byte(sep), want...)
			}
			want = append(want, end...)
			if !bytes.Equal(outs[i], want) {
				tb.Fatalf("record %d differs from the driver:\n got: %q\nwant: %q", i, outs[i], want)
			}
		}
	}
}

// benchCheckCSV parses the header and every row as RFC 4180 and checks the
// column count and each row's _id.
func benchCheckCSV(tb testing.TB, enc *format.Encoder, docs []bson.Raw, outs [][]byte) {
	tb.Helper()
	all := append([]byte(nil), enc.Header()...)
	for _, o := range outs {
		all = append(all, o...)
	}
	r := csv.NewReader(bytes.NewReader(all))
	r.FieldsPerRecord = len(benchFields)
	head, err := r.Read()
	if err != nil {
		tb.Fatal(err)
	}
	if head[0] != "_id" || head[len(head)-1] != "estimatedHours" {
		tb.Fatalf("header %q", head)
	}
	for i := range docs {
		row, err := r.Read()
		if err != nil {
			tb.Fatalf("row %d: %v", i, err)
		}
		if id := devmongo.TaskID(int64(i)).Hex(); row[0] != id {
			tb.Fatalf("row %d: _id %q, want %q", i, row[0], id)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		tb.Fatalf("after the last row: %v, want io.EOF", err)
	}
}

// benchCheckCSVJoined checks the rows as benchCheckCSV does, and each tags
// cell against the document's tags joined by the default separator.
func benchCheckCSVJoined(tb testing.TB, enc *format.Encoder, docs []bson.Raw, outs [][]byte) {
	tb.Helper()
	benchCheckCSV(tb, enc, docs, outs)
	col := slices.Index(benchFields, "tags")
	for i, d := range docs {
		row, err := csv.NewReader(bytes.NewReader(outs[i])).Read()
		if err != nil {
			tb.Fatalf("row %d: %v", i, err)
		}
		var tags []string
		vals, _ := d.Lookup("tags").Array().Values()
		for _, v := range vals {
			tags = append(tags, v.StringValue())
		}
		if want := strings.Join(tags, request.DefaultCSVArraySeparator); row[col] != want {
			tb.Fatalf("row %d: tags %q, want %q", i, row[col], want)
		}
	}
}
