package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

func plan(t testing.TB, r request.Request) *request.Plan {
	t.Helper()
	if r.Database == "" {
		r.Database, r.Collection = "app", "tasks"
	}
	p, err := request.Compile(&r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// expected is the whole export's uncompressed stream, made record by record
// without the pipeline.
func expected(t testing.TB, enc *format.Encoder, docs []bson.Raw) []byte {
	t.Helper()
	out := append([]byte(nil), enc.Header()...)
	for i, d := range docs {
		var err error
		if out, err = enc.Append(out, d, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	return append(out, enc.Footer()...)
}

func decompress(t testing.TB, c request.Compression, data []byte) []byte {
	t.Helper()
	r, err := chunker.Decompress(request.Ext(request.NDJSON, c), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type run struct {
	chunks []api.Chunk
	finals []bool
	dir    string
}

func runPipeline(t testing.TB, ctx context.Context, p *request.Plan, enc *format.Encoder, src pipeline.Source, start pipeline.Position, dir string) (*run, error) {
	t.Helper()
	r := &run{dir: dir}
	_, err := pipeline.Run(ctx, pipeline.Config{
		Source: src, Plan: p, Encoder: enc, Workers: 3, Dir: dir, Start: start,
		Commit: func(_ context.Context, c api.Chunk, final bool) error {
			r.chunks = append(r.chunks, c)
			r.finals = append(r.finals, final)
			return nil
		},
	})
	return r, err
}

var generatedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestRunChunksAndFormats(t *testing.T) {
	docs := devmongo.Tasks(2500)
	cases := []struct {
		name string
		req  request.Request
	}{
		{"ndjson zstd by records", request.Request{Format: request.NDJSON, Compression: request.Zstd, ChunkRecords: 700, BatchSize: 128}},
		{"ndjson none by bytes", request.Request{Format: request.NDJSON, Compression: request.None, ChunkBytes: 64 << 10, BatchSize: 1000}},
		{"json gzip by records", request.Request{Format: request.JSON, Compression: request.Gzip, ChunkRecords: 500, BatchSize: 100}},
		{"json zstd canonical", request.Request{Format: request.JSON, JSONFormat: "canonical", ChunkRecords: 1000, BatchSize: 333}},
		{"csv gzip by bytes", request.Request{Format: request.CSV, Compression: request.Gzip, ChunkBytes: 20 << 10, BatchSize: 50,
			Fields: []string{"_id", "title", "description", "assignee.email", "tags", "createdAt", "dueDate", "estimatedHours"}}},
		{"csv none one chunk", request.Request{Format: request.CSV, Compression: request.None, Fields: []string{"title", "seq"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(t, tc.req)
			enc, err := format.New(p, format.Info{GeneratedAt: generatedAt})
			if err != nil {
				t.Fatal(err)
			}
			want := expected(t, enc, docs)
			dir := t.TempDir()
			r, err := runPipeline(t, context.Background(), p, enc, pipeline.NewSlice(docs), pipeline.Position{}, dir)
			if err != nil {
				t.Fatal(err)
			}
			var whole, joined []byte
			var records int64
			for i, c := range r.chunks {
				if c.Index != i || c.Name != chunker.Name(i, request.Ext(p.Format, p.Compression)) {
					t.Fatalf("chunk %d: index %d name %s", i, c.Index, c.Name)
				}
				data, err := os.ReadFile(filepath.Join(dir, c.Name))
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(data)) != c.Bytes {
					t.Errorf("chunk %d: %d bytes on disk, manifest says %d", i, len(data), c.Bytes)
				}
				alone := decompress(t, p.Compression, data)
				if int64(len(alone)) != c.RawBytes {
					t.Errorf("chunk %d: rawBytes %d, decompressed %d", i, c.RawBytes, len(alone))
				}
				if c.Records > p.ChunkRecords {
					t.Errorf("chunk %d: %d records over the bound %d", i, c.Records, p.ChunkRecords)
				}
				if c.RawBytes > p.ChunkBytes+int64(len(enc.Header())+len(enc.Footer())) && c.Records > 1 {
					t.Errorf("chunk %d: %d raw bytes over the bound %d", i, c.RawBytes, p.ChunkBytes)
				}
				last := i == len(r.chunks)-1
				if r.finals[i] && !last || last && len(enc.Footer()) > 0 && !r.finals[i] {
					t.Errorf("chunk %d of %d: final=%v", i, len(r.chunks), r.finals[i])
				}
				whole = append(whole, alone...)
				joined = append(joined, data...)
				records += c.Records
			}
			if records != int64(len(docs)) {
				t.Errorf("%d records in chunks, want %d", records, len(docs))
			}
			if !bytes.Equal(whole, want) {
				t.Fatalf("chunks decompressed one by one differ from the record-by-record stream (%d vs %d bytes)", len(whole), len(want))
			}
			if got := decompress(t, p.Compression, joined); !bytes.Equal(got, want) {
				t.Fatalf("the concatenated chunks are not one valid stream of the export")
			}
			if len(r.chunks) < 2 && tc.name != "csv none one chunk" {
				t.Errorf("only %d chunks: the bounds were not exercised", len(r.chunks))
			}
			assertNoTemps(t, dir)
		})
	}
}

func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if chunker.IsTemp(e.Name()) {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// A run that starts at a chunk boundary writes the same chunks as the
// uninterrupted run from there on: what resume relies on.
func TestRunFromPositionIsIdentical(t *testing.T) {
	docs := devmongo.Tasks(3000)
	for _, f := range []request.Format{request.NDJSON, request.JSON, request.CSV} {
		t.Run(string(f), func(t *testing.T) {
			req := request.Request{Format: f, ChunkRecords: 400, BatchSize: 150}
			if f == request.CSV {
				req.Fields = []string{"_id", "description", "completedAt"}
				req.Compression = request.Gzip
			}
			p := plan(t, req)
			enc, err := format.New(p, format.Info{GeneratedAt: generatedAt})
			if err != nil {
				t.Fatal(err)
			}
			full, err := runPipeline(t, context.Background(), p, enc, pipeline.NewSlice(docs), pipeline.Position{}, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []int{1, 3, len(full.chunks) - 1} {
				start := pipeline.Position{Chunk: k, Record: int64(k) * p.ChunkRecords}
				part, err := runPipeline(t, context.Background(), p, enc, pipeline.NewSlice(docs[start.Record:]), start, t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				if len(part.chunks) != len(full.chunks)-k {
					t.Fatalf("from chunk %d: %d chunks, want %d", k, len(part.chunks), len(full.chunks)-k)
				}
				for i, c := range part.chunks {
					want := full.chunks[k+i]
					if c.SHA256 != want.SHA256 || c.Name != want.Name || string(c.FirstKey) != string(want.FirstKey) || string(c.LastKey) != string(want.LastKey) {
						t.Fatalf("from chunk %d: chunk %d differs:\n got %+v\nwant %+v", k, c.Index, c, want)
					}
				}
			}
		})
	}
}

// slowSource yields documents until it is cancelled, pausing at each batch.
type slowSource struct {
	docs []bson.Raw
	i    int
	hit  chan struct{}
}

func (s *slowSource) Next(ctx context.Context) (bson.Raw, error) {
	if s.i == len(s.docs)/2 {
		close(s.hit)
		<-ctx.Done()
		return nil, context.Cause(ctx)
	}
	d := s.docs[s.i%len(s.docs)]
	s.i++
	return d, nil
}

func TestRunCancelLeavesOnlySealedChunks(t *testing.T) {
	docs := devmongo.Tasks(2000)
	p := plan(t, request.Request{ChunkRecords: 300, BatchSize: 64})
	enc, _ := format.New(p, format.Info{})
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	src := &slowSource{docs: docs, hit: make(chan struct{})}
	done := make(chan struct{})
	var r *run
	var err error
	go func() {
		defer close(done)
		r, err = runPipeline(t, ctx, p, enc, src, pipeline.Position{}, dir)
	}()
	select {
	case <-src.hit:
	case <-time.After(10 * time.Second):
		t.Fatal("source never reached the middle")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertNoTemps(t, dir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(r.chunks) {
		t.Fatalf("%d files in dir, %d chunks committed", len(entries), len(r.chunks))
	}
	for _, c := range r.chunks {
		if _, err := os.Stat(filepath.Join(dir, c.Name)); err != nil {
			t.Errorf("committed chunk %s: %v", c.Name, err)
		}
	}
}

type failingSource struct {
	docs []bson.Raw
	i    int
	at   int
}

func (s *failingSource) Next(context.Context) (bson.Raw, error) {
	if s.i == s.at {
		// As the driver says it: a lost connection wraps io.EOF.
		return nil, fmt.Errorf("connection reset by peer: %w", io.EOF)
	}
	d := s.docs[s.i]
	s.i++
	return d, nil
}

func TestRunErrors(t *testing.T) {
	docs := devmongo.Tasks(1000)
	t.Run("source", func(t *testing.T) {
		p := plan(t, request.Request{ChunkRecords: 100, Format: request.JSON})
		enc, _ := format.New(p, format.Info{})
		dir := t.TempDir()
		r, err := runPipeline(t, context.Background(), p, enc, &failingSource{docs: docs, at: 555}, pipeline.Position{}, dir)
		if err == nil || !strings.Contains(err.Error(), "read record 555") || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("err = %v, want the record number and the cause", err)
		}
		if len(r.chunks) > 5 {
			t.Errorf("%d chunks sealed past the failure", len(r.chunks))
		}
		for i, final := range r.finals {
			if final {
				t.Fatalf("chunk %d was committed as the export's end after a read error", i)
			}
		}
		assertNoTemps(t, dir)
	})
	t.Run("array sort value", func(t *testing.T) {
		p := plan(t, request.Request{Sort: []byte(`{"tags": 1}`)})
		enc, _ := format.New(p, format.Info{})
		_, err := runPipeline(t, context.Background(), p, enc, pipeline.NewSlice(docs), pipeline.Position{}, t.TempDir())
		if !errors.Is(err, pipeline.ErrArraySortKey) || !strings.Contains(err.Error(), "tags") {
			t.Fatalf("err = %v, want ErrArraySortKey naming tags", err)
		}
	})
	t.Run("commit", func(t *testing.T) {
		p := plan(t, request.Request{ChunkRecords: 100, ChunkBytes: 1 << 20, BatchSize: 10, Compression: request.Zstd})
		enc, _ := format.New(p, format.Info{})
		_, err := pipeline.Run(context.Background(), pipeline.Config{
			Source: pipeline.NewSlice(docs), Plan: p, Encoder: enc, Dir: t.TempDir(),
			Commit: func(_ context.Context, c api.Chunk, _ bool) error {
				if c.Index == 2 {
					return errors.New("disk on fire")
				}
				return nil
			},
		})
		if err == nil || !strings.Contains(err.Error(), "commit chunk 2: disk on fire") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("config", func(t *testing.T) {
		_, err := pipeline.Run(context.Background(), pipeline.Config{})
		if !errors.Is(err, pipeline.ErrConfig) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestEmptyExport(t *testing.T) {
	for _, f := range []request.Format{request.NDJSON, request.JSON, request.CSV} {
		t.Run(string(f), func(t *testing.T) {
			req := request.Request{Format: f, Compression: request.None}
			if f == request.CSV {
				req.Fields = []string{"a"}
			}
			p := plan(t, req)
			enc, _ := format.New(p, format.Info{GeneratedAt: generatedAt})
			dir := t.TempDir()
			r, err := runPipeline(t, context.Background(), p, enc, pipeline.NewSlice(nil), pipeline.Position{}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.chunks) != 1 || !r.finals[0] || r.chunks[0].Records != 0 {
				t.Fatalf("chunks %+v finals %v, want one final empty chunk", r.chunks, r.finals)
			}
			data, _ := os.ReadFile(filepath.Join(dir, r.chunks[0].Name))
			if want := string(enc.Header()) + string(enc.Footer()); string(data) != want {
				t.Fatalf("empty export = %q, want %q", data, want)
			}
			if string(r.chunks[0].FirstKey) != "null" {
				t.Errorf("firstKey = %s", r.chunks[0].FirstKey)
			}
		})
	}
}
