package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// errManifest means a manifest names a chunk file or format that the
// server will not serve: a chunk whose name or index is not the one its
// place gives, a digest that is not SHA-256 hex, an unknown format.
var errManifest = errors.New("manifest does not describe servable chunks")

// download is an export about to be downloaded: its manifest, checked.
type download struct {
	m           *api.Manifest
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
	f, err := h.openChunk(r.Context(), d, n)
	if err != nil {
		h.writeFileErr(w, r, err)
		return
	}
	defer f.Close()
	modtime := f.ModTime()
	if d.m.FinishedAt != nil {
		modtime = *d.m.FinishedAt
	}
	name := fmt.Sprintf("%s-%s", d.m.ID, c.Name)
	d.setHeaders(w, name, `"sha256-`+c.SHA256+`"`)
	h.metrics.ActiveDownloads.Inc()
	defer h.metrics.ActiveDownloads.Dec()
	// A local file goes to the socket with sendfile where the OS has it.
	h.serveContent(w, r, name, modtime, f, f.Size())
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
	sizes := make([]int64, len(d.m.Chunks))
	sums := sha256.New()
	for i, c := range d.m.Chunks {
		if err := d.checkChunk(i); err != nil {
			h.writeErr(w, r, err)
			return
		}
		sizes[i] = c.Bytes
		sums.Write([]byte(c.SHA256))
		sums.Write([]byte{'\n'})
	}
	content := newConcat(sizes, func(i int) (File, error) { return h.openChunk(r.Context(), d, i) })
	defer func() {
		if err := content.Close(); err != nil {
			h.logger.Error("close chunk file", "export", d.m.ID, "err", err)
		}
	}()
	newest, err := content.check()
	if err != nil {
		h.writeFileErr(w, r, err)
		return
	}
	modtime := newest
	if d.m.FinishedAt != nil {
		modtime = *d.m.FinishedAt
	}
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
	h.logger.Debug("download", "export", id, "path", r.URL.Path, "method", r.Method, "range", r.Header.Get("Range"))
	f, c, err := manifestFormat(m)
	if err != nil {
		h.writeErr(w, r, fmt.Errorf("export %s: %w", id, err))
		return nil, false
	}
	return &download{m: m, format: f, compression: c, ext: m.Ext}, true
}

// checkChunk checks that the manifest's chunk i has exactly the name
// that chunker.Name gives chunk i, so that no file name comes from
// anywhere else, and a SHA-256 for its ETag.
func (d *download) checkChunk(i int) error {
	c := d.m.Chunks[i]
	if c.Index != i || c.Name != chunker.Name(i, d.ext) {
		return fmt.Errorf("export %s chunk %d: %w: index %d, name %q", d.m.ID, i, errManifest, c.Index, c.Name)
	}
	if sum, err := hex.DecodeString(c.SHA256); err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("export %s chunk %d: %w: sha256 %q", d.m.ID, i, errManifest, c.SHA256)
	}
	return nil
}

// openChunk opens chunk i of d from the server's Files and checks its
// size against the manifest.
func (h *Server) openChunk(ctx context.Context, d *download, i int) (File, error) {
	if err := d.checkChunk(i); err != nil {
		return nil, err
	}
	c := d.m.Chunks[i]
	f, err := h.files.Open(ctx, d.m.ID, c.Name)
	if err != nil {
		return nil, fmt.Errorf("export %s chunk %d: %w", d.m.ID, i, err)
	}
	if f.Size() != c.Bytes {
		return nil, errors.Join(fmt.Errorf("export %s %s: %w (%s, manifest says %d)", d.m.ID, c.Name, errChunkSize, api.Count(f.Size(), "byte"), c.Bytes), f.Close())
	}
	return f, nil
}

// writeFileErr answers an error from opening chunk files: 404 for a
// file that is gone (the export was deleted meanwhile), else as
// writeErr.
func (h *Server) writeFileErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		h.writeError(w, r, http.StatusNotFound, "chunk file is gone")
		return
	}
	h.writeErr(w, r, err)
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
