package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/internal/procs"
)

// decompressed is the chunk files of m in dir, each decompressed alone,
// concatenated.
func decompressed(t *testing.T, dir string, m *api.Manifest) []byte {
	t.Helper()
	var all bytes.Buffer
	for _, c := range m.Chunks {
		data, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		all.Write(decode(t, c.Name, data))
	}
	return all.Bytes()
}

// decode decompresses data by the extension of name.
func decode(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	var err error
	switch {
	case strings.HasSuffix(name, ".zst"):
		var zr *zstd.Decoder
		zr, err = zstd.NewReader(r)
		if err == nil {
			defer zr.Close()
			r = zr
		}
	case strings.HasSuffix(name, ".gz"):
		r, err = gzip.NewReader(r)
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return plain
}

// httpGet fetches url and returns the body of a 200.
func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return body
}

// get downloads every chunk, verified; --decompress gives the chunks'
// bytes decompressed in order, which is the whole export; a second get
// downloads nothing.
func TestGetDownloadsAndDecompresses(t *testing.T) {
	d := startDaemon(t, "")
	id := d.start(t, "--chunk-records", "100")
	d.mustCtl(t, "watch", id)
	m := d.manifest(t, id)
	if len(m.Chunks) != 50 {
		t.Fatalf("%d chunks, want 50", len(m.Chunks))
	}
	proxy := newHTTPProxy(t, d.addrs.Public)
	dir := filepath.Join(t.TempDir(), "out")
	r := d.mustCtl(t, "get", id, "--out", dir, "--decompress", "--http-url", proxy.URL)
	if !strings.Contains(r.stderr, "50 chunks in "+dir+" (0 complete before, 0 resumed)") {
		t.Fatalf("get: %s", r.stderr)
	}
	checkChunks(t, dir, m)
	got, err := os.ReadFile(filepath.Join(dir, id+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if want := decompressed(t, dir, m); !bytes.Equal(got, want) {
		t.Fatalf("--decompress wrote %d bytes, the chunks decompress to %d", len(got), len(want))
	}
	if whole := decode(t, "data.zst", httpGet(t, d.addrs.Public+"/exports/"+id+"/data")); !bytes.Equal(got, whole) {
		t.Fatal("--decompress differs from GET /data decompressed")
	}
	if n := bytes.Count(got, []byte("\n")); n != tasks {
		t.Fatalf("%d lines, want %d", n, tasks)
	}
	if saved, err := chunker.ReadManifest(dir); err != nil || saved.ID != id || len(saved.Chunks) != 50 {
		t.Fatalf("manifest.json in --out: %v", err)
	}
	for _, req := range proxy.requests() {
		if req.rangeHdr != "" || req.status != http.StatusOK {
			t.Fatalf("a first download asked %+v", req)
		}
	}

	r = d.mustCtl(t, "get", id, "--out", dir, "--http-url", proxy.URL)
	if !strings.Contains(r.stderr, "(50 complete before, 0 resumed), 0 B downloaded") {
		t.Fatalf("second get: %s", r.stderr)
	}
	if reqs := proxy.requests(); len(reqs) != 0 {
		t.Fatalf("second get fetched %d chunks again", len(reqs))
	}
}

// A get killed (SIGKILL) halfway through a chunk, run again, continues that
// chunk's .part with a Range request, fetches only what is missing and
// ends with every chunk verified. A .part whose bytes are not the chunk's
// is found by its digest, deleted and an error; the next get fetches that
// chunk anew.
func TestGetInterruptedResumes(t *testing.T) {
	d := startDaemon(t, "")
	id := d.start(t, "--chunk-records", "50")
	d.mustCtl(t, "watch", id)
	m := d.manifest(t, id)
	if len(m.Chunks) != 100 {
		t.Fatalf("%d chunks, want 100", len(m.Chunks))
	}
	proxy := newHTTPProxy(t, d.addrs.Public)
	const cut = 3
	chunkPath := func(n int) string { return fmt.Sprintf("/exports/%s/chunks/%d", id, n) }
	half := m.Chunks[cut].Bytes / 2
	stalled := proxy.stallAt(chunkPath(cut), half)
	dir := t.TempDir()
	part := filepath.Join(dir, m.Chunks[cut].Name+".part")

	cmd := d.command("get", id, "--out", dir, "--parallel", "1", "--http-url", proxy.URL)
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stalled:
	case <-time.After(time.Minute):
		t.Fatal("the download never reached chunk 3")
	}
	waitFor(t, "half of chunk 3 on disk", func() bool {
		fi, err := os.Stat(part)
		return err == nil && fi.Size() == half
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for i, c := range m.Chunks {
		_, err := os.Stat(filepath.Join(dir, c.Name))
		if (i < cut) != (err == nil) {
			t.Fatalf("after the kill, chunk %d: %v", i, err)
		}
	}
	proxy.stallAt("", 0)
	proxy.requests()

	r := d.mustCtl(t, "get", id, "--out", dir, "--http-url", proxy.URL)
	checkChunks(t, dir, m)
	if !strings.Contains(r.stderr, fmt.Sprintf("(%d complete before, 1 resumed)", cut)) {
		t.Fatalf("get after the kill: %s", r.stderr)
	}
	seen := map[string]proxied{}
	for _, req := range proxy.requests() {
		seen[req.path] = req
	}
	if len(seen) != len(m.Chunks)-cut {
		t.Fatalf("get after the kill asked for %d chunks, want %d", len(seen), len(m.Chunks)-cut)
	}
	c := m.Chunks[cut]
	req := seen[chunkPath(cut)]
	if want := fmt.Sprintf("bytes=%d-%d", half, c.Bytes-1); req.rangeHdr != want || req.ifRange != `"sha256-`+c.SHA256+`"` ||
		req.status != http.StatusPartialContent || req.bytes != c.Bytes-half {
		t.Fatalf("chunk %d resumed with %+v, want Range %s, If-Range on its ETag, 206 and %d bytes", cut, req, want, c.Bytes-half)
	}

	// A bad partial file: the chunk's first half with one byte changed.
	const bad = 7
	c = m.Chunks[bad]
	final := filepath.Join(dir, c.Name)
	data, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	data = data[:len(data)/2]
	data[10] ^= 0xff
	if err := os.WriteFile(final+".part", data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(final)
	r = d.ctl(t, "", "get", id, "--out", dir, "--http-url", proxy.URL)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("chunk %d (%s): sha256 mismatch", bad, c.Name)) {
		t.Fatalf("get with a bad partial file: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(final + ".part"); !os.IsNotExist(err) {
		t.Fatalf("the bad partial file is still there: %v", err)
	}
	if reqs := proxy.requests(); len(reqs) != 1 || reqs[0].rangeHdr != fmt.Sprintf("bytes=%d-%d", len(data), c.Bytes-1) {
		t.Fatalf("get with a bad partial file asked %+v", reqs)
	}
	d.mustCtl(t, "get", id, "--out", dir, "--http-url", proxy.URL)
	checkChunks(t, dir, m)
	if reqs := proxy.requests(); len(reqs) != 1 || reqs[0].rangeHdr != "" || reqs[0].bytes != c.Bytes {
		t.Fatalf("get after the bad partial file asked %+v, want chunk %d whole", reqs, bad)
	}

	// A partial file of a server file that has changed since: If-Range
	// does not match, the server sends the whole file, the chunk starts
	// over.
	const changed = 9
	c = m.Chunks[changed]
	final = filepath.Join(dir, c.Name)
	if err := os.Rename(final, final+".part"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(final+".part", c.Bytes/3); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	proxy.otherETag = true
	proxy.mu.Unlock()
	r = d.mustCtl(t, "get", id, "--out", dir, "--http-url", proxy.URL)
	checkChunks(t, dir, m)
	if reqs := proxy.requests(); len(reqs) != 1 || reqs[0].rangeHdr == "" || reqs[0].status != http.StatusOK || reqs[0].bytes != c.Bytes {
		t.Fatalf("get with a partial file of another ETag asked %+v, want a range answered whole", reqs)
	}
}

// get of an export that is still running downloads the chunks sealed so
// far and exits 1; once it has completed, get fetches the rest.
func TestGetRunningExport(t *testing.T) {
	d := startDaemon(t, "")
	sealed := make(chan struct{}, 1)
	sub, err := d.nc.Subscribe("exports.progress.>", func(msg *nats.Msg) {
		var ev api.Event
		if json.Unmarshal(msg.Data, &ev) == nil && ev.Event == api.EventFileGeneration {
			d.mongo.close() // hold the export there
			select {
			case sealed <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d.nc.Flush()
	id := d.start(t, "--chunk-records", "100", "--batch-size", "100")
	select {
	case <-sealed:
	case <-time.After(time.Minute):
		t.Fatal("no chunk was sealed")
	}
	sub.Unsubscribe()
	m := d.manifest(t, id)
	if m.State != api.StateRunning || len(m.Chunks) == 0 || len(m.Chunks) == 50 {
		t.Fatalf("export %s with %d chunks: the test needs it running", m.State, len(m.Chunks))
	}
	dir := t.TempDir()
	r := d.ctl(t, "", "get", id, "--out", dir, "--decompress")
	if r.code != 1 || !strings.Contains(r.stderr, "is running, not completed: got the") {
		t.Fatalf("get of a running export: exit %d, %s", r.code, r.stderr)
	}
	sofar := m.Chunks
	m = d.manifest(t, id)
	if len(m.Chunks) < len(sofar) {
		t.Fatal("chunks went away")
	}
	if _, err := os.Stat(filepath.Join(dir, id+".ndjson")); !os.IsNotExist(err) {
		t.Fatal("--decompress wrote a file for an export that has not completed")
	}
	checkChunks(t, dir, &api.Manifest{Chunks: sofar})

	d.mongo.open()
	d.mustCtl(t, "watch", id)
	m = d.manifest(t, id)
	r = d.mustCtl(t, "get", id, "--out", dir)
	checkChunks(t, dir, m)
	if !strings.Contains(r.stderr, "complete before") {
		t.Fatalf("get: %s", r.stderr)
	}
}

// start --wait --out --decompress starts, watches and downloads: the plain
// file is the whole export.
func TestStartWaitDecompress(t *testing.T) {
	d := startDaemon(t, "")
	dir := t.TempDir()
	r := d.mustCtl(t, "start", "--db", "app", "--collection", "tasks", "--format", "csv", "--fields", "_id,title,status,assignee.email",
		"--compression", "gzip", "--chunk-records", "700", "--wait", "--out", dir, "--decompress")
	id := strings.TrimSpace(r.stdout)
	m := d.manifest(t, id)
	if m.State != api.StateCompleted || len(m.Chunks) != 8 {
		t.Fatalf("export %s with %d chunks", m.State, len(m.Chunks))
	}
	checkChunks(t, dir, m)
	got, err := os.ReadFile(filepath.Join(dir, id+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	whole := decode(t, "data.gz", httpGet(t, d.addrs.Public+"/exports/"+id+"/data"))
	if !bytes.Equal(got, whole) || !bytes.Equal(got, decompressed(t, dir, m)) {
		t.Fatal("the decompressed file is not the export")
	}
	if !bytes.HasPrefix(got, []byte("_id,title,status,assignee.email\r\n")) || bytes.Count(got, []byte("\r\n")) != tasks+1 {
		t.Fatalf("csv: %.80q…, %d lines", got, bytes.Count(got, []byte("\r\n")))
	}
}

// With a download secret, chunk URLs need a token that only the daemon
// signs: start --wait and get --data-url fetch ranges of the signed
// dataUrl; get without it fails with 401 and says what to do.
func TestSignedDownloads(t *testing.T) {
	d := startDaemon(t, "a download secret of enough bytes")
	dir := t.TempDir()
	r := d.mustCtl(t, "start", "--db", "app", "--collection", "tasks", "--chunk-records", "1000", "--json", "--wait", "--out", dir, "--decompress")
	var rep struct{ ID, DataURL string }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !strings.Contains(rep.DataURL, "token=") {
		t.Fatalf("start --json: %q %v", r.stdout, err)
	}
	m := d.manifest(t, rep.ID)
	checkChunks(t, dir, m)
	got, err := os.ReadFile(filepath.Join(dir, rep.ID+".ndjson"))
	if err != nil || !bytes.Equal(got, decompressed(t, dir, m)) {
		t.Fatalf("decompressed: %v", err)
	}

	r = d.ctl(t, "", "get", rep.ID, "--out", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, "401 download token required") || !strings.Contains(r.stderr, "--data-url") {
		t.Fatalf("get without a token: exit %d, %s", r.code, r.stderr)
	}
	other := t.TempDir()
	d.mustCtl(t, "get", rep.ID, "--out", other, "--data-url", rep.DataURL, "--parallel", "2")
	checkChunks(t, other, m)
}

// start's flags for the request's window and output options give the
// export they name: a bare json array of a window of the tasks, and a
// csv without its header line but with a byte order mark. A boolean not
// given is left to the daemon.
func TestStartOutputOptions(t *testing.T) {
	d := startDaemon(t, "")
	dir := t.TempDir()
	r := d.mustCtl(t, "start", "--db", "app", "--collection", "tasks", "--format", "json", "--json-array", "--skip", "10", "--limit", "25",
		"--compression", "none", "--wait", "--out", filepath.Join(dir, "array"))
	id := strings.TrimSpace(r.stdout)
	var docs []map[string]any
	if data := httpGet(t, d.addrs.Public+"/exports/"+id+"/data"); json.Unmarshal(data, &docs) != nil || len(docs) != 25 {
		t.Fatalf("--json-array --skip 10 --limit 25: %.100q…, want an array of 25", data)
	}

	r = d.mustCtl(t, "start", "--db", "app", "--collection", "tasks", "--format", "csv", "--fields", "_id,tags", "--csv-header=false",
		"--csv-bom", "--csv-arrays", "join", "--csv-array-separator", "|", "--limit", "3", "--compression", "none", "--wait", "--out", filepath.Join(dir, "csv"))
	id = strings.TrimSpace(r.stdout)
	data := httpGet(t, d.addrs.Public+"/exports/"+id+"/data")
	if !bytes.HasPrefix(data, []byte("\ufeff")) || bytes.Contains(data, []byte("_id,tags")) || bytes.Count(data, []byte("\r\n")) != 3 {
		t.Fatalf("csv without a header, with a BOM: %q", data)
	}
	if bytes.Contains(data, []byte(`["`)) {
		t.Fatalf("csv arrays not joined: %q", data)
	}

	for _, args := range [][]string{{"--csv-bom=maybe"}, {"--request", "-", "--limit", "3"}} {
		res := d.ctl(t, "{}", append([]string{"start"}, args...)...)
		if res.code != 2 {
			t.Errorf("start %q: exit %d, %q", args, res.code, res.stderr)
		}
	}
}
