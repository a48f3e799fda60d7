package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// errManifest means a manifest names a chunk file or format that the
// server will not serve: a chunk whose name or index is not the one its
// place gives, a digest that is not SHA-256 hex, an unknown format.
var errManifest = errors.New("manifest does not describe servable chunks")

// download is an export about to be downloaded: its manifest, checked,
// and where its files are.
type download struct {
	m           *api.Manifest
	dir         string
	format      request.Format
	compression request.Compression
	ext         string
}

// serveChunk answers GET /exports/{id}/chunks/{n}: chunk n, once it is
// listed in the manifest, whatever the export's state.
func (h *Server) serveChunk(w http.ResponseWriter, r *http.Request) {
	n, ok := chunkNumber(r.PathValue("n"))
	if !ok {
		h.writeError(w, r, http.StatusBadRequest, "malformed chunk number: want decimal digits without sign or leading zeros")
		return
	}
	d, ok := h.download(w, r)
	if !ok {
		return
	}
	if n >= len(d.m.Chunks) {
		h.writeError(w, r, http.StatusNotFound, "no such sealed chunk")
		return
	}
	c := d.m.Chunks[n]
	path, err := d.chunkPath(n)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		h.writeError(w, r, http.StatusNotFound, "chunk file is gone") // the export was deleted meanwhile
		return
	}
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	if fi.Size() != c.Bytes {
		h.writeErr(w, r, fmt.Errorf("%s: %w (%d bytes, manifest says %d)", path, errChunkSize, fi.Size(), c.Bytes))
		return
	}
	modtime := fi.ModTime()
	if d.m.FinishedAt != nil {
		modtime = *d.m.FinishedAt
	}
	name := fmt.Sprintf("%s-%s", d.m.ID, c.Name)
	d.setHeaders(w, name, `"sha256-`+c.SHA256+`"`)
	h.metrics.ActiveDownloads.Inc()
	defer h.metrics.ActiveDownloads.Dec()
	// An *os.File goes to the socket with sendfile where the OS has it.
	h.serveContent(w, r, name, modtime, f, fi.Size())
}

// serveData answers GET /exports/{id}/data: the chunks of a completed
// export as one file.
func (h *Server) serveData(w http.ResponseWriter, r *http.Request) {
	d, ok := h.download(w, r)
	if !ok {
		return
	}
	if d.m.State != api.StateCompleted {
		h.writeError(w, r, http.StatusConflict, fmt.Sprintf("export is %s; the whole export can be downloaded once it is completed", d.m.State))
		return
	}
	paths := make([]string, len(d.m.Chunks))
	sizes := make([]int64, len(d.m.Chunks))
	sums := sha256.New()
	var newest time.Time
	for i, c := range d.m.Chunks {
		path, err := d.chunkPath(i)
		if err != nil {
			h.writeErr(w, r, err)
			return
		}
		// Check every file before the first byte goes out, so that a
		// damaged export fails with a status and not halfway through.
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			h.writeError(w, r, http.StatusNotFound, "chunk file is gone")
			return
		}
		if err != nil {
			h.writeErr(w, r, err)
			return
		}
		if fi.Size() != c.Bytes {
			h.writeErr(w, r, fmt.Errorf("%s: %w (%d bytes, manifest says %d)", path, errChunkSize, fi.Size(), c.Bytes))
			return
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		paths[i], sizes[i] = path, c.Bytes
		sums.Write([]byte(c.SHA256))
		sums.Write([]byte{'\n'})
	}
	modtime := newest
	if d.m.FinishedAt != nil {
		modtime = *d.m.FinishedAt
	}
	content := newConcat(paths, sizes)
	defer func() {
		if err := content.Close(); err != nil {
			h.logger.Error("close chunk file", "export", d.m.ID, "err", err)
		}
	}()
	name := d.m.ID + "." + d.ext
	d.setHeaders(w, name, `"chunks-sha256-`+hex.EncodeToString(sums.Sum(nil))+`"`)
	h.metrics.ActiveDownloads.Inc()
	defer h.metrics.ActiveDownloads.Dec()
	h.serveContent(w, r, name, modtime, content, content.Size())
}

// download checks the id and loads the export's manifest; the route's
// guard has checked the credential. On false it has answered.
func (h *Server) download(w http.ResponseWriter, r *http.Request) (*download, bool) {
	id, ok := h.pathID(w, r)
	if !ok {
		return nil, false
	}
	m, err := h.exports.Status(id)
	if err != nil {
		h.writeErr(w, r, err)
		return nil, false
	}
	if m.ID != id {
		h.writeErr(w, r, fmt.Errorf("export %s: %w: manifest of %q", id, errManifest, m.ID))
		return nil, false
	}
	dir, err := h.exports.Dir(id)
	if err != nil {
		h.writeErr(w, r, err)
		return nil, false
	}
	h.logger.Debug("download", "export", id, "path", r.URL.Path, "method", r.Method, "range", r.Header.Get("Range"))
	f, c, err := manifestFormat(m)
	if err != nil {
		h.writeErr(w, r, fmt.Errorf("export %s: %w", id, err))
		return nil, false
	}
	return &download{m: m, dir: dir, format: f, compression: c, ext: m.Ext}, true
}

// chunkPath is the path of chunk i, built only from the export's directory
// and a name that has exactly the form chunker.Name gives chunk i.
func (d *download) chunkPath(i int) (string, error) {
	c := d.m.Chunks[i]
	if c.Index != i || c.Name != chunker.Name(i, d.ext) {
		return "", fmt.Errorf("export %s chunk %d: %w: index %d, name %q", d.m.ID, i, errManifest, c.Index, c.Name)
	}
	if sum, err := hex.DecodeString(c.SHA256); err != nil || len(sum) != sha256.Size {
		return "", fmt.Errorf("export %s chunk %d: %w: sha256 %q", d.m.ID, i, errManifest, c.SHA256)
	}
	return filepath.Join(d.dir, c.Name), nil
}

// setHeaders sets the headers of a download named name; http.ServeContent
// uses the ETag for If-Range, If-Match and If-None-Match.
func (d *download) setHeaders(w http.ResponseWriter, name, etag string) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(d.format, d.compression))
	// The file is the compressed artifact: no Content-Encoding, so that
	// clients keep the bytes as they are.
	hdr.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	hdr.Set("ETag", etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "private")
}

// contentType is the media type of a chunk file.
func contentType(f request.Format, c request.Compression) string {
	switch c {
	case request.Zstd:
		return "application/zstd"
	case request.Gzip:
		return "application/gzip"
	}
	switch f {
	case request.JSON:
		return "application/json"
	case request.CSV:
		return "text/csv; charset=utf-8; header=present"
	}
	return "application/x-ndjson"
}

// format checks the format and compression the manifest says its
// chunks hold.
func manifestFormat(m *api.Manifest) (api.Format, api.Compression, error) {
	if !m.Format.Valid() || !m.Compression.Valid() || m.Ext != api.Ext(m.Format, m.Compression) {
		return "", "", fmt.Errorf("%w: format %q, compression %q, ext %q", errManifest, m.Format, m.Compression, m.Ext)
	}
	return m.Format, m.Compression, nil
}

// chunkNumber parses the {n} of a chunk URL: decimal digits without
// sign or leading zeros, below 2^31 (no export has more chunks). Whether
// the manifest lists chunk n is the caller's question.
func chunkNumber(s string) (int, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32) // refuses more digits than fit, however many
	if err != nil {
		return 0, false
	}
	return int(n), true
}
