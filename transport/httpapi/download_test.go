package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// rangeCase is a Range request and the bytes it must give.
type rangeCase struct {
	name  string
	rng   string
	parts [][2]int // [start, end) of each wanted part; none means the whole file with 200
	bad   bool     // 416, with Content-Range: bytes */size
	msg   string   // in the message of a 416
}

// manyRanges is a Range header of n one-byte ranges.
func manyRanges(n int) string {
	specs := make([]string, n)
	for i := range specs {
		specs[i] = fmt.Sprintf("%d-%d", i, i)
	}
	return "bytes=" + strings.Join(specs, ",")
}

// oneByteParts is the parts of manyRanges(n).
func oneByteParts(n int) [][2]int {
	parts := make([][2]int, n)
	for i := range parts {
		parts[i] = [2]int{i, i + 1}
	}
	return parts
}

// checkRanges runs the cases against path, whose content is data.
func checkRanges(t *testing.T, fx *fixture, path string, data []byte, cases []rangeCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.rng != "" {
				headers = []string{"Range", tt.rng}
			}
			resp := fx.do(t, "GET", path, headers...)
			switch {
			case tt.bad:
				wantError(t, resp, http.StatusRequestedRangeNotSatisfiable)
				if got, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes */%d", len(data)); got != want {
					t.Errorf("416 Content-Range %q, want %q", got, want)
				}
				if !bytes.Contains(resp.body, []byte(tt.msg)) {
					t.Errorf("416 body %q does not say %q", resp.body, tt.msg)
				}
				if cd := resp.Header.Get("Content-Disposition"); cd != "" {
					t.Errorf("416 has Content-Disposition %q: a client would save the error as the file", cd)
				}
			case len(tt.parts) == 0:
				wantStatus(t, resp, http.StatusOK)
				if !bytes.Equal(resp.body, data) {
					t.Errorf("body: %d bytes, want the %d bytes of the file", len(resp.body), len(data))
				}
			case len(tt.parts) == 1:
				wantStatus(t, resp, http.StatusPartialContent)
				p := tt.parts[0]
				if want := fmt.Sprintf("bytes %d-%d/%d", p[0], p[1]-1, len(data)); resp.Header.Get("Content-Range") != want {
					t.Errorf("Content-Range %q, want %q", resp.Header.Get("Content-Range"), want)
				}
				if !bytes.Equal(resp.body, data[p[0]:p[1]]) {
					t.Errorf("body is not bytes [%d, %d) of the file", p[0], p[1])
				}
			default:
				wantStatus(t, resp, http.StatusPartialContent)
				checkMultipart(t, resp, data, tt.parts)
			}
		})
	}
}

// checkMultipart checks a multipart/byteranges body part by part.
func checkMultipart(t *testing.T, resp *response, data []byte, want [][2]int) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q, want multipart/byteranges", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(resp.body), params["boundary"])
	for i, p := range want {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if got, want := part.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", p[0], p[1]-1, len(data)); got != want {
			t.Errorf("part %d: Content-Range %q, want %q", i, got, want)
		}
		if got := part.Header.Get("Content-Type"); got == "" || strings.HasPrefix(got, "multipart/") {
			t.Errorf("part %d: Content-Type %q, want the file's", i, got)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if !bytes.Equal(body, data[p[0]:p[1]]) {
			t.Errorf("part %d: %d bytes, not bytes [%d, %d) of the file", i, len(body), p[0], p[1])
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after %d parts: %v, want io.EOF", len(want), err)
	}
}

func TestChunkRanges(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 3, 200))
	data := e.chunks[1]
	size := len(data)
	if size < 1000 {
		t.Fatalf("chunk of %d bytes is too small for the cases", size)
	}
	checkRanges(t, fx, "/exports/"+e.m.ID+"/chunks/1", data, []rangeCase{
		{name: "whole"},
		{name: "full range", rng: fmt.Sprintf("bytes=0-%d", size-1), parts: [][2]int{{0, size}}},
		{name: "partial", rng: "bytes=10-99", parts: [][2]int{{10, 100}}},
		{name: "suffix", rng: "bytes=-100", parts: [][2]int{{size - 100, size}}},
		{name: "open", rng: "bytes=100-", parts: [][2]int{{100, size}}},
		{name: "end past the file", rng: fmt.Sprintf("bytes=%d-%d", size-5, size+1000), parts: [][2]int{{size - 5, size}}},
		{name: "last byte", rng: fmt.Sprintf("bytes=%d-", size-1), parts: [][2]int{{size - 1, size}}},
		{name: "multiple", rng: "bytes=0-9,50-59,-5", parts: [][2]int{{0, 10}, {50, 60}, {size - 5, size}}},
		{name: "multiple overlapping", rng: "bytes=0-99,50-149", parts: [][2]int{{0, 100}, {50, 150}}},
		{name: "start past the end", rng: fmt.Sprintf("bytes=%d-", size), bad: true},
		{name: "far past the end", rng: "bytes=99999999-100000000", bad: true},
		{name: "reversed", rng: "bytes=99-10", bad: true},
		{name: "garbage", rng: "bytes=abc", bad: true},
		{name: "negative", rng: "bytes=-5-10", bad: true},
		{name: "other unit", rng: "items=0-1", bad: true, msg: "malformed"},
		{name: "suffix of zero", rng: "bytes=-0", bad: true, msg: "not satisfiable"},
		{name: "suffix of zero with a plus", rng: "bytes=-+0", bad: true},
		{name: "suffixes of zero", rng: "bytes=-0, -00,,", bad: true},
		{name: "suffix of zero past the end", rng: fmt.Sprintf("bytes=-0,%d-", size), bad: true},
		{name: "suffix of zero and a range", rng: "bytes=-0,5-9", parts: [][2]int{{5, 10}}},
		{name: "range and suffix of zero", rng: "bytes=0-0, -0 ,-1", parts: [][2]int{{0, 1}, {size - 1, size}}},
		{name: "garbage after a suffix of zero", rng: "bytes=-0,x", bad: true, msg: "malformed"},
		{name: "64 ranges", rng: manyRanges(64), parts: oneByteParts(64)},
		{name: "64 ranges and empty elements", rng: manyRanges(64) + ",,, ,", parts: oneByteParts(64)},
		{name: "65 ranges", rng: manyRanges(65), bad: true, msg: "more than 64 ranges"},
		{name: "5000 ranges", rng: manyRanges(5000), bad: true, msg: "more than 64 ranges"},
		{name: "65 ranges of garbage", rng: "bytes=" + strings.Repeat("x,", 65), bad: true, msg: "malformed"},
		// Ranges that add up to more than the file: net/http sends the
		// file once instead, so the reply stays small.
		{name: "64 whole files", rng: "bytes=" + strings.Repeat("0-,", 64)},
	})
}

func TestDataRanges(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 4, 100))
	data := e.data()
	size := len(data)
	b1 := len(e.chunks[0])      // first byte of chunk 1
	b2 := b1 + len(e.chunks[1]) // first byte of chunk 2
	b3 := b2 + len(e.chunks[2]) // first byte of chunk 3
	checkRanges(t, fx, "/exports/"+e.m.ID+"/data", data, []rangeCase{
		{name: "whole"},
		{name: "full range", rng: "bytes=0-", parts: [][2]int{{0, size}}},
		{name: "partial", rng: "bytes=10-99", parts: [][2]int{{10, 100}}},
		{name: "across one boundary", rng: fmt.Sprintf("bytes=%d-%d", b1-10, b1+9), parts: [][2]int{{b1 - 10, b1 + 10}}},
		{name: "across three boundaries", rng: fmt.Sprintf("bytes=%d-%d", b1-1, b3), parts: [][2]int{{b1 - 1, b3 + 1}}},
		{name: "exactly one chunk", rng: fmt.Sprintf("bytes=%d-%d", b1, b2-1), parts: [][2]int{{b1, b2}}},
		{name: "suffix across a boundary", rng: fmt.Sprintf("bytes=-%d", size-b3+7), parts: [][2]int{{b3 - 7, size}}},
		{name: "open from a boundary", rng: fmt.Sprintf("bytes=%d-", b2), parts: [][2]int{{b2, size}}},
		{name: "multiple across boundaries", rng: fmt.Sprintf("bytes=0-%d,%d-%d,-3", b1, b2-2, b3+2),
			parts: [][2]int{{0, b1 + 1}, {b2 - 2, b3 + 3}, {size - 3, size}}},
		{name: "multiple backwards", rng: fmt.Sprintf("bytes=%d-%d,0-4", b3, b3+4), parts: [][2]int{{b3, b3 + 5}, {0, 5}}},
		{name: "past the end", rng: fmt.Sprintf("bytes=%d-", size), bad: true},
		{name: "garbage", rng: "bytes=1-2-3", bad: true},
		{name: "suffix of zero", rng: "bytes=-0", bad: true, msg: "not satisfiable"},
		{name: "suffix of zero and a range across a boundary", rng: fmt.Sprintf("bytes=-0,%d-%d", b1-1, b1), parts: [][2]int{{b1 - 1, b1 + 1}}},
		{name: "65 ranges", rng: manyRanges(65), bad: true, msg: "more than 64 ranges"},
		{name: "64 ranges", rng: manyRanges(64), parts: oneByteParts(64)},
	})

	// The chunks concatenated are one zstd stream of all the records.
	dec, err := zstd.NewReader(bytes.NewReader(fx.do(t, "GET", "/exports/"+e.m.ID+"/data").body))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, testRecords(0, 400)) {
		t.Error("/data does not decompress to the records in order")
	}
}

func TestIfRange(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 100))
	for _, route := range []struct {
		path string
		data []byte
	}{
		{"/exports/" + e.m.ID + "/chunks/0", e.chunks[0]},
		{"/exports/" + e.m.ID + "/data", e.data()},
	} {
		t.Run(route.path, func(t *testing.T) {
			etag := fx.do(t, "HEAD", route.path).Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			resp := fx.do(t, "GET", route.path, "Range", "bytes=5-14", "If-Range", etag)
			wantStatus(t, resp, http.StatusPartialContent)
			if !bytes.Equal(resp.body, route.data[5:15]) {
				t.Error("If-Range with the current ETag: wrong bytes")
			}
			stale := `"sha256-` + strings.Repeat("0", 64) + `"`
			resp = fx.do(t, "GET", route.path, "Range", "bytes=5-14", "If-Range", stale)
			wantStatus(t, resp, http.StatusOK)
			if !bytes.Equal(resp.body, route.data) {
				t.Error("If-Range with a stale ETag: not the whole file")
			}
			// A weak validator never satisfies If-Range.
			resp = fx.do(t, "GET", route.path, "Range", "bytes=5-14", "If-Range", "W/"+etag)
			wantStatus(t, resp, http.StatusOK)
			resp = fx.do(t, "GET", route.path, "If-None-Match", etag)
			wantStatus(t, resp, http.StatusNotModified)
		})
	}
}

func TestHeadersAndHEAD(t *testing.T) {
	fx := newFixture(t, nil)
	raw := [][]byte{testRecords(0, 50), testRecords(50, 90)}
	tests := []struct {
		name        string
		format      request.Format
		comp        request.Compression
		chunks      [][]byte
		contentType string
		ext         string
	}{
		{"ndjson zstd", request.NDJSON, request.Zstd, zstdChunks(t, 2, 50), "application/zstd", "ndjson.zst"},
		{"csv gzip", request.CSV, request.Gzip, gzipChunks(t, raw...), "application/gzip", "csv.gz"},
		{"ndjson plain", request.NDJSON, request.None, raw, "application/x-ndjson", "ndjson"},
		{"json plain", request.JSON, request.None, raw, "application/json", "json"},
		{"csv plain", request.CSV, request.None, raw, "text/csv", "csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := fx.add(t, api.StateCompleted, tt.format, tt.comp, tt.chunks)
			for _, d := range []struct {
				route, filename string
				data            []byte
				etag            string
			}{
				{"/chunks/1", fmt.Sprintf("%s-chunk-000001.%s", e.m.ID, tt.ext), tt.chunks[1], `"sha256-` + sha256Hex(tt.chunks[1]) + `"`},
				{"/data", fmt.Sprintf("%s.%s", e.m.ID, tt.ext), e.data(), ""},
			} {
				get := fx.do(t, "GET", "/exports/"+e.m.ID+d.route)
				wantStatus(t, get, http.StatusOK)
				head := fx.do(t, "HEAD", "/exports/"+e.m.ID+d.route)
				wantStatus(t, head, http.StatusOK)
				if len(head.body) != 0 {
					t.Errorf("%s: HEAD has a body of %d bytes", d.route, len(head.body))
				}
				if got := head.Header.Get("Content-Length"); got != strconv.Itoa(len(d.data)) {
					t.Errorf("%s: HEAD Content-Length %q, want %d", d.route, got, len(d.data))
				}
				for _, resp := range []*response{get, head} {
					hdr := resp.Header
					if ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type")); ct != tt.contentType {
						t.Errorf("%s %s: Content-Type %q, want %q", resp.Request.Method, d.route, hdr.Get("Content-Type"), tt.contentType)
					}
					if got := hdr.Get("Content-Encoding"); got != "" {
						t.Errorf("%s: Content-Encoding %q, want none: the file is the artifact", d.route, got)
					}
					if want := `attachment; filename="` + d.filename + `"`; hdr.Get("Content-Disposition") != want {
						t.Errorf("%s: Content-Disposition %q, want %q", d.route, hdr.Get("Content-Disposition"), want)
					}
					etag := hdr.Get("ETag")
					if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 66 {
						t.Errorf("%s: ETag %q is not a quoted strong tag", d.route, etag)
					}
					if d.etag != "" && etag != d.etag {
						t.Errorf("%s: ETag %q, want %q", d.route, etag, d.etag)
					}
					if lm, err := http.ParseTime(hdr.Get("Last-Modified")); err != nil || !lm.Equal(e.m.FinishedAt.Truncate(time.Second)) {
						t.Errorf("%s: Last-Modified %q, want finishedAt %s", d.route, hdr.Get("Last-Modified"), e.m.FinishedAt)
					}
					if hdr.Get("Accept-Ranges") != "bytes" {
						t.Errorf("%s: Accept-Ranges %q", d.route, hdr.Get("Accept-Ranges"))
					}
				}
				if !bytes.Equal(get.body, d.data) {
					t.Errorf("%s: GET body differs from the file", d.route)
				}
			}
		})
	}
	// Another export with the same chunks has the same /data ETag; one
	// with other chunks has another.
	a := fx.add(t, api.StateCompleted, request.NDJSON, request.None, raw)
	b := fx.add(t, api.StateCompleted, request.NDJSON, request.None, raw)
	c := fx.add(t, api.StateCompleted, request.NDJSON, request.None, raw[:1])
	etag := func(e *testExport) string { return fx.do(t, "HEAD", "/exports/"+e.m.ID+"/data").Header.Get("ETag") }
	if etag(a) != etag(b) || etag(a) == etag(c) {
		t.Errorf("/data ETags %s %s %s: want equal for equal chunks only", etag(a), etag(b), etag(c))
	}
}

func TestRunningExport(t *testing.T) {
	fx := newFixture(t, nil)
	chunks := zstdChunks(t, 2, 30)
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, chunks[:1])
	// Chunk 1 is being written: a temporary file, not in the manifest.
	tmp, err := chunker.Create(e.dir, chunker.Name(1, "ndjson.zst"), chunker.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tmp.Abort() })
	if _, err := tmp.Write(chunks[1]); err != nil {
		t.Fatal(err)
	}
	base := "/exports/" + e.m.ID

	resp := fx.do(t, "GET", base+"/chunks/0")
	wantStatus(t, resp, http.StatusOK)
	if !bytes.Equal(resp.body, chunks[0]) {
		t.Error("sealed chunk of a running export: wrong bytes")
	}
	if resp.Header.Get("Last-Modified") == "" {
		t.Error("no Last-Modified (the file's mtime) before finishedAt is known")
	}
	wantError(t, fx.do(t, "GET", base+"/data"), http.StatusConflict)
	wantStatus(t, fx.do(t, "HEAD", base+"/data"), http.StatusConflict)
	// A chunk number that is not one is 400; one the manifest does not
	// list (yet) is 404.
	for _, tt := range []struct {
		n      string
		status int
	}{
		{"%30", http.StatusOK}, // "0", escaped: the same resource
		{"1", http.StatusNotFound},
		{"2", http.StatusNotFound},
		{"2147483647", http.StatusNotFound},
		{"2147483648", http.StatusBadRequest},
		{"01", http.StatusBadRequest},
		{"00", http.StatusBadRequest},
		{"-0", http.StatusBadRequest},
		{"-1", http.StatusBadRequest},
		{"+0", http.StatusBadRequest},
		{"0x0", http.StatusBadRequest},
		{"1e0", http.StatusBadRequest},
		{"%200", http.StatusBadRequest},
		{"0.0", http.StatusBadRequest},
		{"99999999999", http.StatusBadRequest},
		{"18446744073709551616", http.StatusBadRequest},
		{strings.Repeat("9", 5000), http.StatusBadRequest},
		{"%D9%A0", http.StatusBadRequest}, // Arabic-Indic zero
	} {
		t.Run("chunk "+tt.n[:min(len(tt.n), 24)], func(t *testing.T) {
			resp := fx.do(t, "GET", base+"/chunks/"+tt.n)
			if tt.status == http.StatusOK {
				wantStatus(t, resp, http.StatusOK)
				return
			}
			wantError(t, resp, tt.status)
		})
	}

	for _, state := range []api.State{api.StateQueued, api.StateFailed, api.StateCancelled} {
		e := fx.add(t, state, request.NDJSON, request.Zstd, chunks[:1])
		wantError(t, fx.do(t, "GET", "/exports/"+e.m.ID+"/data"), http.StatusConflict)
	}
}

func TestEmptyExport(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, nil)
	resp := fx.do(t, "GET", "/exports/"+e.m.ID+"/data")
	wantStatus(t, resp, http.StatusOK)
	if len(resp.body) != 0 || resp.Header.Get("ETag") == "" {
		t.Errorf("empty export: %d bytes, ETag %q", len(resp.body), resp.Header.Get("ETag"))
	}
	wantError(t, fx.do(t, "GET", "/exports/"+e.m.ID+"/chunks/0"), http.StatusNotFound)
	// Of empty content, a well-formed Range gets the whole (empty)
	// content, as net/http answers ranges past the end of an empty file.
	checkRanges(t, fx, "/exports/"+e.m.ID+"/data", nil, []rangeCase{
		{name: "suffix", rng: "bytes=-5"},
		{name: "suffix and past the end", rng: "bytes=0-,-1"},
		{name: "suffix of zero", rng: "bytes=-0"},
		{name: "from the start", rng: "bytes=0-"},
		{name: "first byte", rng: "bytes=0-0"},
		{name: "garbage", rng: "bytes=-5,z", bad: true, msg: "malformed"},
		{name: "65 ranges", rng: manyRanges(65), bad: true, msg: "more than 64 ranges"},
	})
}

func TestMethods(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 10))
	exp := "/exports/" + e.m.ID
	for path, allow := range map[string]string{
		"/exports": "GET, HEAD, POST", exp: "GET, HEAD, DELETE",
		exp + "/data": "GET, HEAD", exp + "/chunks/0": "GET, HEAD", exp + "/links": "GET, HEAD", exp + "/events": "GET, HEAD",
		"/events": "GET, HEAD", "/healthz": "GET, HEAD", "/metrics": "GET, HEAD",
		exp + "/cancel": "POST", exp + "/resume": "POST",
	} {
		for _, method := range []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"} {
			if strings.Contains(allow, method) {
				continue
			}
			resp := fx.do(t, method, path)
			wantError(t, resp, http.StatusMethodNotAllowed)
			if got := resp.Header.Get("Allow"); got != allow {
				t.Errorf("%s %s: Allow %q, want %q", method, path, got, allow)
			}
		}
	}
	wantError(t, fx.do(t, "POST", "/nowhere"), http.StatusNotFound)
}
