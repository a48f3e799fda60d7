package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
)

// MaxRanges is the most byte ranges that one request may ask for, as
// Apache's MaxRanges: a Range header with more gets 416 with a message
// that names the limit. A multipart/byteranges reply costs a seek, a
// boundary and part headers per range, so the limit bounds that work;
// no downloader needs more (exportctl asks for one range per request).
// The reply stays at most the content's size plus the part headers:
// when the ranges add up to more than the content, net/http sends the
// whole content instead, with 200.
const MaxRanges = 64

// serveContent is http.ServeContent (Range, If-Range and the other
// conditions) over content of size bytes, with three changes to Range: a
// suffix range of zero bytes ("-0") is dropped rather than served as an
// empty 206, so that a header of nothing else gets 416 as RFC 9110 wants;
// more than MaxRanges ranges get 416; and over empty content a well-formed
// Range gets the whole (empty) content with 200, which net/http does for
// ranges past the end (for clients that send a Range with every request)
// but not for suffix ranges, which it answers with a 206 that
// Content-Range cannot describe. A 416 has the JSON error body and
// Content-Range: bytes */size.
func (h *Server) serveContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker, size int64) {
	raw := r.Header.Get("Range")
	if raw == "" {
		http.ServeContent(w, r, name, modtime, content)
		return
	}
	header, msg := planRange(raw, size)
	if header != raw {
		r = r.Clone(r.Context())
		if header == "" {
			r.Header.Del("Range")
		} else {
			r.Header.Set("Range", header)
		}
	}
	http.ServeContent(&rangeWriter{ResponseWriter: w, h: h, r: r, size: size, msg: msg}, r, name, modtime, content)
}

// rangeRefused is a Range header that http.ServeContent refuses with
// 416 whatever the content's size, unless If-Range tells it to ignore
// Range.
const rangeRefused = "bytes=-"

// planRange returns the Range header that http.ServeContent is to see
// for raw over content of size bytes ("" for none), and the message of a
// 416 should it answer one. A refused header becomes rangeRefused; a
// malformed one stays as it is, ServeContent refuses it too. It reads at
// most MaxRanges+1 ranges.
func planRange(raw string, size int64) (header, msg string) {
	const malformed = "malformed Range header"
	specs, ok := strings.CutPrefix(raw, "bytes=")
	if !ok {
		return raw, malformed
	}
	var kept []string
	n, dropped := 0, false
	for spec := range strings.SplitSeq(specs, ",") {
		spec = textproto.TrimString(spec)
		if spec == "" {
			continue // net/http skips empty elements too
		}
		if n++; n > MaxRanges {
			return rangeRefused, fmt.Sprintf("more than %d ranges in one request; at most %d are served", MaxRanges, MaxRanges)
		}
		switch rangeKind(spec, size) {
		case rangeInvalid:
			return raw, malformed
		case rangeEmpty:
			dropped = true
		default:
			kept = append(kept, spec)
		}
	}
	msg = "range not satisfiable: the content has " + api.Count(size, "byte")
	switch {
	case size == 0:
		return "", msg
	case !dropped:
		return raw, msg
	case len(kept) == 0:
		return rangeRefused, msg
	}
	return "bytes=" + strings.Join(kept, ","), msg
}

// The kinds of one range of a Range header.
const (
	rangeServed  = iota // served as net/http reads it, or skipped by it as past the end
	rangeInvalid        // net/http refuses the whole header
	rangeEmpty          // a suffix range of length 0
)

// rangeKind classifies spec (one trimmed element of a Range header)
// over content of size bytes, parsing as net/http's parseRange does so
// that the two agree on what is valid.
func rangeKind(spec string, size int64) int {
	start, end, ok := strings.Cut(spec, "-")
	if !ok {
		return rangeInvalid
	}
	start, end = textproto.TrimString(start), textproto.TrimString(end)
	if start == "" {
		if end == "" || end[0] == '-' {
			return rangeInvalid
		}
		n, err := strconv.ParseInt(end, 10, 64)
		switch {
		case err != nil || n < 0:
			return rangeInvalid
		case n == 0:
			return rangeEmpty
		}
		return rangeServed
	}
	first, err := strconv.ParseInt(start, 10, 64)
	if err != nil || first < 0 {
		return rangeInvalid
	}
	if first >= size || end == "" {
		return rangeServed // past the end: net/http checks no further
	}
	if last, err := strconv.ParseInt(end, 10, 64); err != nil || first > last {
		return rangeInvalid
	}
	return rangeServed
}

// rangeWriter passes http.ServeContent's response through, except a
// 416, whose text body it replaces with the JSON error body and msg. It
// keeps the ResponseWriter's io.ReaderFrom, through which net/http sends
// a file with sendfile.
type rangeWriter struct {
	http.ResponseWriter
	h       *Server
	r       *http.Request
	size    int64
	msg     string
	refused bool // the 416 is written; ServeContent's body is dropped
}

func (w *rangeWriter) WriteHeader(code int) {
	if code != http.StatusRequestedRangeNotSatisfiable {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if !w.refused {
		w.refused = true
		// The error is no download: a client that names its file after
		// Content-Disposition must not keep it as the chunk.
		hdr := w.ResponseWriter.Header()
		hdr.Del("Content-Disposition")
		// net/http sends it only for ranges past the end; RFC 9110 asks
		// for it with every 416 of a byte range.
		hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(w.size, 10))
		w.h.writeError(w.ResponseWriter, w.r, code, w.msg)
	}
}

func (w *rangeWriter) Write(p []byte) (int, error) {
	if w.refused {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *rangeWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.refused {
		return io.Copy(io.Discard, src)
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
}

// Unwrap gives http.ResponseController the underlying ResponseWriter.
func (w *rangeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
