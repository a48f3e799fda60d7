// Package web is the daemon's web console: one page, its script and its
// style sheet, embedded in the binary (plain HTML, CSS and JavaScript; no
// build step). The page lists the exports and follows their progress
// over GET /events, starts, cancels, resumes and deletes exports with the
// API token, and downloads chunks through the signed URLs of
// GET /exports/{id}/links. It holds no data and no secret: it asks for
// the token, which it keeps in the tab's sessionStorage.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the console's policy: its own script, style
// sheet and API only, no inline code, no plugin, no form that posts
// anywhere, never in a frame.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	data  []byte
	ctype string
	etag  string
}

// Handler serves the console: GET / is the page, GET /console/<file> its
// assets, each with a strong ETag, and every answer with the security
// headers (ContentSecurityPolicy, X-Content-Type-Options nosniff,
// X-Frame-Options DENY, no referrer). Anything else is 404.
func Handler() http.Handler {
	assets := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		name := "/console/" + strings.TrimPrefix(p, "static/")
		if name == "/console/index.html" {
			name = "/"
		}
		assets[name] = asset{data: data, ctype: mime.TypeByExtension(path.Ext(p)), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: embedded files unreadable: " + err.Error()) // the binary itself is broken
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		a, ok := assets[r.URL.Path]
		if !ok {
			http.Error(w, "no such file", http.StatusNotFound)
			return
		}
		hdr.Set("Content-Type", a.ctype)
		hdr.Set("ETag", a.etag)
		hdr.Set("Cache-Control", "no-cache") // revalidate: a new binary may bring a new page
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
	})
}
