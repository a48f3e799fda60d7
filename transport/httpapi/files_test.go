package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
	"github.com/exportd/exportd/request"
)

// objectPair is two servers over the same exports: local serves the
// chunk files from the export directories, as by default; remote serves
// the same files uploaded with PutChunk to a real versitygw, through
// ObjectFiles, and has no export directories.
type objectPair struct {
	local, remote *fixture
	store         *objstore.Store
	s3            *s3test.Server
	log           *s3Log // the store's requests
}

func newObjectPair(t *testing.T) *objectPair {
	t.Helper()
	srv := s3test.Spawn(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	log := &s3Log{base: tr}
	cfg := srv.Config("daily")
	cfg.Transport = log
	store, err := objstore.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	local := newFixture(t, nil)
	h, err := New(Config{Exports: noDirs{local.exports}, Files: ObjectFiles(store)})
	if err != nil {
		t.Fatal(err)
	}
	remote := &fixture{exports: local.exports, h: h, srv: newTestServer(t, h)}
	return &objectPair{local: local, remote: remote, store: store, s3: srv, log: log}
}

// noDirs is the runner's api.Exports without export directories: a
// server with Files set must not ask for one.
type noDirs struct{ *testExports }

func (noDirs) Dir(id string) (string, error) {
	return "", fmt.Errorf("export %s has no local directory", id)
}

// add writes an export as fixture.add does and uploads its chunk files.
func (p *objectPair) add(t *testing.T, state api.State, chunks [][]byte) *testExport {
	t.Helper()
	e := p.local.add(t, state, request.NDJSON, request.Zstd, chunks)
	for _, c := range e.m.Chunks {
		if err := p.store.PutChunk(context.Background(), e.m.ID, c.Index, e.m.Ext, filepath.Join(e.dir, c.Name), c.Bytes, c.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// same sends method path with the headers to both servers, checks that
// both answer status, and that the answers are the same: status, body
// and the headers of a download. A multipart/byteranges boundary, which
// net/http draws at random, is compared as the same.
func (p *objectPair) same(t *testing.T, status int, method, path string, headers ...string) *response {
	t.Helper()
	local := p.local.do(t, method, path, headers...)
	remote := p.remote.do(t, method, path, headers...)
	wantStatus(t, local, status)
	wantStatus(t, remote, status)
	lb, rb := unboundary(local), unboundary(remote)
	if !bytes.Equal(lb, rb) {
		t.Errorf("%s %s %q: the object store's body (%d bytes) differs from the directory's (%d bytes)", method, path, headers, len(rb), len(lb))
	}
	for _, name := range []string{"Content-Length", "Content-Range", "ETag", "Last-Modified", "Content-Disposition", "Accept-Ranges", "Cache-Control"} {
		if l, r := local.Header.Get(name), remote.Header.Get(name); l != r {
			t.Errorf("%s %s %q: %s %q from the object store, %q from the directory", method, path, headers, name, r, l)
		}
	}
	if l, r := unboundaryType(local), unboundaryType(remote); l != r {
		t.Errorf("%s %s %q: Content-Type %q from the object store, %q from the directory", method, path, headers, r, l)
	}
	return remote
}

// unboundary is resp's body with its multipart boundary, if any, made
// "BOUNDARY".
func unboundary(resp *response) []byte {
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if b := params["boundary"]; err == nil && b != "" {
		return bytes.ReplaceAll(resp.body, []byte(b), []byte("BOUNDARY"))
	}
	return resp.body
}

// unboundaryType is resp's Content-Type with its multipart boundary, if
// any, made "BOUNDARY".
func unboundaryType(resp *response) string {
	ct := resp.Header.Get("Content-Type")
	if _, params, err := mime.ParseMediaType(ct); err == nil && params["boundary"] != "" {
		return strings.ReplaceAll(ct, params["boundary"], "BOUNDARY")
	}
	return ct
}

// TestObjectFiles serves a small export's chunks and /data from a
// versitygw and checks every answer, ranges and conditions included,
// byte for byte against the answer from the export directory.
func TestObjectFiles(t *testing.T) {
	p := newObjectPair(t)
	e := p.add(t, api.StateCompleted, zstdChunks(t, 4, 100))
	base := "/exports/" + e.m.ID
	lastModified := e.m.FinishedAt.UTC().Format(http.TimeFormat)
	stale := e.m.FinishedAt.Add(-time.Hour).UTC().Format(http.TimeFormat)

	size1 := len(e.chunks[1])
	b1 := len(e.chunks[0]) // first byte of chunk 1 in /data
	b2 := b1 + size1       // of chunk 2
	b3 := b2 + len(e.chunks[2])
	size := len(e.data())
	for _, route := range []struct {
		path string
		data []byte
	}{
		{base + "/chunks/1", e.chunks[1]},
		{base + "/data", e.data()},
	} {
		etag := p.local.do(t, "HEAD", route.path).Header.Get("ETag")
		n := len(route.data)
		cases := []struct {
			name    string
			method  string
			status  int
			headers []string
		}{
			{"whole", "GET", http.StatusOK, nil},
			{"HEAD", "HEAD", http.StatusOK, nil},
			{"single range", "GET", http.StatusPartialContent, []string{"Range", "bytes=10-99"}},
			{"suffix", "GET", http.StatusPartialContent, []string{"Range", "bytes=-100"}},
			{"open", "GET", http.StatusPartialContent, []string{"Range", "bytes=100-"}},
			{"last byte", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-", n-1)}},
			{"end past the file", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-%d", n-5, n+1000)}},
			{"multiple", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=0-9,50-59,-5,%d-%d", n/2, n/2+7)}},
			{"multiple backwards", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-%d,0-4", n-9, n-2)}},
			{"HEAD of a range", "HEAD", http.StatusPartialContent, []string{"Range", "bytes=5-14"}},
			{"past the end", "GET", http.StatusRequestedRangeNotSatisfiable, []string{"Range", fmt.Sprintf("bytes=%d-", n)}},
			{"suffix of zero", "GET", http.StatusRequestedRangeNotSatisfiable, []string{"Range", "bytes=-0"}},
			{"65 ranges", "GET", http.StatusRequestedRangeNotSatisfiable, []string{"Range", manyRanges(65)}},
			{"If-Range with the ETag", "GET", http.StatusPartialContent, []string{"Range", "bytes=5-14", "If-Range", etag}},
			{"If-Range with a stale ETag", "GET", http.StatusOK, []string{"Range", "bytes=5-14", "If-Range", `"sha256-` + strings.Repeat("0", 64) + `"`}},
			{"If-Range with a weak ETag", "GET", http.StatusOK, []string{"Range", "bytes=5-14", "If-Range", "W/" + etag}},
			{"If-Range with the date", "GET", http.StatusPartialContent, []string{"Range", "bytes=5-14", "If-Range", lastModified}},
			{"If-Range with a stale date", "GET", http.StatusOK, []string{"Range", "bytes=5-14", "If-Range", stale}},
			{"If-None-Match", "GET", http.StatusNotModified, []string{"If-None-Match", etag}},
			{"If-Match stale", "GET", http.StatusPreconditionFailed, []string{"If-Match", `"other"`}},
		}
		if strings.HasSuffix(route.path, "/data") {
			cases = append(cases, []struct {
				name    string
				method  string
				status  int
				headers []string
			}{
				{"across one boundary", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-%d", b1-10, b1+9)}},
				{"across three boundaries", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-%d", b1-1, b3)}},
				{"exactly one chunk", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=%d-%d", b2, b3-1)}},
				{"suffix across a boundary", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=-%d", size-b3+7)}},
				{"multiple across boundaries", "GET", http.StatusPartialContent, []string{"Range", fmt.Sprintf("bytes=0-%d,%d-%d,-3", b1, b2-2, b3+2)}},
			}...)
		}
		for _, tt := range cases {
			t.Run(route.path[len(base):]+"/"+tt.name, func(t *testing.T) {
				resp := p.same(t, tt.status, tt.method, route.path, tt.headers...)
				if tt.name == "whole" && !bytes.Equal(resp.body, route.data) {
					t.Errorf("body: %d bytes, want the %d bytes of the file", len(resp.body), n)
				}
			})
		}
	}
	// The chunks' own ranges, as the existing table checks them against
	// the bytes.
	checkRanges(t, p.remote, base+"/chunks/1", e.chunks[1], []rangeCase{
		{name: "partial", rng: "bytes=10-99", parts: [][2]int{{10, 100}}},
		{name: "suffix", rng: "bytes=-100", parts: [][2]int{{size1 - 100, size1}}},
		{name: "multiple", rng: "bytes=0-9,50-59,-5", parts: [][2]int{{0, 10}, {50, 60}, {size1 - 5, size1}}},
	})
	checkRanges(t, p.remote, base+"/data", e.data(), []rangeCase{
		{name: "whole"},
		{name: "across three boundaries", rng: fmt.Sprintf("bytes=%d-%d", b1-1, b3), parts: [][2]int{{b1 - 1, b3 + 1}}},
	})
}

// TestObjectFilesRequests checks that the object store is read lazily,
// with ranged GETs of what a request needs: a Seek fetches nothing, a
// range of /data GETs only the chunk that holds it, from the range's
// first byte, and HEAD GETs nothing.
func TestObjectFilesRequests(t *testing.T) {
	p := newObjectPair(t)
	e := p.add(t, api.StateCompleted, zstdChunks(t, 4, 100))
	base := "/exports/" + e.m.ID
	key := func(i int) string {
		k, err := p.store.ChunkKey(e.m.ID, i, e.m.Ext)
		if err != nil {
			t.Fatal(err)
		}
		return "/" + p.s3.Bucket + "/" + k
	}
	b2 := int64(len(e.chunks[0]) + len(e.chunks[1]))
	for _, tt := range []struct {
		name, path, rng string
		status          int
		gets            []string // "key range" of each GET, in order
	}{
		{"chunk", base + "/chunks/2", "", http.StatusOK, []string{key(2) + " "}},
		{"chunk range", base + "/chunks/2", "bytes=30-39", http.StatusPartialContent, []string{key(2) + " bytes=30-"}},
		{"chunk suffix", base + "/chunks/2", "bytes=-5", http.StatusPartialContent,
			[]string{fmt.Sprintf("%s bytes=%d-", key(2), len(e.chunks[2])-5)}},
		{"range inside chunk 2", base + "/data", fmt.Sprintf("bytes=%d-%d", b2+5, b2+9), http.StatusPartialContent,
			[]string{key(2) + " bytes=5-"}},
		{"range from chunk 2 into 3", base + "/data", fmt.Sprintf("bytes=%d-%d", b2+5, b2+int64(len(e.chunks[2]))+9), http.StatusPartialContent,
			[]string{key(2) + " bytes=5-", key(3) + " "}},
		{"whole", base + "/data", "", http.StatusOK, []string{key(0) + " ", key(1) + " ", key(2) + " ", key(3) + " "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.rng != "" {
				headers = []string{"Range", tt.rng}
			}
			p.log.take()
			wantStatus(t, p.remote.do(t, "GET", tt.path, headers...), tt.status)
			if got := p.log.gets(); !slices.Equal(got, tt.gets) {
				t.Errorf("GETs %q, want %q", got, tt.gets)
			}
			p.log.take()
			wantStatus(t, p.remote.do(t, "HEAD", tt.path, headers...), tt.status)
			if got := p.log.gets(); len(got) != 0 {
				t.Errorf("HEAD sent GETs %q, want none", got)
			}
		})
	}
}

// TestObjectFilesGone checks the answers once the objects are deleted
// or replaced: 404 "chunk file is gone" as from a directory, and a server
// error for a chunk of the wrong size.
func TestObjectFilesGone(t *testing.T) {
	p := newObjectPair(t)
	ctx := context.Background()
	chunks := zstdChunks(t, 3, 50)

	deleted := p.add(t, api.StateCompleted, chunks)
	base := "/exports/" + deleted.m.ID
	wantStatus(t, p.remote.do(t, "GET", base+"/data"), http.StatusOK)
	if err := p.store.DeleteExport(ctx, deleted.m.ID); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"/chunks/0", "/chunks/2", "/data"} {
		resp := p.remote.do(t, "GET", base+route)
		wantError(t, resp, http.StatusNotFound)
		if !bytes.Contains(resp.body, []byte("chunk file is gone")) {
			t.Errorf("%s: %s, want chunk file is gone", route, resp.body)
		}
		wantStatus(t, p.remote.do(t, "HEAD", base+route, "Range", "bytes=0-0"), http.StatusNotFound)
	}

	// One chunk of three gone: /data fails before its first byte.
	one := p.add(t, api.StateCompleted, chunks)
	k, err := p.store.ChunkKey(one.m.ID, 1, one.m.Ext)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.s3.Client(t).RemoveObject(ctx, p.s3.Bucket, k, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, p.remote.do(t, "GET", "/exports/"+one.m.ID+"/chunks/0"), http.StatusOK)
	wantError(t, p.remote.do(t, "GET", "/exports/"+one.m.ID+"/chunks/1"), http.StatusNotFound)
	wantError(t, p.remote.do(t, "GET", "/exports/"+one.m.ID+"/data", "Range", "bytes=0-9"), http.StatusNotFound)

	// Chunk 0 replaced by chunk 1's bytes: not the manifest's size.
	replaced := p.add(t, api.StateCompleted, chunks)
	c1 := replaced.m.Chunks[1]
	if err := p.store.PutChunk(ctx, replaced.m.ID, 0, replaced.m.Ext, filepath.Join(replaced.dir, c1.Name), c1.Bytes, c1.SHA256); err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"/chunks/0", "/data"} {
		resp := p.remote.do(t, "GET", "/exports/"+replaced.m.ID+route)
		wantError(t, resp, http.StatusInternalServerError)
		if bytes.Contains(resp.body, chunks[1]) {
			t.Errorf("%s: the error carries file contents", route)
		}
	}
}

// TestObjectFilesRunning serves the sealed chunks of a running export,
// whose Last-Modified is the object's, since there is no finishedAt yet.
func TestObjectFilesRunning(t *testing.T) {
	p := newObjectPair(t)
	chunks := zstdChunks(t, 2, 30)
	e := p.add(t, api.StateRunning, chunks)
	resp := p.remote.do(t, "GET", "/exports/"+e.m.ID+"/chunks/1", "Range", "bytes=3-")
	wantStatus(t, resp, http.StatusPartialContent)
	if !bytes.Equal(resp.body, chunks[1][3:]) {
		t.Error("sealed chunk of a running export: wrong bytes")
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil || lm.IsZero() {
		t.Errorf("Last-Modified %q, want the object's", resp.Header.Get("Last-Modified"))
	}
	wantError(t, p.remote.do(t, "GET", "/exports/"+e.m.ID+"/chunks/2"), http.StatusNotFound)
	wantError(t, p.remote.do(t, "GET", "/exports/"+e.m.ID+"/data"), http.StatusConflict)
}

// TestObjectFilesNames checks that only chunk file names, in the form
// chunker.Name gives, become keys.
func TestObjectFilesNames(t *testing.T) {
	p := newObjectPair(t)
	e := p.add(t, api.StateCompleted, zstdChunks(t, 1, 10))
	files := ObjectFiles(p.store)
	f, err := files.Open(context.Background(), e.m.ID, e.m.Chunks[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != e.m.Chunks[0].Bytes || f.ModTime().IsZero() {
		t.Errorf("Open: size %d, ModTime %v; want %d bytes and a time", f.Size(), f.ModTime(), e.m.Chunks[0].Bytes)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Open(context.Background(), e.m.ID, "chunk-000001.ndjson.zst"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a chunk never stored: %v, want fs.ErrNotExist", err)
	}
	for _, name := range []string{
		"manifest.json", "chunk-1.ndjson.zst", "chunk-000000", "chunk-000000.", "chunk--00001.ndjson",
		"chunk-000000.ndjson/../../x", "chunk-000000.nd json", "../chunk-000000.ndjson.zst", "",
	} {
		if _, err := files.Open(context.Background(), e.m.ID, name); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(%q): %v, want a refusal", name, err)
		}
	}
	if _, err := files.Open(context.Background(), "../"+e.m.ID, e.m.Chunks[0].Name); !errors.Is(err, objstore.ErrBadName) {
		t.Errorf("Open of a bad id: %v, want objstore.ErrBadName", err)
	}
}

// s3Log records the requests that a Store sends.
type s3Log struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string // "METHOD path range"
}

func (l *s3Log) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+" "+req.Header.Get("Range"))
	l.mu.Unlock()
	return l.base.RoundTrip(req)
}

// take forgets the requests recorded so far.
func (l *s3Log) take() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}

// gets is the "path range" of each GET recorded.
func (l *s3Log) gets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if rest, ok := strings.CutPrefix(r, "GET "); ok {
			out = append(out, rest)
		}
	}
	return out
}
