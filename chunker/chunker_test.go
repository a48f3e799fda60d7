package chunker_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
)

func TestSealMakesTheFileAppearWhole(t *testing.T) {
	dir := t.TempDir()
	var steps []string
	hooks := chunker.Hooks{
		AfterWrite:  func(string) { steps = append(steps, "write") },
		AfterSync:   func(string) { steps = append(steps, "sync") },
		AfterRename: func(string) { steps = append(steps, "rename") },
	}
	name := chunker.Name(7, "csv.gz")
	if name != "chunk-000007.csv.gz" {
		t.Fatalf("Name = %s", name)
	}
	f, err := chunker.Create(dir, name, hooks)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("row,1\r\n"), 1000)
	f.Write(data[:100])
	f.Write(data[100:])
	if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
		t.Fatal("the final name exists before Seal")
	}
	size, sum, err := f.Seal()
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if size != int64(len(data)) || sum != hex.EncodeToString(want[:]) {
		t.Fatalf("Seal = %d %s", size, sum)
	}
	got, _ := os.ReadFile(filepath.Join(dir, name))
	if !bytes.Equal(got, data) || strings.Join(steps, " ") != "write sync rename" {
		t.Fatalf("file %d bytes, steps %v", len(got), steps)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("%d files left", len(entries))
	}
}

func TestAbortAndRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	f, _ := chunker.Create(dir, chunker.Name(0, "ndjson"), chunker.Hooks{})
	f.Write([]byte("half"))
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %d files", len(entries))
	}
	// What a crash leaves behind.
	g, _ := chunker.Create(dir, chunker.Name(1, "ndjson"), chunker.Hooks{})
	g.Write([]byte("half"))
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644)
	removed, err := chunker.RemoveTemps(dir)
	if err != nil || len(removed) != 1 || !chunker.IsTemp(removed[0]) {
		t.Fatalf("RemoveTemps = %v, %v", removed, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal("RemoveTemps removed a file that is not its own")
	}
}

func TestCreateRefusesPaths(t *testing.T) {
	for _, name := range []string{"", "../x", "a/b", ".chunk-000001.ndjson.tmp"} {
		if _, err := chunker.Create(t.TempDir(), name, chunker.Hooks{}); err == nil {
			t.Errorf("Create(%q) accepted", name)
		}
	}
}

func TestWriteFaultIsAPathError(t *testing.T) {
	dir := t.TempDir()
	f, _ := chunker.Create(dir, chunker.Name(0, "ndjson"), chunker.Hooks{BeforeWrite: func(_ string, written int64, n int) error {
		if written+int64(n) > 10 {
			return syscall.ENOSPC
		}
		return nil
	}})
	if _, err := f.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	_, err := f.Write([]byte("1234567890"))
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("err = %v", err)
	}
	f.Abort()
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := chunker.ReadManifest(dir); !errors.Is(err, chunker.ErrNoManifest) {
		t.Fatalf("no manifest: %v", err)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &api.Manifest{ID: "x", State: api.StateRunning, CreatedAt: now, StartedAt: &now, Records: 3,
		Chunks: []api.Chunk{{Index: 0, Name: chunker.Name(0, "ndjson"), Records: 3, FirstKey: []byte(`{"_id":1}`), LastKey: []byte(`{"_id":3}`)}}}
	if err := chunker.WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	back, err := chunker.ReadManifest(dir)
	if err != nil || back.Records != 3 || len(back.Chunks) != 1 || !back.CreatedAt.Equal(now) {
		t.Fatalf("ReadManifest = %+v, %v", back, err)
	}
	empty := &api.Manifest{ID: "y"}
	chunker.WriteManifest(dir, empty)
	raw, _ := os.ReadFile(filepath.Join(dir, chunker.ManifestName))
	if !bytes.Contains(raw, []byte(`"chunks": []`)) {
		t.Fatalf("an export without chunks lists null chunks: %s", raw)
	}
}

func TestDecompressConcatenatedChunks(t *testing.T) {
	var all []byte
	for _, part := range []string{"first\n", "second\n"} {
		var b bytes.Buffer
		w, _ := zstd.NewWriter(&b)
		w.Write([]byte(part))
		w.Close()
		all = append(all, b.Bytes()...)
	}
	r, err := chunker.Decompress("chunk-000000.ndjson.zst", bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, _ := io.ReadAll(r)
	if string(out) != "first\nsecond\n" {
		t.Fatalf("Decompress = %q", out)
	}
	r2, _ := chunker.Decompress("chunk-000000.csv", strings.NewReader("a,b\r\n"))
	if out, _ := io.ReadAll(r2); string(out) != "a,b\r\n" {
		t.Fatalf("plain = %q", out)
	}
}
