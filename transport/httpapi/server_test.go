package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// testExports is the part of the job runner that the HTTP server uses,
// backed by real export directories: root/<id>/manifest.json and the chunk
// files beside it.
type testExports struct{ root string }

func (e *testExports) Status(id string) (*api.Manifest, error) {
	m, err := chunker.ReadManifest(filepath.Join(e.root, id))
	if errors.Is(err, chunker.ErrNoManifest) {
		return nil, fmt.Errorf("%w: %s", api.ErrNotFound, id)
	}
	return m, err
}

func (e *testExports) List(state api.State) ([]*api.Manifest, error) {
	entries, err := os.ReadDir(e.root)
	if err != nil {
		return nil, err
	}
	var ms []*api.Manifest
	for _, ent := range entries {
		m, err := e.Status(ent.Name())
		if err != nil {
			return nil, err
		}
		if state == "" || m.State == state {
			ms = append(ms, m)
		}
	}
	slices.SortFunc(ms, func(a, b *api.Manifest) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return ms, nil
}

func (e *testExports) Dir(id string) (string, error) {
	dir := filepath.Join(e.root, id)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%w: %s", api.ErrNotFound, id)
	}
	return dir, nil
}

// Start checks the request as the runner does and answers a queued
// export that it does not store.
func (e *testExports) Start(_ context.Context, raw json.RawMessage) (*api.Manifest, error) {
	r, err := request.Decode(raw)
	if err != nil {
		return nil, err
	}
	if _, err := request.Resolve(r, nil); err != nil {
		return nil, err
	}
	return &api.Manifest{ID: checkpoint.NewID(), State: api.StateQueued}, nil
}

// Cancel, Resume and Delete change the export's manifest or directory
// as the runner does.
func (e *testExports) Cancel(id string) (*api.Manifest, error) {
	return e.setState(id, api.StateCancelled, func(s api.State) bool { return !s.Final() })
}

func (e *testExports) Resume(id string) (*api.Manifest, error) {
	return e.setState(id, api.StateQueued, func(s api.State) bool { return s == api.StateFailed || s == api.StateCancelled })
}

func (e *testExports) setState(id string, to api.State, allowed func(api.State) bool) (*api.Manifest, error) {
	m, err := e.Status(id)
	if err != nil {
		return nil, err
	}
	if !allowed(m.State) {
		return nil, fmt.Errorf("%w: export %s is %s", api.ErrState, id, m.State)
	}
	m.State = to
	return m, chunker.WriteManifest(filepath.Join(e.root, id), m)
}

func (e *testExports) Delete(id string) error {
	dir, err := e.Dir(id)
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// fixture is an HTTP server (HTTP.Server's) on a loopback port over
// export directories in a temporary directory.
type fixture struct {
	exports *testExports
	h       *Server
	srv     *httptest.Server
	created time.Time
}

// testSecret is the download secret of fixtures that need tokens.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// testAPIToken is the API token of fixtures that need one, and
// testBearer the header pair that presents it to fixture.do.
const testAPIToken = "an-api-token-for-the-tests"

var testBearer = []string{"Authorization", "Bearer " + testAPIToken}

func newFixture(tb testing.TB, secret []byte) *fixture {
	tb.Helper()
	return newFixtureConfig(tb, Config{Secret: secret})
}

// newFixtureConfig is newFixture with cfg; its api.Exports is set.
func newFixtureConfig(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	exports := &testExports{root: tb.TempDir()}
	cfg.Exports = exports
	h, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{exports: exports, h: h, srv: newTestServer(tb, h), created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// newTestServer serves h on a loopback port with the server the
// daemon runs, h.HTTPServer(), and its limits.
func newTestServer(tb testing.TB, h *Server) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = h.HTTPServer()
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv
}

// testExport is an export written by fixture.add.
type testExport struct {
	m      *api.Manifest
	dir    string
	chunks [][]byte // the chunk files' contents
}

// data is the whole export: the chunk files concatenated.
func (e *testExport) data() []byte { return bytes.Join(e.chunks, nil) }

// add writes a new export in state with the given chunk files, sealed as
// chunker does, and its manifest.
func (fx *fixture) add(tb testing.TB, state api.State, format request.Format, comp request.Compression, chunks [][]byte) *testExport {
	tb.Helper()
	id := checkpoint.NewID()
	dir := filepath.Join(fx.exports.root, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	req, err := json.Marshal(request.Request{Database: "app", Collection: "tasks", Format: format, Compression: comp})
	if err != nil {
		tb.Fatal(err)
	}
	fx.created = fx.created.Add(time.Minute)
	m := &api.Manifest{ID: id, Request: req, State: state, CreatedAt: fx.created,
		Format: format, Compression: comp, Ext: request.Ext(format, comp)}
	if state == api.StateCompleted {
		finished := fx.created.Add(30 * time.Second)
		m.FinishedAt = &finished
	}
	ext := request.Ext(format, comp)
	for i, data := range chunks {
		f, err := chunker.Create(dir, chunker.Name(i, ext), chunker.Hooks{})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			tb.Fatal(err)
		}
		size, sum, err := f.Seal()
		if err != nil {
			tb.Fatal(err)
		}
		m.Chunks = append(m.Chunks, api.Chunk{Index: i, Name: chunker.Name(i, ext), Records: 1, Bytes: size, SHA256: sum})
		m.Bytes += size
	}
	if err := chunker.WriteManifest(dir, m); err != nil {
		tb.Fatal(err)
	}
	return &testExport{m: m, dir: dir, chunks: chunks}
}

// testRecords is records [from, to) of a synthetic collection as
// ndjson.
func testRecords(from, to int) []byte {
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"_id":{"$oid":"%024x"},"title":"task %d","status":"completed","n":%d}`+"\n", i, i, i*i%1009)
	}
	return b.Bytes()
}

// zstdChunks cuts records into count chunks of per records each,
// every chunk one zstd frame.
func zstdChunks(tb testing.TB, count, per int) [][]byte {
	tb.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	chunks := make([][]byte, count)
	for i := range chunks {
		chunks[i] = enc.EncodeAll(testRecords(i*per, (i+1)*per), nil)
	}
	return chunks
}

// gzipChunks is zstdChunks with gzip members.
func gzipChunks(tb testing.TB, raws ...[]byte) [][]byte {
	tb.Helper()
	chunks := make([][]byte, len(raws))
	for i, raw := range raws {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(raw); err != nil {
			tb.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		chunks[i] = b.Bytes()
	}
	return chunks
}

// response is a response with its body read.
type response struct {
	*http.Response
	body []byte
}

// do sends method path with the headers (name, value pairs) and reads the
// whole response.
func (fx *fixture) do(tb testing.TB, method, path string, headers ...string) *response {
	tb.Helper()
	return fx.send(tb, method, path, "", headers...)
}

// send is do with a body.
func (fx *fixture) send(tb testing.TB, method, path, body string, headers ...string) *response {
	tb.Helper()
	resp, err := fx.srv.Client().Do(fx.request(tb, context.Background(), method, path, body, headers...))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{Response: resp, body: data}
}

// request is a request for the fixture's server, with the headers (name,
// value pairs); an empty body is none.
func (fx *fixture) request(tb testing.TB, ctx context.Context, method, path, body string, headers ...string) *http.Request {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fx.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// wantStatus fails unless resp has status want.
func wantStatus(tb testing.TB, resp *response, want int) {
	tb.Helper()
	if resp.StatusCode != want {
		tb.Fatalf("%s %s: status %d, want %d; body %.300q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, resp.body)
	}
}

// wantError checks a JSON error answer.
func wantError(tb testing.TB, resp *response, status int) {
	tb.Helper()
	wantStatus(tb, resp, status)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("error Content-Type %q, want application/json", ct)
	}
	var e api.ErrorBody
	if err := json.Unmarshal(resp.body, &e); err != nil {
		tb.Fatalf("error body %q: %v", resp.body, err)
	}
	if e.Error.Code != status || e.Error.Message == "" {
		tb.Errorf("error body %q: want code %d and a message", resp.body, status)
	}
}

func TestNewConfig(t *testing.T) {
	exports := &testExports{root: t.TempDir()}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no exports", Config{}},
		{"empty secret", Config{Exports: exports, Secret: []byte{}}},
		{"short secret", Config{Exports: exports, Secret: []byte("short")}},
		{"short API token", Config{Exports: exports, APIToken: "short"}},
		{"negative ttl", Config{Exports: exports, TokenTTL: -time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	t.Run("registry used twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := New(Config{Exports: exports, Registry: reg}); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Exports: exports, Registry: reg}); err == nil {
			t.Fatal("the same metrics were registered twice")
		}
	})
}

func TestManifestAndList(t *testing.T) {
	fx := newFixture(t, nil)
	done := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 10))
	running := fx.add(t, api.StateRunning, request.CSV, request.Gzip, nil)

	resp := fx.do(t, "GET", "/exports/"+done.m.ID)
	wantStatus(t, resp, http.StatusOK)
	var got api.Manifest
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != done.m.ID || got.State != api.StateCompleted || len(got.Chunks) != 2 || got.Chunks[1].SHA256 != done.m.Chunks[1].SHA256 {
		t.Errorf("manifest %s, want the one on disk", resp.body)
	}
	resp = fx.do(t, "GET", "/exports/"+running.m.ID)
	wantStatus(t, resp, http.StatusOK)
	if !bytes.Contains(resp.body, []byte(`"chunks":[]`)) {
		t.Errorf("manifest without chunks: %s, want \"chunks\":[]", resp.body)
	}

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{done.m.ID, running.m.ID}},
		{"?state=running", []string{running.m.ID}},
		{"?state=failed", nil},
	}
	for _, tt := range tests {
		t.Run("list"+tt.query, func(t *testing.T) {
			resp := fx.do(t, "GET", "/exports"+tt.query)
			wantStatus(t, resp, http.StatusOK)
			var items []api.ListItem
			if err := json.Unmarshal(resp.body, &items); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, it.ID)
				if it.CreatedAt.IsZero() || it.State == "" {
					t.Errorf("item %+v lacks createdAt or state", it)
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ids %v, want %v", ids, tt.want)
			}
		})
	}
	wantError(t, fx.do(t, "GET", "/exports?state=bogus"), http.StatusBadRequest)
	wantError(t, fx.do(t, "GET", "/exports/"+checkpoint.NewID()), http.StatusNotFound)
}

func TestBadID(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 10))
	ids := []struct{ name, id string }{
		{"dot dot", "..%2Fetc"},
		{"dot dot passwd", "..%2F..%2Fetc%2Fpasswd"},
		{"too short", "abc"},
		{"too long", e.m.ID + "a"},
		{"upper case", strings.ToUpper(e.m.ID)},
		{"not base32", strings.Repeat("1", 26)},
		{"space", "%20" + e.m.ID[1:]},
		{"nul", "%00" + e.m.ID[1:]},
	}
	for _, tt := range ids {
		for _, route := range []string{"", "/chunks/0", "/data"} {
			t.Run(tt.name+route, func(t *testing.T) {
				wantError(t, fx.do(t, "GET", "/exports/"+tt.id+route, testBearer...), http.StatusBadRequest)
				// The credential is checked first: nothing more is told
				// to a client without one.
				wantError(t, fx.do(t, "GET", "/exports/"+tt.id+route), http.StatusUnauthorized)
			})
		}
	}
	// An unknown but well-formed id is a 404 once the token is right.
	path := "/exports/" + checkpoint.NewID() + "/data"
	wantError(t, fx.do(t, "GET", fx.h.SignURL(path, time.Now())), http.StatusNotFound)
}

func TestHealthz(t *testing.T) {
	fx := newFixture(t, testSecret)
	resp := fx.do(t, "GET", "/healthz")
	wantStatus(t, resp, http.StatusOK)
	if !bytes.Contains(resp.body, []byte(`"ok"`)) {
		t.Errorf("healthz body %q", resp.body)
	}
}

func TestMetrics(t *testing.T) {
	fx := newFixture(t, nil)
	fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, nil)
	fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, nil)
	m := fx.h.Metrics()
	m.SetQueueDepth(3)
	m.AddExported(1000, 5000)
	m.AddExported(234, 678)
	m.ObserveSeal(2 * time.Millisecond)
	m.ExportFinished(api.StateFailed)

	resp := fx.do(t, "GET", "/metrics")
	wantStatus(t, resp, http.StatusOK)
	for _, want := range []string{
		`exportd_exports{state="running"} 1`,
		`exportd_exports{state="completed"} 2`,
		`exportd_exports{state="queued"} 0`,
		"exportd_records_exported_total 1234",
		"exportd_bytes_exported_total 5678",
		"exportd_chunk_seal_seconds_count 1",
		`exportd_chunk_seal_seconds_bucket{le="0.004"} 1`,
		"exportd_queue_depth 3",
		`exportd_exports_finished_total{state="failed"} 1`,
		`exportd_exports_finished_total{state="completed"} 0`,
		"exportd_http_active_downloads 0",
		"go_goroutines",
		"process_",
	} {
		if !bytes.Contains(resp.body, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// listFails is an api.Exports whose List fails.
type listFails struct{ *testExports }

func (listFails) List(api.State) ([]*api.Manifest, error) {
	return nil, errors.New("store closed")
}

func TestMetricsListFails(t *testing.T) {
	h, err := New(Config{Exports: listFails{&testExports{root: t.TempDir()}}})
	if err != nil {
		t.Fatal(err)
	}
	h.Metrics().SetQueueDepth(7)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("exportd_queue_depth 7")) {
		t.Errorf("status %d, body %.200q: want the other metrics", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte("exportd_exports{")) {
		t.Error("exportd_exports present although List failed")
	}
	// The list route itself reports the failure without its detail.
	resp2, err := srv.Client().Get(srv.URL + "/exports")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	body, _ = io.ReadAll(resp2.Body)
	if resp2.StatusCode != http.StatusInternalServerError || bytes.Contains(body, []byte("store closed")) {
		t.Errorf("GET /exports: %d %q, want 500 without the error text", resp2.StatusCode, body)
	}
}

// gaugeValue reads a gauge's value.
func gaugeValue(tb testing.TB, g prometheus.Gauge) float64 {
	tb.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestActiveDownloads(t *testing.T) {
	fx := newFixture(t, nil)
	// Large enough that the handler is still writing when the client stops
	// reading: socket buffers hold a few MiB at most.
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.None, [][]byte{big, big})
	gauge := fx.h.Metrics().ActiveDownloads

	resp, err := fx.srv.Client().Get(fx.srv.URL + "/exports/" + e.m.ID + "/data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, gauge); got != 1 {
		t.Errorf("active downloads during a download = %v, want 1", got)
	}
	resp.Body.Close() // closes the connection: the handler's writes fail and it returns

	timeout := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for gaugeValue(t, gauge) != 0 {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("active downloads = %v after the client went away, want 0", gaugeValue(t, gauge))
		}
	}
}

func TestDamagedExport(t *testing.T) {
	fx := newFixture(t, nil)
	chunks := zstdChunks(t, 2, 20)
	tests := []struct {
		name   string
		damage func(t *testing.T, e *testExport)
		status int
	}{
		{"chunk name leaves the directory", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].Name = "../../../../etc/passwd"
		}, http.StatusInternalServerError},
		{"chunk name of another index", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].Name = e.m.Chunks[1].Name
		}, http.StatusInternalServerError},
		{"chunk name of another format", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].Name = chunker.Name(0, "csv")
		}, http.StatusInternalServerError},
		{"index out of place", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].Index = 1
		}, http.StatusInternalServerError},
		{"digest not hex", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].SHA256 = `x", "y`
		}, http.StatusInternalServerError},
		{"unknown format", func(t *testing.T, e *testExport) {
			e.m.Format = "xml"
		}, http.StatusInternalServerError},
		{"extension not the format's", func(t *testing.T, e *testExport) {
			e.m.Ext = "csv.gz"
		}, http.StatusInternalServerError},
		{"size differs", func(t *testing.T, e *testExport) {
			e.m.Chunks[0].Bytes++
		}, http.StatusInternalServerError},
		{"file replaced", func(t *testing.T, e *testExport) {
			if err := os.WriteFile(filepath.Join(e.dir, e.m.Chunks[0].Name), []byte("short"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, http.StatusInternalServerError},
		{"file gone", func(t *testing.T, e *testExport) {
			if err := os.Remove(filepath.Join(e.dir, e.m.Chunks[0].Name)); err != nil {
				t.Fatal(err)
			}
		}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, chunks)
			tt.damage(t, e)
			if err := chunker.WriteManifest(e.dir, e.m); err != nil {
				t.Fatal(err)
			}
			for _, route := range []string{"/chunks/0", "/data"} {
				resp := fx.do(t, "GET", "/exports/"+e.m.ID+route)
				wantError(t, resp, tt.status)
				if bytes.Contains(resp.body, []byte("root:")) || bytes.Contains(resp.body, chunks[0]) {
					t.Errorf("%s: the error carries file contents", route)
				}
			}
		})
	}
}

// sha256Hex is the hex digest of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
