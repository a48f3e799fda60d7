package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/exportd/exportd/web"
)

// The page and its assets come with their types, strong ETags and the
// security headers; nothing else is served.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	for path, ctype := range map[string]string{
		"/":                "text/html; charset=utf-8",
		"/console/app.js":  "text/javascript; charset=utf-8",
		"/console/app.css": "text/css; charset=utf-8",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || len(body) == 0 {
			t.Errorf("GET %s: %s, %q, %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		for name, want := range map[string]string{
			"Content-Security-Policy": web.ContentSecurityPolicy, "X-Content-Type-Options": "nosniff",
			"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("GET %s: %s %q, want %q", path, name, got, want)
			}
		}
		etag := resp.Header.Get("ETag")
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		again, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		again.Body.Close()
		if etag == "" || again.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %s: %s", path, etag, again.Status)
		}
	}
	if !strings.Contains(web.ContentSecurityPolicy, "frame-ancestors 'none'") || strings.Contains(web.ContentSecurityPolicy, "unsafe") {
		t.Errorf("policy %q", web.ContentSecurityPolicy)
	}
	for _, path := range []string{"/console/", "/console/index.html", "/index.html", "/console/../web.go"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
}

// The README shows socket.js as it is.
func TestREADMEAdapter(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile("static/socket.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```js\n"+string(js)+"```") {
		t.Error("README.md's adapter differs from web/static/socket.js")
	}
}
