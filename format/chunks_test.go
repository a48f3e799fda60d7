package format_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// The helpers of the tests that take an encoder through the pipeline: the
// chunks it writes, read back and joined as a client joins them.

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

// joinChunks checks that r's chunks concatenated as stored decompress to
// the chunks decompressed one by one, each of its recorded raw size, and
// returns the whole export. each, when not nil, is shown every chunk
// decompressed.
func joinChunks(t *testing.T, p *request.Plan, r *chunkRun, each func(i int, alone []byte)) []byte {
	t.Helper()
	var joined, inflated []byte
	for i, f := range r.files {
		alone := inflate(t, p, f)
		if int64(len(alone)) != r.chunks[i].RawBytes {
			t.Errorf("chunk %d: rawBytes %d, decompressed %d", i, r.chunks[i].RawBytes, len(alone))
		}
		if each != nil {
			each(i, alone)
		}
		joined = append(joined, f...)
		inflated = append(inflated, alone...)
	}
	whole := inflate(t, p, joined)
	if !bytes.Equal(whole, inflated) {
		t.Fatal("the chunks concatenated do not decompress to the chunks one by one")
	}
	return whole
}

// wantResumed runs the export again from each chunk of from, as a resume
// after it does, and checks that it writes the chunks of full from there,
// byte for byte.
func wantResumed(t *testing.T, p *request.Plan, docs []bson.Raw, full *chunkRun, from ...int) {
	t.Helper()
	for _, k := range from {
		start := pipeline.Position{Chunk: k}
		for _, c := range full.chunks[:k] {
			start.Record += c.Records
		}
		part := runChunks(t, p, docs, start)
		if len(part.chunks) != len(full.chunks)-k {
			t.Fatalf("from chunk %d: %d chunks, want %d", k, len(part.chunks), len(full.chunks)-k)
		}
		for i, c := range part.chunks {
			want := full.chunks[k+i]
			if c.SHA256 != want.SHA256 || c.Name != want.Name || c.RawBytes != want.RawBytes || !bytes.Equal(part.files[i], full.files[k+i]) {
				t.Fatalf("from chunk %d: chunk %d differs", k, c.Index)
			}
		}
	}
}
