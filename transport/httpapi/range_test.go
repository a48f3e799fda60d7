package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// rangeContent is n bytes in which a slice that starts or ends a byte
// off shows.
func rangeContent(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// rangeSpan is [start, end) of content.
type rangeSpan struct{ start, end int64 }

// strictRange matches one element of a Range header in RFC 9110's
// grammar (digits only, spaces or tabs around them).
var strictRange = regexp.MustCompile(`^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$`)

// rangeModel is what a Range header of RFC 9110's grammar must get
// over content of size bytes, as the server's documentation states it:
// the status and, for 206, the spans in order. ok is false for a header
// outside the grammar, where the fuzz target checks only the general
// properties.
func rangeModel(rng string, size int64) (status int, spans []rangeSpan, ok bool) {
	specs, found := strings.CutPrefix(rng, "bytes=")
	if !found {
		return 0, nil, false
	}
	count := 0
	for spec := range strings.SplitSeq(specs, ",") {
		if strings.Trim(spec, " \t") == "" {
			continue
		}
		count++
		m := strictRange.FindStringSubmatch(spec)
		if m == nil || (m[1] == "" && m[2] == "") {
			return 0, nil, false
		}
		first, errFirst := strconv.ParseInt(m[1], 10, 64)
		last, errLast := strconv.ParseInt(m[2], 10, 64)
		switch {
		case m[1] == "": // suffix: the last `last` bytes
			if errLast != nil {
				return 0, nil, false
			}
			if last > 0 {
				spans = append(spans, rangeSpan{max(0, size-last), size})
			}
		case errFirst != nil || (m[2] != "" && errLast != nil):
			return 0, nil, false
		case first >= size: // past the end: satisfies nothing
		case m[2] == "":
			spans = append(spans, rangeSpan{first, size})
		case last < first:
			return 0, nil, false // invalid: the whole header is refused
		default:
			spans = append(spans, rangeSpan{first, min(last+1, size)})
		}
	}
	var sum int64
	for _, s := range spans {
		sum += s.end - s.start
	}
	switch {
	case count > MaxRanges:
		return http.StatusRequestedRangeNotSatisfiable, nil, true
	case count == 0 || size == 0:
		return http.StatusOK, nil, true
	case len(spans) == 0:
		return http.StatusRequestedRangeNotSatisfiable, nil, true
	case sum > size: // net/http sends the whole content once instead
		return http.StatusOK, nil, true
	}
	return http.StatusPartialContent, spans, true
}

// parseContentRange reads "bytes a-b/size".
func parseContentRange(s string, size int64) (rangeSpan, error) {
	var a, b, n int64
	if _, err := fmt.Sscanf(s, "bytes %d-%d/%d", &a, &b, &n); err != nil {
		return rangeSpan{}, fmt.Errorf("Content-Range %q: %v", s, err)
	}
	if n != size || a < 0 || b < a || b >= size {
		return rangeSpan{}, fmt.Errorf("Content-Range %q of content of %d bytes", s, size)
	}
	return rangeSpan{a, b + 1}, nil
}

// checkRangeReply checks the properties every reply to a Range header
// has, whatever the header: 200, 206 or 416 and never anything else; a
// 200 is the whole content; each part of a 206 is the exact slice that its
// Content-Range names; a 416 is the JSON error with Content-Range
// bytes */size, and more than MaxRanges ranges always get it. It returns
// the spans of a 206.
func checkRangeReply(t *testing.T, rec *httptest.ResponseRecorder, rng string, content []byte) []rangeSpan {
	t.Helper()
	size := int64(len(content))
	body := rec.Body.Bytes()
	hdr := rec.Result().Header
	if specs, ok := strings.CutPrefix(rng, "bytes="); ok && rec.Code != http.StatusRequestedRangeNotSatisfiable {
		n := 0
		for spec := range strings.SplitSeq(specs, ",") {
			if strings.Trim(spec, " \t\r\n") != "" {
				n++
			}
		}
		if n > MaxRanges {
			t.Fatalf("%d ranges got %d, want 416", n, rec.Code)
		}
	}
	switch rec.Code {
	case http.StatusOK:
		if !bytes.Equal(body, content) {
			t.Fatalf("200 with %d bytes, not the %d of the content", len(body), size)
		}
		if cr := hdr.Get("Content-Range"); cr != "" {
			t.Fatalf("200 with Content-Range %q", cr)
		}
		return nil
	case http.StatusRequestedRangeNotSatisfiable:
		if got, want := hdr.Get("Content-Range"), fmt.Sprintf("bytes */%d", size); got != want {
			t.Fatalf("416 with Content-Range %q, want %q", got, want)
		}
		var e api.ErrorBody
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != 416 || e.Error.Message == "" {
			t.Fatalf("416 body %.200q: want the JSON error", body)
		}
		return nil
	case http.StatusPartialContent:
	default:
		t.Fatalf("status %d: want 200, 206 or 416; body %.200q", rec.Code, body)
	}
	if size == 0 {
		t.Fatal("206 of empty content")
	}
	mt, params, err := mime.ParseMediaType(hdr.Get("Content-Type"))
	if err != nil {
		t.Fatalf("206 Content-Type %q: %v", hdr.Get("Content-Type"), err)
	}
	if mt != "multipart/byteranges" {
		span, err := parseContentRange(hdr.Get("Content-Range"), size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, content[span.start:span.end]) {
			t.Fatalf("206 body of %d bytes is not bytes [%d, %d)", len(body), span.start, span.end)
		}
		return []rangeSpan{span}
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var spans []rangeSpan
	var sum int64
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(spans), err)
		}
		span, err := parseContentRange(part.Header.Get("Content-Range"), size)
		if err != nil {
			t.Fatalf("part %d: %v", len(spans), err)
		}
		got, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part %d: %v", len(spans), err)
		}
		if !bytes.Equal(got, content[span.start:span.end]) {
			t.Fatalf("part %d: %d bytes, not bytes [%d, %d)", len(spans), len(got), span.start, span.end)
		}
		spans = append(spans, span)
		sum += span.end - span.start
	}
	if len(spans) < 2 || len(spans) > MaxRanges || sum > size {
		t.Fatalf("multipart of %d parts, %d bytes in all, of content of %d bytes", len(spans), sum, size)
	}
	return spans
}

// FuzzRange sends any Range header for content of any size (in
// memory; target 0 mod 3), for a chunk file (1) and for /data across chunk
// files (2), and checks
// the reply's properties (checkRangeReply); for a header of RFC 9110's
// grammar it checks the exact outcome against rangeModel.
func FuzzRange(f *testing.F) {
	fx := newFixture(f, nil)
	chunks := [][]byte{rangeContent(3000), rangeContent(1), rangeContent(700)}
	e := fx.add(f, api.StateCompleted, request.NDJSON, request.None, chunks)
	routes := []struct {
		path    string
		content []byte
	}{
		{"/exports/" + e.m.ID + "/chunks/0", chunks[0]},
		{"/exports/" + e.m.ID + "/data", e.data()},
	}
	handler := fx.h.Handler()
	modtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	for _, seed := range []struct {
		size   uint16
		target byte
		rng    string
	}{
		{100, 0, "bytes=-0"},
		{100, 0, "bytes=0-0,-0"},
		{100, 0, "bytes=-0,5-9, -1"},
		{0, 0, "bytes=-5"},
		{0, 0, "bytes=0-"},
		{1, 0, "bytes=0-0"},
		{100, 0, manyRanges(64)},
		{100, 0, manyRanges(65)},
		{100, 0, "bytes=" + strings.Repeat("0-,", 64)},
		{100, 0, "bytes=5-1"},
		{100, 0, "bytes=200-1"},
		{100, 0, "bytes= 1 - 2 ,\t-3 ,,"},
		{100, 0, "bytes=-99999999999999999999"},
		{100, 0, "bytes=+1-+2"},
		{100, 0, "items=0-1"},
		{4000, 1, "bytes=2990-3009,-0"},
		{0, 2, "bytes=2999-3000,-701"},
		{0, 2, "bytes=-0"},
	} {
		f.Add(seed.size, seed.target, seed.rng)
	}
	f.Fuzz(func(t *testing.T, size uint16, target byte, rng string) {
		rec := httptest.NewRecorder()
		var content []byte
		if i := int(target) % 3; i > 0 {
			content = routes[i-1].content
			req := httptest.NewRequest("GET", routes[i-1].path, nil)
			req.Header.Set("Range", rng)
			handler.ServeHTTP(rec, req)
		} else {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Range", rng)
			content = rangeContent(int(size) % 5000)
			fx.h.serveContent(rec, req, "content.bin", modtime, bytes.NewReader(content), int64(len(content)))
		}
		spans := checkRangeReply(t, rec, rng, content)
		status, want, ok := rangeModel(rng, int64(len(content)))
		if !ok {
			return
		}
		if rec.Code != status {
			t.Fatalf("Range %.200q over %d bytes: status %d, want %d", rng, len(content), rec.Code, status)
		}
		if status == http.StatusPartialContent && fmt.Sprint(spans) != fmt.Sprint(want) {
			t.Fatalf("Range %.200q over %d bytes: spans %v, want %v", rng, len(content), spans, want)
		}
	})
}

func TestPlanRange(t *testing.T) {
	for _, tt := range []struct {
		raw    string
		size   int64
		header string
		msg    string
	}{
		{"bytes=0-9", 100, "bytes=0-9", "not satisfiable"},
		{"bytes=-0", 100, rangeRefused, "not satisfiable"},
		{"bytes=-0, 1-2", 100, "bytes=1-2", "not satisfiable"},
		{"bytes=-00,-+0", 100, rangeRefused, "not satisfiable"},
		{"bytes=-5", 0, "", ""},
		{"bytes=-0", 0, "", ""},
		{"bytes=x", 0, "bytes=x", "malformed"},
		{"bytes=-0,x", 100, "bytes=-0,x", "malformed"},
		{"lines=1", 100, "lines=1", "malformed"},
		{manyRanges(64), 100, manyRanges(64), "not satisfiable"},
		{manyRanges(65), 100, rangeRefused, "more than 64 ranges"},
		{manyRanges(65), 0, rangeRefused, "more than 64 ranges"},
		{manyRanges(64) + ",,,", 100, manyRanges(64) + ",,,", "not satisfiable"},
	} {
		header, msg := planRange(tt.raw, tt.size)
		if header != tt.header || !strings.Contains(msg, tt.msg) {
			t.Errorf("planRange(%.40q, %d) = %.40q, %q; want %.40q and a message with %q", tt.raw, tt.size, header, msg, tt.header, tt.msg)
		}
	}
}
