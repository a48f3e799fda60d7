package format_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
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

// chunkRun is one pipeline run's chunks, read back from disk.
type chunkRun struct {
	chunks []api.Chunk
	files  [][]byte // as stored (compressed)
}

func runChunks(t *testing.T, p *request.Plan, docs []bson.Raw, start pipeline.Position) *chunkRun {
	t.Helper()
	enc, err := format.New(p, format.Info{GeneratedAt: generatedAt})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := &chunkRun{}
	_, err = pipeline.Run(context.Background(), pipeline.Config{
		Source: pipeline.NewSlice(docs[start.Record:]), Plan: p, Encoder: enc, Workers: 3, Dir: dir, Start: start,
		Commit: func(_ context.Context, c api.Chunk, _ bool) error {
			r.chunks = append(r.chunks, c)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.chunks {
		data, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		r.files = append(r.files, data)
	}
	return r
}

func inflate(t *testing.T, p *request.Plan, data []byte) []byte {
	t.Helper()
	rd, err := chunker.Decompress(request.Ext(p.Format, p.Compression), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	out, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Through the pipeline: only chunk 0 starts with the byte order mark; the
// chunks concatenated, compressed or not, are one CSV file that starts with
// it once and is otherwise the export without it; a run resumed at a later
// chunk writes the same chunks, none with a byte order mark.
func TestCSVBOMFirstChunkOnly(t *testing.T) {
	docs := make([]bson.Raw, 1000)
	for i := range docs {
		docs[i] = devmongo.Task(int64(i))
	}
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
			var joined, inflated []byte
			for i, f := range full.files {
				alone := inflate(t, p, f)
				if got := bytes.HasPrefix(alone, []byte(bom)); got != (i == 0) {
					t.Errorf("chunk %d starts with the byte order mark: %v", i, got)
				}
				if int64(len(alone)) != full.chunks[i].RawBytes {
					t.Errorf("chunk %d: rawBytes %d, decompressed %d", i, full.chunks[i].RawBytes, len(alone))
				}
				joined = append(joined, f...)
				inflated = append(inflated, alone...)
			}
			whole := inflate(t, p, joined)
			if !bytes.Equal(whole, inflated) {
				t.Fatal("the chunks concatenated do not decompress to the chunks one by one")
			}
			if !bytes.HasPrefix(whole, []byte(bom)) || bytes.Count(whole, []byte(bom)) != 1 {
				t.Fatalf("the whole export has %d byte order marks, starts with %q", bytes.Count(whole, []byte(bom)), whole[:8])
			}
			var without []byte
			for _, f := range runChunks(t, plain, docs, pipeline.Position{}).files {
				without = append(without, inflate(t, plain, f)...)
			}
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

			// Resumed after chunk 1 or 2: the same chunks, byte for byte.
			for _, k := range []int{1, 2} {
				part := runChunks(t, p, docs, pipeline.Position{Chunk: k, Record: int64(k) * p.ChunkRecords})
				if len(part.chunks) != len(full.chunks)-k {
					t.Fatalf("from chunk %d: %d chunks", k, len(part.chunks))
				}
				for i, c := range part.chunks {
					if want := full.chunks[k+i]; c.SHA256 != want.SHA256 || c.Name != want.Name {
						t.Fatalf("from chunk %d: chunk %d differs", k, c.Index)
					}
					if bytes.Contains(inflate(t, p, part.files[i]), []byte(bom)) {
						t.Fatalf("from chunk %d: chunk %d holds a byte order mark", k, c.Index)
					}
				}
			}
		})
	}
}
