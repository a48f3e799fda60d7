package format_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// withoutFirstLine is b after its first CRLF (the csv header line).
func withoutFirstLine(t *testing.T, b []byte) []byte {
	t.Helper()
	_, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		t.Fatalf("no header line in %q", b)
	}
	return rest
}

// Without its header line a csv export is the rows alone: the export with
// the line, minus its first line; with a byte order mark, the mark, then
// the rows.
func TestCSVNoHeaderBytes(t *testing.T) {
	off, on := false, true
	docs := append([]bson.Raw{allTypes(t)}, devmongo.Tasks(5)...)
	for _, tc := range []struct {
		name string
		docs []bson.Raw
	}{
		{"empty", nil},
		{"one record", docs[:1]},
		{"several", docs},
	} {
		for _, marked := range []bool{false, true} {
			name := tc.name
			if marked {
				name += " bom"
			}
			t.Run(name, func(t *testing.T) {
				with := request.Request{Format: request.CSV, Fields: csvFields, CSVBOM: &marked}
				without := with
				without.CSVHeader = &off
				said := with
				said.CSVHeader = &on
				p := compile(t, without)
				if !p.CSVNoHeader || compile(t, said).CSVNoHeader {
					t.Fatalf("plans: csvNoHeader %v", p.CSVNoHeader)
				}
				full := encodeAll(t, compile(t, with), tc.docs...)
				if !bytes.Equal(encodeAll(t, compile(t, said), tc.docs...), full) {
					t.Fatal("csvHeader true is not the default")
				}
				got := encodeAll(t, p, tc.docs...)
				mark := ""
				if marked {
					mark = bom
				}
				want := append([]byte(mark), withoutFirstLine(t, full[len(mark):])...)
				if !bytes.Equal(got, want) {
					t.Fatalf("got %q\nwant %q", got, want)
				}
				if len(tc.docs) == 0 && string(got) != mark {
					t.Fatalf("empty export %q", got)
				}
				rows, err := csv.NewReader(bytes.NewReader(got[len(mark):])).ReadAll()
				if err != nil || len(rows) != len(tc.docs) {
					t.Fatalf("%d rows: %v", len(rows), err)
				}
			})
		}
	}
}

// The golden rows are those of alltypes.csv, its header line aside.
func TestCSVNoHeaderGolden(t *testing.T) {
	off := false
	want, err := os.ReadFile(filepath.Join("testdata", "alltypes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	got := encodeAll(t, compile(t, request.Request{Format: request.CSV, Fields: csvFields, CSVHeader: &off}), allTypes(t))
	if !bytes.Equal(got, withoutFirstLine(t, want)) {
		t.Fatalf("got %q\nwant %q", got, withoutFirstLine(t, want))
	}
}

// Through the pipeline: no chunk holds the header line; the chunks
// concatenated, compressed or not, are the export with the header minus
// its first line; a run resumed at a later chunk writes the same chunks.
func TestCSVNoHeaderChunks(t *testing.T) {
	docs := devmongo.Tasks(1000)
	off := false
	for _, c := range []request.Compression{request.Gzip, request.Zstd, request.None} {
		t.Run(string(c), func(t *testing.T) {
			req := request.Request{Format: request.CSV, Compression: c, ChunkRecords: 300, BatchSize: 64,
				Fields: []string{"_id", "title", "tags", "createdAt"}, CSVArrays: request.CSVArraysJoin}
			headed := compile(t, req)
			req.CSVHeader = &off
			p := compile(t, req)

			full := runChunks(t, p, docs, pipeline.Position{})
			if len(full.chunks) != 4 {
				t.Fatalf("%d chunks, want 4", len(full.chunks))
			}
			whole := joinChunks(t, p, full, func(i int, alone []byte) {
				if bytes.Contains(alone, []byte("_id,title,tags,createdAt")) {
					t.Errorf("chunk %d holds the header line", i)
				}
			})
			with := joinChunks(t, headed, runChunks(t, headed, docs, pipeline.Position{}), nil)
			if !bytes.Equal(whole, withoutFirstLine(t, with)) {
				t.Fatal("the export without the header line is not the export with it minus its first line")
			}
			rows, err := csv.NewReader(bytes.NewReader(whole)).ReadAll()
			if err != nil || len(rows) != len(docs) {
				t.Fatalf("%d rows: %v", len(rows), err)
			}
			wantResumed(t, p, docs, full, 1, 2, 3)
		})
	}
}

// An empty export without its header line is one empty chunk: a file of
// no rows, which a compressor still makes one valid frame of.
func TestCSVNoHeaderEmptyExport(t *testing.T) {
	off := false
	for _, c := range []request.Compression{request.Gzip, request.Zstd, request.None} {
		p := compile(t, request.Request{Format: request.CSV, Compression: c, Fields: []string{"_id"}, CSVHeader: &off})
		r := runChunks(t, p, nil, pipeline.Position{})
		if len(r.chunks) != 1 || r.chunks[0].Records != 0 || r.chunks[0].RawBytes != 0 {
			t.Fatalf("%s: %d chunks: %+v", c, len(r.chunks), r.chunks)
		}
		if got := inflate(t, p, r.files[0]); len(got) != 0 {
			t.Fatalf("%s: empty export %q", c, got)
		}
	}
}
