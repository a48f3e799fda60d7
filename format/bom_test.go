package format_test

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

const bom = "\xEF\xBB\xBF"

// The byte order mark opens the header and nothing else: the rows, the
// formula guard and the (empty) footer are those of the same plan without it.
func TestCSVBOMHeader(t *testing.T) {
	on := true
	base := request.Request{Format: request.CSV, Fields: csvFields}
	with := base
	with.CSVBOM = &on
	plain, marked := compile(t, base), compile(t, with)
	if !marked.CSVBOM || plain.CSVBOM {
		t.Fatalf("plans: csvBom %v and %v", marked.CSVBOM, plain.CSVBOM)
	}
	encPlain, _ := format.New(plain, format.Info{})
	encMarked, _ := format.New(marked, format.Info{})
	if got, want := string(encMarked.Header()), bom+string(encPlain.Header()); got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
	if len(encMarked.Footer()) != 0 {
		t.Fatalf("footer %q", encMarked.Footer())
	}
	doc := allTypes(t)
	a, err := encPlain.Append(nil, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encMarked.Append(nil, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || bytes.Contains(b, []byte(bom)) {
		t.Fatalf("a row with the byte order mark on differs:\n%q\n%q", b, a)
	}
	// Still the golden row: the guard is unchanged.
	want, err := os.ReadFile(filepath.Join("testdata", "alltypes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeAll(t, marked, doc); string(got) != bom+string(want) {
		t.Fatalf("with the byte order mark:\n got %q\nwant %q", got, bom+string(want))
	}
}

// Through the pipeline: only chunk 0 starts with the byte order mark; the
// chunks concatenated, compressed or not, are one CSV file that starts with
// it once and is otherwise the export without it; a run resumed at a later
// chunk writes the same chunks, none with a byte order mark.
func TestCSVBOMFirstChunkOnly(t *testing.T) {
	docs := devmongo.Tasks(1000)
	on := true
	for _, c := range []request.Compression{request.Gzip, request.Zstd, request.None} {
		t.Run(string(c), func(t *testing.T) {
			req := request.Request{Format: request.CSV, Compression: c, ChunkRecords: 300, BatchSize: 64,
				Fields: []string{"_id", "title", "tags", "createdAt"}, Headers: []string{"ID", "Title", "Tags", "Created At"},
				CSVArrays: request.CSVArraysJoin}
			plain := compile(t, req)
			req.CSVBOM = &on
			p := compile(t, req)

			full := runChunks(t, p, docs, pipeline.Position{})
			if len(full.chunks) != 4 {
				t.Fatalf("%d chunks, want 4", len(full.chunks))
			}
			whole := joinChunks(t, p, full, func(i int, alone []byte) {
				if got := bytes.HasPrefix(alone, []byte(bom)); got != (i == 0) {
					t.Errorf("chunk %d starts with the byte order mark: %v", i, got)
				}
			})
			if !bytes.HasPrefix(whole, []byte(bom)) || bytes.Count(whole, []byte(bom)) != 1 {
				t.Fatalf("the whole export has %d byte order marks, starts with %q", bytes.Count(whole, []byte(bom)), whole[:8])
			}
			without := joinChunks(t, plain, runChunks(t, plain, docs, pipeline.Position{}), nil)
			if !bytes.Equal(whole, append([]byte(bom), without...)) {
				t.Fatal("the export with a byte order mark is not the export without one, after the mark")
			}
			rows, err := csv.NewReader(bytes.NewReader(whole[len(bom):])).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(docs)+1 || rows[0][0] != "ID" || rows[0][2] != "Tags" {
				t.Fatalf("%d rows, header %q", len(rows), rows[0])
			}

			// Resumed after chunk 1 or 2: the same chunks, byte for byte
			// (none of them with a byte order mark, as above).
			wantResumed(t, p, docs, full, 1, 2)
		})
	}
}
