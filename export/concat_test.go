package export_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/request"
)

// chunkFile writes data as a chunk file in dir and returns its entry.
func chunkFile(t *testing.T, dir string, index int, data string) (api.Chunk, string) {
	t.Helper()
	c := api.Chunk{Index: index, Name: "chunk-00000" + string(rune('0'+index)) + ".ndjson", Records: 1, RawBytes: int64(len(data)), Bytes: int64(len(data)),
		FirstKey: []byte(`{"_id":1}`), LastKey: []byte(`{"_id":1}`)}
	sum := sha256.Sum256([]byte(data))
	c.SHA256 = hex.EncodeToString(sum[:])
	path := filepath.Join(dir, c.Name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return c, path
}

// A FileOutput holds the recorded chunks, whole: what was appended but
// not recorded is cut off when it is opened again, a chunk put again
// replaces what followed its predecessor, and a file shorter than its
// record is refused.
func TestFileOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := checkpoint.Open(filepath.Join(dir, checkpoint.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	plan, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", Compression: request.None})
	if err != nil {
		t.Fatal(err)
	}
	e := checkpoint.NewExport("", []byte(`{}`), plan, time.Now())
	if _, _, err := store.Create(e); err != nil {
		t.Fatal(err)
	}
	if err := store.SetState(e.ID, api.StateRunning, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "out.partial")
	o, err := export.OpenFileOutput(path, store, e.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	c0, p0 := chunkFile(t, dir, 0, "zero\n")
	c1, p1 := chunkFile(t, dir, 1, "one\n")
	put := func(c api.Chunk, p string) {
		t.Helper()
		if err := o.PutChunk(ctx, e.ID, c.Index, "ndjson", p, c.Bytes, c.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	put(c0, p0)
	if err := store.Commit(e.ID, c0, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	put(c1, p1) // not recorded: a crash before its commit
	put(c1, p1) // a retry puts it again
	if data, _ := os.ReadFile(path); string(data) != "zero\none\n" {
		t.Fatalf("file %q", data)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if o, err = export.OpenFileOutput(path, store, e.ID, ""); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "zero\n" || o.Size() != 5 {
		t.Fatalf("reopened: %q, size %d", data, o.Size())
	}
	bad := c1
	bad.SHA256 = c0.SHA256
	if err := o.PutChunk(ctx, e.ID, 1, "ndjson", p1, bad.Bytes, bad.SHA256); !errors.Is(err, export.ErrMissingChunk) {
		t.Fatalf("a chunk that is not the sealed one: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "zero\n" {
		t.Fatalf("after a refused chunk: %q", data)
	}
	put(c1, p1)
	dst := filepath.Join(dir, "out.ndjson")
	if err := o.Finish(dst); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(dst); string(data) != "zero\none\n" {
		t.Fatalf("finished: %q", data)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = export.OpenFileOutput(path, store, e.ID, "")
	if want := path + " holds 0 bytes, less than the 5 bytes of its 1 recorded chunk"; !errors.Is(err, export.ErrOutputDamaged) || !strings.Contains(err.Error(), want) {
		t.Fatalf("a file shorter than its record: %v, want %q", err, want)
	}
}

// A StreamOutput writes each chunk once, in order.
func TestStreamOutput(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var b bytes.Buffer
	s := export.NewStreamOutput(&b)
	c0, p0 := chunkFile(t, dir, 0, "zero\n")
	c1, p1 := chunkFile(t, dir, 1, "one\n")
	for _, c := range []struct {
		c api.Chunk
		p string
	}{{c0, p0}, {c0, p0}, {c1, p1}} {
		if err := s.PutChunk(ctx, "x", c.c.Index, "ndjson", c.p, c.c.Bytes, c.c.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	if b.String() != "zero\none\n" {
		t.Fatalf("stream %q", b.String())
	}
	if err := s.PutChunk(ctx, "x", 3, "ndjson", p1, c1.Bytes, c1.SHA256); err == nil {
		t.Fatal("a chunk out of order was written")
	}
}
