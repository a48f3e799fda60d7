package objstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
)

const exportID = "abcdefghijklmnopqrstuvwxyz"

// newStore opens a Store on srv's bucket under prefix; edit may change
// the Config first.
func newStore(tb testing.TB, srv *s3test.Server, prefix string, edit func(*objstore.Config)) *objstore.Store {
	tb.Helper()
	cfg := srv.Config(prefix)
	if edit != nil {
		edit(&cfg)
	}
	s, err := objstore.New(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// writeChunk writes n pseudo-random bytes (from seed) into dir and returns
// the file's path, bytes and hex SHA-256.
func writeChunk(tb testing.TB, dir string, n int, seed uint64) (string, []byte, string) {
	tb.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(dir, "chunk-"+hex.EncodeToString([]byte{byte(seed)}))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return path, data, hex.EncodeToString(sum[:])
}

// readAll opens key and reads it whole.
func readAll(t *testing.T, s *objstore.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != o.Size() {
		t.Errorf("read %d bytes of %s, Size %d", len(b), key, o.Size())
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "team/exports", nil)
	ctx := context.Background()
	dir := t.TempDir()

	var want [][]byte
	for i, n := range []int{0, 1, 300 << 10} {
		path, data, sum := writeChunk(t, dir, n, uint64(i))
		if err := s.PutChunk(ctx, exportID, i, "ndjson.zst", path, int64(n), sum); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		want = append(want, data)
	}
	manifest := []byte(`{"chunks":3}` + "\n")
	if err := s.PutManifest(ctx, exportID, manifest); err != nil {
		t.Fatal(err)
	}

	infos, err := s.List(ctx, exportID)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, in := range infos {
		keys = append(keys, in.Key)
	}
	wantKeys := []string{
		"team/exports/" + exportID + "/chunk-000000.ndjson.zst",
		"team/exports/" + exportID + "/chunk-000001.ndjson.zst",
		"team/exports/" + exportID + "/chunk-000002.ndjson.zst",
		"team/exports/" + exportID + "/manifest.json",
	}
	if strings.Join(keys, " ") != strings.Join(wantKeys, " ") {
		t.Fatalf("List = %q, want %q", keys, wantKeys)
	}
	for i, data := range want {
		key, _ := s.ChunkKey(exportID, i, "ndjson.zst")
		if got := readAll(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("chunk %d: read %d bytes that differ from the %d put", i, len(got), len(data))
		}
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(data)) || info.ETag == "" || info.ModTime.IsZero() {
			t.Errorf("Stat(%s) = %+v", key, info)
		}
		sum := sha256.Sum256(data)
		if got, want := info.ChecksumSHA256, b64(sum[:]); got != want {
			t.Errorf("Stat(%s).ChecksumSHA256 = %q, want %q", key, got, want)
		}
	}
	mkey, _ := s.ManifestKey(exportID)
	if got := readAll(t, s, mkey); !bytes.Equal(got, manifest) {
		t.Errorf("manifest = %q, want %q", got, manifest)
	}
}

func TestMultipart(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "", func(c *objstore.Config) { c.PartSize = 5 << 20 })
	ctx := context.Background()
	n := 12<<20 + 123 // three parts, the last one short
	path, data, sum := writeChunk(t, t.TempDir(), n, 7)

	t.Run("wrong SHA-256 is not completed", func(t *testing.T) {
		wrong := strings.Repeat("0", 64)
		err := s.PutChunk(ctx, exportID, 0, "csv.gz", path, int64(n), wrong)
		if !errors.Is(err, objstore.ErrChecksum) {
			t.Fatalf("PutChunk with a wrong SHA-256: %v, want ErrChecksum", err)
		}
		key, _ := s.ChunkKey(exportID, 0, "csv.gz")
		if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("Stat after the refused upload: %v, want ErrNotFound", err)
		}
		if uploads := incompleteUploads(t, srv); uploads != 0 {
			t.Errorf("%d multipart uploads left, want 0 (aborted)", uploads)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		if err := s.PutChunk(ctx, exportID, 0, "csv.gz", path, int64(n), sum); err != nil {
			t.Fatal(err)
		}
		key, _ := s.ChunkKey(exportID, 0, "csv.gz")
		if got := readAll(t, s, key); !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes that differ from the %d put", len(got), len(data))
		}
		info, err := s.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("multipart object: ETag %s, x-amz-checksum-sha256 %q", info.ETag, info.ChecksumSHA256)
	})
}

func TestChecksumRefusedByServer(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "p", nil)
	ctx := context.Background()
	path, _, sum := writeChunk(t, t.TempDir(), 64<<10, 1)
	other := sha256.Sum256([]byte("other bytes"))

	err := s.PutChunk(ctx, exportID, 0, "ndjson", path, 64<<10, hex.EncodeToString(other[:]))
	if !errors.Is(err, objstore.ErrChecksum) {
		t.Fatalf("PutChunk with another file's SHA-256: %v, want ErrChecksum", err)
	}
	t.Logf("server's refusal: %v", err)
	key, _ := s.ChunkKey(exportID, 0, "ndjson")
	if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after the refused PUT: %v, want ErrNotFound", err)
	}

	for name, c := range map[string]struct {
		size int64
		sum  string
		want error
	}{
		"not hex":    {64 << 10, "xyz", objstore.ErrChecksum},
		"too short":  {64 << 10, sum[:62], objstore.ErrChecksum},
		"wrong size": {64<<10 + 1, sum, objstore.ErrSize},
	} {
		if err := s.PutChunk(ctx, exportID, 0, "ndjson", path, c.size, c.sum); !errors.Is(err, c.want) {
			t.Errorf("%s: PutChunk: %v, want %v", name, err, c.want)
		}
	}
}

func TestRangedReads(t *testing.T) {
	srv := s3test.Spawn(t)
	counter := &countingTransport{base: http.DefaultTransport}
	s := newStore(t, srv, "", func(c *objstore.Config) { c.Transport = counter })
	ctx := context.Background()
	n := 4 << 20
	path, data, sum := writeChunk(t, t.TempDir(), n, 3)
	if err := s.PutChunk(ctx, exportID, 5, "json", path, int64(n), sum); err != nil {
		t.Fatal(err)
	}
	key, _ := s.ChunkKey(exportID, 5, "json")
	o, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Size() != int64(n) || o.ETag() == "" || o.ModTime().IsZero() {
		t.Fatalf("Open: size %d, ETag %q, ModTime %v", o.Size(), o.ETag(), o.ModTime())
	}

	// The tail from the middle: one GET of bytes=mid-, and only the tail's
	// bytes (and the socket's buffers) come over the wire.
	mid := int64(n/2 + 17)
	counter.reset()
	if pos, err := o.Seek(mid, io.SeekStart); err != nil || pos != mid {
		t.Fatalf("Seek(%d) = %d, %v", mid, pos, err)
	}
	if got := counter.requests(); got != 0 {
		t.Fatalf("Seek sent %d requests, want 0", got)
	}
	tail := make([]byte, 1000)
	if _, err := io.ReadFull(o, tail); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tail, data[mid:mid+1000]) {
		t.Fatal("bytes read after Seek differ from the put ones")
	}
	if got := counter.received(); got > 64<<10 {
		t.Fatalf("reading 1000 bytes after Seek received %d bytes", got)
	}
	rest, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(rest, data[mid+1000:]) {
		t.Fatalf("rest of the tail: %d bytes, %v", len(rest), err)
	}
	if got := counter.requests(); got != 1 {
		t.Errorf("reading the tail sent %d requests, want 1", got)
	}
	if ranges := counter.ranges(); len(ranges) != 1 || ranges[0] != "bytes="+itoa(mid)+"-" {
		t.Errorf("Range headers sent = %q, want one bytes=%d-", ranges, mid)
	}
	if got, tailSize := counter.received(), int64(n)-mid; got != tailSize {
		t.Errorf("received %d bytes for a tail of %d", got, tailSize)
	}

	// The last ten bytes, from the end.
	if _, err := o.Seek(-10, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	last, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(last, data[n-10:]) {
		t.Fatalf("last 10 bytes: %q, %v", last, err)
	}

	// Past the end: Seek is allowed, Read says io.EOF.
	if pos, err := o.Seek(int64(n)+100, io.SeekStart); err != nil || pos != int64(n)+100 {
		t.Fatalf("Seek past the end = %d, %v", pos, err)
	}
	if k, err := o.Read(make([]byte, 10)); k != 0 || err != io.EOF {
		t.Fatalf("Read past the end = %d, %v, want 0, io.EOF", k, err)
	}
	if k, err := o.ReadAt(make([]byte, 10), int64(n)); k != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v, want 0, io.EOF", k, err)
	}

	// Back to the start, and ReadAt a range in the middle.
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 100)
	if _, err := io.ReadFull(o, head); err != nil || !bytes.Equal(head, data[:100]) {
		t.Fatalf("head after Seek(0): %v", err)
	}
	at := make([]byte, 4096)
	if k, err := o.ReadAt(at, 1<<20); k != len(at) || err != nil || !bytes.Equal(at, data[1<<20:1<<20+4096]) {
		t.Fatalf("ReadAt(1 MiB) = %d, %v", k, err)
	}
	// A read across the end returns what there is and io.EOF.
	k, err := o.ReadAt(make([]byte, 100), int64(n-40))
	if k != 40 || err != io.EOF {
		t.Fatalf("ReadAt across the end = %d, %v, want 40, io.EOF", k, err)
	}
}

func TestNotFoundAndErrors(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "", nil)
	ctx := context.Background()
	key, _ := s.ChunkKey(exportID, 9, "ndjson")

	if _, err := s.Open(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Open of a missing object: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat of a missing object: %v, want ErrNotFound", err)
	}
	if infos, err := s.List(ctx, exportID); err != nil || len(infos) != 0 {
		t.Errorf("List of a missing export = %v, %v", infos, err)
	}

	cases := map[string]struct {
		edit func(*objstore.Config)
		want error
	}{
		"missing bucket": {func(c *objstore.Config) { c.Bucket = "no-such-bucket" }, objstore.ErrBucketNotFound},
		"wrong secret":   {func(c *objstore.Config) { c.SecretAccessKey = "WRONG-" + srv.SecretKey }, objstore.ErrAccessDenied},
		"unknown key":    {func(c *objstore.Config) { c.AccessKeyID = "NOSUCHKEY" }, objstore.ErrAccessDenied},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := srv.Config("")
			c.edit(&cfg)
			_, err := objstore.New(ctx, cfg)
			if !errors.Is(err, c.want) {
				t.Fatalf("New: %v, want %v", err, c.want)
			}
			noSecret(t, err.Error(), srv.SecretKey, cfg.SecretAccessKey)
			t.Logf("%v", err)
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		down := s3test.Spawn(t)
		cfg := down.Config("")
		cfg.MaxRetries = 1
		down.Kill()
		_, err := objstore.New(ctx, cfg)
		if !errors.Is(err, objstore.ErrUnreachable) {
			t.Fatalf("New on a killed server: %v, want ErrUnreachable", err)
		}
		noSecret(t, err.Error(), down.SecretKey)
	})
}

func TestBadNames(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "a/b", nil)
	ctx := context.Background()
	for _, key := range []string{
		"a/b/../x/manifest.json",
		"a/b/" + exportID + "/../manifest.json",
		"a/b/" + exportID + "/..",
		"other/" + exportID + "/manifest.json",
		"a/b/" + exportID,
		"a/b/bad id/manifest.json",
		"a/b/" + exportID + "/sub/manifest.json",
	} {
		if _, err := s.Open(ctx, key); !errors.Is(err, objstore.ErrBadName) {
			t.Errorf("Open(%q): %v, want ErrBadName", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrBadName) {
			t.Errorf("Stat(%q): %v, want ErrBadName", key, err)
		}
	}
	for _, c := range []struct {
		id    string
		index int
		ext   string
		msg   string
	}{
		{"", 0, "ndjson", `export id ""`},
		{"../x", 0, "ndjson", `export id "../x"`},
		{"a/b", 0, "ndjson", `export id "a/b"`},
		{strings.Repeat("a", 129), 0, "ndjson", "1 to 128"},
		{exportID, -1, "ndjson", "chunk index -1 is negative"},
		{exportID, 0, "", `chunk extension ""`},
		{exportID, 0, ".zst", `chunk extension ".zst"`},
		{exportID, 0, "ndjson..zst", `chunk extension "ndjson..zst"`},
		{exportID, 0, "zst/../x", `chunk extension "zst/../x"`},
	} {
		_, err := s.ChunkKey(c.id, c.index, c.ext)
		if !errors.Is(err, objstore.ErrBadName) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ChunkKey(%q, %d, %q): %v, want ErrBadName saying %s", c.id, c.index, c.ext, err, c.msg)
		}
	}
	if err := s.DeleteExport(ctx, "x/.."); !errors.Is(err, objstore.ErrBadName) {
		t.Errorf("DeleteExport(x/..): %v, want ErrBadName", err)
	}
}

func TestDeleteExport(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "del", nil)
	ctx := context.Background()
	dir := t.TempDir()
	other := "zzzzzzzzzzzzzzzzzzzzzzzzzz"
	for _, id := range []string{exportID, other} {
		for i := range 3 {
			path, _, sum := writeChunk(t, dir, 1000+i, uint64(i))
			if err := s.PutChunk(ctx, id, i, "ndjson", path, int64(1000+i), sum); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutManifest(ctx, id, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteExport(ctx, exportID); err != nil {
		t.Fatal(err)
	}
	if infos, err := s.List(ctx, exportID); err != nil || len(infos) != 0 {
		t.Fatalf("List after DeleteExport = %d objects, %v", len(infos), err)
	}
	if infos, err := s.List(ctx, other); err != nil || len(infos) != 4 {
		t.Fatalf("the other export: %d objects, %v; want 4", len(infos), err)
	}
	if err := s.DeleteExport(ctx, exportID); err != nil {
		t.Fatalf("DeleteExport of an empty export: %v", err)
	}
}

func TestPresign(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "pre", nil)
	ctx := context.Background()
	path, data, sum := writeChunk(t, t.TempDir(), 10000, 4)
	if err := s.PutChunk(ctx, exportID, 0, "csv", path, 10000, sum); err != nil {
		t.Fatal(err)
	}
	key, _ := s.ChunkKey(exportID, 0, "csv")
	u, err := s.Presign(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(u, srv.SecretKey) {
		t.Fatal("the presigned URL holds the secret key")
	}

	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("GET: %s, %d bytes", resp.Status, len(body))
	}

	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) {
		t.Fatalf("GET Range bytes=100-199: %s, %d bytes", resp.Status, len(body))
	}
	if got := resp.Header.Get("Content-Range"); got != "bytes 100-199/10000" {
		t.Errorf("Content-Range = %q", got)
	}

	if _, err := s.Presign(ctx, key, 8*24*time.Hour); !errors.Is(err, objstore.ErrConfig) {
		t.Errorf("Presign for 8 days: %v, want ErrConfig", err)
	}
}

// TestContextEndsRetries kills the server and checks that a PUT, which
// minio-go would retry ten times with backoff, ends with its context.
func TestContextEndsRetries(t *testing.T) {
	srv := s3test.Spawn(t)
	s := newStore(t, srv, "", nil)
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.PutManifest(ctx, exportID, []byte("{}"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PutManifest on a killed server: %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("PutManifest took %v after a 300ms deadline", took)
	}
}

// incompleteUploads counts the multipart uploads in progress in srv's
// bucket.
func incompleteUploads(t *testing.T, srv *s3test.Server) int {
	t.Helper()
	n := 0
	for u := range srv.Client(t).ListIncompleteUploads(context.Background(), srv.Bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("list multipart uploads: %v", u.Err)
		}
		n++
	}
	return n
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// noSecret fails the test if s holds one of the secrets.
func noSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			t.Errorf("%q holds a secret", s)
		}
	}
}

// countingTransport counts the response bytes read and the Range headers
// sent.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs int
	n    int64
	rngs []string
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs++
	if r := req.Header.Get("Range"); r != "" {
		c.rngs = append(c.rngs, r)
	}
	c.mu.Unlock()
	resp, err := c.base.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs, c.n, c.rngs = 0, 0, nil
}

func (c *countingTransport) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reqs
}

func (c *countingTransport) received() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingTransport) ranges() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.rngs...)
}

type countingBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.n += int64(n)
	b.c.mu.Unlock()
	return n, err
}
