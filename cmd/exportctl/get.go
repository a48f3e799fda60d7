package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
)

var (
	// errIncomplete means the export has not completed: get downloaded
	// the chunks sealed so far, not the whole export.
	errIncomplete = errors.New("not completed")
	// errChecksum means a downloaded chunk is not the one the manifest
	// describes; its file is deleted.
	errChecksum = errors.New("sha256 mismatch")
	// errManifest means the manifest names chunks that get will not write.
	errManifest = errors.New("unexpected manifest")
)

// httpError is an error answer of the HTTP server.
type httpError struct {
	Status        int
	Path, Message string
}

func (e *httpError) Error() string {
	msg := fmt.Sprintf("GET %s: %d %s", e.Path, e.Status, e.Message)
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		msg += " (the daemon signs download URLs: pass the start reply's dataUrl with --data-url, or use start --wait)"
	}
	return msg
}

// source is where one chunk's bytes are served: at offset of url, which
// serves exactly the chunk (with ETag etag) when whole is set.
type source struct {
	url    string
	offset int64
	whole  bool
	etag   string
}

// download fetches the chunks of one export into dir.
type download struct {
	hc  *http.Client
	dir string
	// token is the daemon's API token, sent as a bearer token.
	token               string
	kept, resumed, sent atomic.Int64
}

// get downloads export id into cfg.Out, as README.md says; dataURL is
// the start reply's, when known.
func (c *client) get(ctx context.Context, cfg *config, id, dataURL string, w io.Writer) error {
	m, err := c.status(ctx, id)
	if err != nil {
		return err
	}
	format, comp, err := checkManifest(m, id)
	if err != nil {
		return err
	}
	src, signed, err := sources(cfg.HTTPURL, dataURL, cfg.HTTPToken != "", m)
	if err != nil {
		return err
	}
	if signed && m.State != api.StateCompleted {
		return fmt.Errorf("export %s is %s, %w: a signed dataUrl serves only a completed export", id, m.State, errIncomplete)
	}
	dir := cmp.Or(cfg.Out, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true // the chunks stay as the server has them
	tr.ResponseHeaderTimeout = cfg.Timeout
	tr.MaxIdleConnsPerHost = cfg.Parallel
	defer tr.CloseIdleConnections()
	d := &download{hc: &http.Client{Transport: tr}, dir: dir, token: cfg.HTTPToken}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cfg.Parallel)
	for i, ch := range m.Chunks {
		g.Go(func() error { return d.chunk(gctx, ch, src(i)) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("get %s: %w", id, err)
	}
	if err := chunker.WriteManifest(dir, m); err != nil {
		return err
	}
	fmt.Fprintf(w, "get %s: %s in %s (%d complete before, %d resumed), %s downloaded\n",
		id, api.Count(len(m.Chunks), "chunk"), dir, d.kept.Load(), d.resumed.Load(), humanBytes(d.sent.Load()))
	if m.State != api.StateCompleted {
		return fmt.Errorf("export %s is %s, %w: got the %s sealed so far; run get again once it has completed", id, m.State, errIncomplete, api.Count(len(m.Chunks), "chunk"))
	}
	if !cfg.Decompress {
		return nil
	}
	name := filepath.Join(dir, id+"."+string(format))
	if err := decompress(name, dir, m, comp); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", name)
	return nil
}

// checkManifest checks the export's format, compression and extension as
// the manifest gives them, and that every chunk name is the one its
// index gives, so that no name from the server reaches a path unchecked.
func checkManifest(m *api.Manifest, id string) (api.Format, api.Compression, error) {
	f, c := m.Format, m.Compression
	if m.ID != id || !f.Valid() || !c.Valid() || m.Ext != api.Ext(f, c) {
		return "", "", fmt.Errorf("%w: export %q, format %q, compression %q, ext %q", errManifest, m.ID, f, c, m.Ext)
	}
	for i, ch := range m.Chunks {
		sum, err := hex.DecodeString(ch.SHA256)
		if ch.Index != i || ch.Name != chunker.Name(i, api.Ext(f, c)) || err != nil || len(sum) != sha256.Size || ch.Bytes < 0 {
			return "", "", fmt.Errorf("%w: chunk %d: index %d, name %q, sha256 %q", errManifest, i, ch.Index, ch.Name, ch.SHA256)
		}
	}
	return f, c, nil
}

// sources says where each chunk is fetched: <base>/exports/<id>/chunks/<n>,
// or, with a signed dataUrl and no bearer token, a byte range of it (signed
// says so). The base is the dataUrl's, else httpURL.
func sources(httpURL, dataURL string, bearer bool, m *api.Manifest) (src func(int) source, signed bool, err error) {
	base := httpURL
	if dataURL != "" {
		u, err := url.Parse(dataURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, false, fmt.Errorf("%w: --data-url %q is not an absolute URL", errUsage, dataURL)
		}
		if u.Query().Has("token") && !bearer {
			offsets := make([]int64, len(m.Chunks)+1)
			for i, c := range m.Chunks {
				offsets[i+1] = offsets[i] + c.Bytes
			}
			return func(i int) source { return source{url: dataURL, offset: offsets[i]} }, true, nil
		}
		base = u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/exports/"+m.ID+"/data")
	}
	base = strings.TrimSuffix(base, "/") + "/exports/" + m.ID + "/chunks/"
	return func(i int) source {
		return source{url: base + strconv.Itoa(i), whole: true, etag: `"sha256-` + m.Chunks[i].SHA256 + `"`}
	}, false, nil
}

// chunk makes dir/<name> the chunk the manifest describes. The bytes go
// to <name>.part (a chunk already there under its final name is taken
// back as one), continuing what an earlier run left; the file is renamed
// once its digest matches the manifest's.
func (d *download) chunk(ctx context.Context, c api.Chunk, src source) error {
	final := filepath.Join(d.dir, c.Name)
	part := final + ".part"
	if err := os.Rename(final, part); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	have, err := io.Copy(h, f)
	if err == nil && have > c.Bytes {
		have, err = restart(f, h)
	}
	if err != nil {
		return fmt.Errorf("chunk %d: %w", c.Index, err)
	}
	switch {
	case have == c.Bytes:
		d.kept.Add(1)
	case have > 0:
		d.resumed.Add(1)
		fallthrough
	default:
		if have, err = d.fetch(ctx, f, h, src, have, c.Bytes); err != nil {
			return fmt.Errorf("chunk %d: %w", c.Index, err) // the .part keeps what arrived, for the next run
		}
	}
	if sum := hex.EncodeToString(h.Sum(nil)); have != c.Bytes || sum != c.SHA256 {
		return errors.Join(fmt.Errorf("chunk %d (%s): %w: got %d bytes with sha256 %s, the manifest says %d bytes with %s; the file is deleted, run get again to download the chunk anew",
			c.Index, c.Name, errChecksum, have, sum, c.Bytes, c.SHA256), f.Close(), os.Remove(part))
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(part, final)
}

// fetch appends the chunk's bytes from have on to f and h, and returns
// how many f holds.
func (d *download) fetch(ctx context.Context, f *os.File, h hash.Hash, src source, have, size int64) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url, nil)
	if err != nil {
		return have, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	if have > 0 || !src.whole {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", src.offset+have, src.offset+size-1))
		if have > 0 && src.etag != "" {
			req.Header.Set("If-Range", src.etag) // a file other than the manifest's comes whole
		}
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return have, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		var start int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start); err != nil || start != src.offset+have {
			return have, fmt.Errorf("GET %s: asked for bytes from %d, got Content-Range %q", req.URL.Path, src.offset+have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK && src.whole:
		if have, err = restart(f, h); err != nil {
			return have, err
		}
	default:
		var body struct{ Error struct{ Message string } }
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &body) != nil || body.Error.Message == "" {
			body.Error.Message = http.StatusText(resp.StatusCode)
		}
		return have, &httpError{Status: resp.StatusCode, Path: req.URL.Path, Message: body.Error.Message}
	}
	// One byte more than wanted shows a file longer than the manifest's.
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, size-have+1))
	d.sent.Add(n)
	return have + n, err
}

// restart empties a partial file and its hash.
func restart(f *os.File, h hash.Hash) (int64, error) {
	h.Reset()
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	_, err := f.Seek(0, io.SeekStart)
	return 0, err
}

// decompress writes the chunks in dir, decompressed in order, into name.
func decompress(name, dir string, m *api.Manifest, comp api.Compression) (err error) {
	f, err := os.Create(name + ".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close(), os.Remove(f.Name()))
		}
	}()
	zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zd.Close()
	for _, c := range m.Chunks {
		if err := copyChunk(f, filepath.Join(dir, c.Name), comp, zd); err != nil {
			return fmt.Errorf("decompress chunk %d: %w", c.Index, err)
		}
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// copyChunk writes one chunk file, decompressed, to w.
func copyChunk(w io.Writer, path string, comp api.Compression, zd *zstd.Decoder) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	switch comp {
	case api.Zstd:
		r, err = zd, zd.Reset(f)
	case api.Gzip:
		r, err = gzip.NewReader(f)
	}
	if err == nil {
		_, err = io.Copy(w, r)
	}
	return err
}
