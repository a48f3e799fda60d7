package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// raw writes raw on a new connection to fx's server and reads one
// response; HEAD requests (by raw's first word) get no body.
func (fx *fixture) raw(tb testing.TB, raw string) *response {
	tb.Helper()
	c, err := net.DialTimeout("tcp", fx.srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		tb.Fatalf("%.80q: no response: %v", raw, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%.80q: read body: %v", raw, err)
	}
	return &response{Response: resp, body: body}
}

// TestHostile sends what an attacker or a broken client would, on raw
// connections to the server that HTTP.Server makes, with a download
// secret so that the credential checks are in the way too. Each gets its
// exact status, never a 500, and the server answers /healthz after each.
func TestHostile(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 50))
	exp := "/exports/" + e.m.ID
	const bearer = "Authorization: Bearer " + testAPIToken + "\r\n"
	// get is a well-formed request for target with the API token.
	get := func(method, target string, headers ...string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: x\r\n" + bearer + strings.Join(headers, "") + "\r\n"
	}
	big := func(n int) string { return strings.Repeat("b", n) }
	tests := []struct {
		name   string
		raw    string
		status int
		json   bool // the answer is the handlers' JSON error, not net/http's text
	}{
		// Line endings: RFC 9112 lets a server take a bare LF for CRLF,
		// and net/http does.
		{name: "LF only", raw: "GET /healthz HTTP/1.1\nHost: x\n\n", status: 200},
		{name: "LF only, HEAD of the list", raw: "HEAD /exports HTTP/1.1\nHost: x\n" + strings.TrimSuffix(bearer, "\r\n") + "\n\n", status: 200},
		{name: "LF only, a chunk", raw: "GET " + exp + "/chunks/0 HTTP/1.1\nHost: x\n" + strings.TrimSuffix(bearer, "\r\n") + "\n\n", status: 200},
		{name: "CRLF and LF mixed", raw: "GET /healthz HTTP/1.1\r\nHost: x\nAccept: */*\r\n\n", status: 200},
		{name: "HTTP/1.0 without Host", raw: "GET /healthz HTTP/1.0\r\n\r\n", status: 200},
		{name: "absolute form", raw: "GET http://x/healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 200},
		{name: "OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", status: 200},
		{name: "folded header", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", status: 200},

		// Sizes: MaxHeaderBytes.
		{name: "header of 60 KiB", raw: get("GET", "/healthz", "X-Big: "+big(60<<10)+"\r\n"), status: 200},
		{name: "header of 100 KB", raw: get("GET", "/healthz", "X-Big: "+big(100_000)+"\r\n"), status: 431},
		{name: "header of 1 MiB", raw: get("GET", "/healthz", "X-Big: "+big(1<<20)+"\r\n"), status: 431},
		{name: "10000 headers", raw: get("GET", "/healthz", strings.Repeat("X-A: b\r\n", 10000)), status: 431},
		{name: "URL of 100 KB", raw: get("GET", "/healthz?"+big(100_000)), status: 431},
		{name: "method of 10 KB", raw: get(strings.Repeat("G", 10_000), "/exports"), status: 405, json: true},

		// Garbage and broken framing.
		{name: "TLS client hello", raw: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", status: 400},
		{name: "HTTP/2 preface", raw: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: 400},
		{name: "no method", raw: " /exports HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "no version", raw: "GET /exports\r\n\r\n", status: 400},
		{name: "bad version", raw: "GET /exports HTTP/1.1x\r\nHost: x\r\n\r\n", status: 400},
		{name: "two spaces", raw: "GET /healthz  HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "tab for space", raw: "GET\t/healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "empty lines first", raw: "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 400},
		{name: "no Host", raw: "GET /exports HTTP/1.1\r\n\r\n", status: 400},
		{name: "two Hosts", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", status: 400},
		{name: "Host with a space", raw: "GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
		{name: "header without colon", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nBogus\r\n\r\n", status: 400},
		{name: "space before colon", raw: "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", status: 400},
		{name: "control byte in a value", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", status: 400},
		{name: "negative Content-Length", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", status: 400},
		{name: "two Content-Lengths", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "Expect unknown", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n", status: 417},
		// net/http's answers that RFC 9112 prescribes: 5xx, but never 500.
		{name: "unknown transfer coding", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
		{name: "HTTP/2.0 request line", raw: "GET /exports HTTP/2.0\r\nHost: x\r\n\r\n", status: 505},

		// Paths.
		{name: "bad percent-encoding", raw: get("GET", "/exports/%zz"), status: 400},
		{name: "bad percent-encoding in the query", raw: get("GET", "/exports?state=%zz"), status: 400, json: true},
		{name: "not UTF-8", raw: get("GET", "/exports/%ff%fe"), status: 400, json: true},
		{name: "raw byte 0xff", raw: get("GET", "/exports/\xff"), status: 400},
		{name: "raw NUL", raw: get("GET", "/exports/\x00"), status: 400},
		{name: "raw DEL", raw: get("GET", "/heal\x7fthz"), status: 400},
		{name: "encoded NUL", raw: get("GET", "/exports/"+e.m.ID[:13]+"%00"+e.m.ID[14:]), status: 400, json: true},
		{name: "traversal in the id", raw: get("GET", "/exports/..%2f..%2fetc/chunks/0"), status: 400, json: true},
		{name: "traversal to passwd", raw: get("GET", "/exports/..%2F..%2F..%2Fetc%2Fpasswd"), status: 400, json: true},
		{name: "encoded dot dot", raw: get("GET", "/exports/%2e%2e/chunks/0"), status: 400, json: true},
		{name: "backslashes", raw: get("GET", "/exports/..%5c..%5cetc/data"), status: 400, json: true},
		{name: "asterisk", raw: get("GET", "*"), status: 400},
		// The mux sends an unclean path to its clean form, which is then
		// routed (and guarded) like any other.
		{name: "dot dot", raw: get("GET", "/exports/../healthz"), status: 307},
		{name: "double slash", raw: get("GET", "//exports"), status: 307},
		{name: "no id", raw: get("GET", "/exports/"), status: 404, json: true},
		{name: "unknown route", raw: get("GET", "/admin"), status: 404, json: true},
		{name: "trailing slash", raw: get("GET", exp+"/chunks/0/"), status: 404, json: true},
		{name: "unknown export", raw: get("GET", "/exports/"+strings.Repeat("a", 26)), status: 404, json: true},
		{name: "id of 10 KB", raw: get("GET", "/exports/"+strings.Repeat("a", 10_000)+"/data"), status: 400, json: true},
		{name: "lower-case method", raw: get("get", "/exports"), status: 405, json: true},
		{name: "PUT", raw: get("PUT", exp), status: 405, json: true},
		{name: "POST with a body not JSON", raw: get("POST", "/exports", "Content-Length: 5\r\n") + "hello", status: 415, json: true},
		{name: "DELETE with a body not JSON", raw: get("DELETE", exp, "Content-Length: 5\r\n") + "hello", status: 415, json: true},
		{name: "POST of 2 MiB", raw: get("POST", "/exports", "Content-Type: application/json\r\nContent-Length: 2097152\r\n") + big(2<<20), status: 413, json: true},

		// Chunk numbers.
		{name: "chunk -1", raw: get("GET", exp+"/chunks/-1"), status: 400, json: true},
		{name: "chunk 2^64", raw: get("GET", exp+"/chunks/99999999999999999999"), status: 400, json: true},
		{name: "chunk 0x1", raw: get("GET", exp+"/chunks/0x1"), status: 400, json: true},
		{name: "chunk 01", raw: get("GET", exp+"/chunks/01"), status: 400, json: true},
		{name: "chunk with a space", raw: get("GET", exp+"/chunks/%201"), status: 400, json: true},
		{name: "chunk not listed", raw: get("GET", exp+"/chunks/7"), status: 404, json: true},
		{name: "chunk 2^31-1", raw: get("GET", exp+"/chunks/2147483647"), status: 404, json: true},

		// Ranges.
		{name: "suffix range of zero", raw: get("GET", exp+"/chunks/0", "Range: bytes=-0\r\n"), status: 416, json: true},
		{name: "data suffix range of zero", raw: get("GET", exp+"/data", "Range: bytes=-0\r\n"), status: 416, json: true},
		{name: "HEAD suffix range of zero", raw: get("HEAD", exp+"/data", "Range: bytes=-0\r\n"), status: 416},
		{name: "65 ranges", raw: get("GET", exp+"/data", "Range: "+manyRanges(65)+"\r\n"), status: 416, json: true},
		{name: "range garbage", raw: get("GET", exp+"/data", "Range: bytes=\xff-\x00\r\n"), status: 400},
		{name: "range not bytes", raw: get("GET", exp+"/chunks/1", "Range: lines=1-2\r\n"), status: 416, json: true},
		{name: "range past the end", raw: get("GET", exp+"/chunks/1", "Range: bytes=999999999999999999-\r\n"), status: 416, json: true},
		{name: "range beyond int64", raw: get("GET", exp+"/chunks/1", "Range: bytes=0-99999999999999999999\r\n"), status: 416, json: true},
		{name: "first of two Range headers", raw: get("GET", exp+"/chunks/1", "Range: bytes=-0\r\n", "Range: bytes=0-1\r\n"), status: 416, json: true},
		{name: "If-Range garbage", raw: get("GET", exp+"/chunks/1", "Range: bytes=0-1\r\n", "If-Range: \"\x7f\r\n"), status: 400},
		{name: "If-Range not matching", raw: get("GET", exp+"/chunks/1", "Range: bytes=-0\r\n", "If-Range: \"other\"\r\n"), status: 200},

		// Credentials.
		{name: "no credential", raw: "GET /exports HTTP/1.1\r\nHost: x\r\n\r\n", status: 401, json: true},
		{name: "bearer of 60 KiB", raw: "GET /exports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + big(60<<10) + "\r\n\r\n", status: 403, json: true},
		{name: "token of 60 KiB", raw: "GET " + exp + "/data?expires=1&token=" + big(60<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n", status: 403, json: true},
		{name: "expires beyond int64", raw: "GET " + exp + "/data?expires=99999999999999999999&token=AAAA HTTP/1.1\r\nHost: x\r\n\r\n", status: 403, json: true},
		{name: "token twice", raw: "GET " + exp + "/data?expires=1&expires=2&token=a&token=b HTTP/1.1\r\nHost: x\r\n\r\n", status: 403, json: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.raw(t, tt.raw)
			if resp.StatusCode != tt.status {
				t.Fatalf("%.100q: status %d, want %d; body %.200q", tt.raw, resp.StatusCode, tt.status, resp.body)
			}
			if tt.json {
				var e api.ErrorBody
				if err := json.Unmarshal(resp.body, &e); err != nil || e.Error.Code != tt.status || e.Error.Message == "" {
					t.Errorf("body %.200q: want the JSON error with code %d", resp.body, tt.status)
				}
			}
			if len(resp.body) > 4096 && tt.status >= 400 {
				t.Errorf("refusal of %d bytes", len(resp.body))
			}
			if health := fx.raw(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); health.StatusCode != http.StatusOK {
				t.Fatalf("after it, /healthz answers %d", health.StatusCode)
			}
		})
	}
}

// TestHostilePipelined sends a good request, a bad one and a good one
// on one connection: the bad one gets its status and ends the connection
// only if net/http must (it cannot find the next request after it).
func TestHostilePipelined(t *testing.T) {
	fx := newFixture(t, nil)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 10))
	c, err := net.Dial("tcp", fx.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	exp := "/exports/" + e.m.ID
	reqs := "GET " + exp + "/chunks/0 HTTP/1.1\nHost: x\nRange: bytes=-0\n\n" +
		"HEAD " + exp + "/chunks/99999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET " + exp + "/chunks/0 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n"
	if _, err := io.WriteString(c, reqs); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i, want := range []struct {
		method string
		status int
		body   []byte
	}{
		{"GET", http.StatusRequestedRangeNotSatisfiable, nil},
		{"HEAD", http.StatusBadRequest, nil},
		{"GET", http.StatusPartialContent, e.chunks[0][:4]},
	} {
		resp, err := http.ReadResponse(br, &http.Request{Method: want.method})
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if resp.StatusCode != want.status || (want.body != nil && !bytes.Equal(body, want.body)) {
			t.Fatalf("response %d: %d %.100q, want %d", i, resp.StatusCode, body, want.status)
		}
	}
}

// TestHEAD: HEAD answers on every route as GET does, without a body:
// the same status, Content-Type and, where the body is made in advance,
// Content-Length.
func TestHEAD(t *testing.T) {
	for _, secret := range [][]byte{nil, testSecret} {
		t.Run("secret "+strconv.FormatBool(secret != nil), func(t *testing.T) {
			fx := newFixtureConfig(t, Config{Secret: secret, APIToken: testAPIToken})
			e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 10))
			fx.add(t, api.StateRunning, request.CSV, request.Gzip, nil)
			exp := "/exports/" + e.m.ID
			for _, tt := range []struct {
				path   string
				status int
			}{
				{"/exports", 200},
				{"/exports?state=completed", 200},
				{"/exports?state=bogus", 400},
				{exp, 200},
				{exp + "/chunks/0", 200},
				{exp + "/chunks/5", 404},
				{exp + "/chunks/x", 400},
				{exp + "/data", 200},
				{"/exports/" + strings.Repeat("a", 26), 404},
				{"/healthz", 200},
				{"/metrics", 200},
			} {
				t.Run(tt.path, func(t *testing.T) {
					get := fx.do(t, "GET", tt.path, testBearer...)
					head := fx.do(t, "HEAD", tt.path, testBearer...)
					wantStatus(t, get, tt.status)
					wantStatus(t, head, tt.status)
					if len(head.body) != 0 {
						t.Errorf("HEAD has a body of %d bytes", len(head.body))
					}
					if g, h := get.Header.Get("Content-Type"), head.Header.Get("Content-Type"); g != h {
						t.Errorf("Content-Type: GET %q, HEAD %q", g, h)
					}
					if tt.path == "/metrics" {
						return // made anew at each scrape
					}
					if got := head.Header.Get("Content-Length"); got != strconv.Itoa(len(get.body)) {
						t.Errorf("HEAD Content-Length %q, GET sends %d bytes", got, len(get.body))
					}
				})
			}
		})
	}
}

func TestServer(t *testing.T) {
	var logs logBuffer
	fx := newFixtureConfig(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	srv := fx.h.HTTPServer()
	if srv.Handler == nil || srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout <= 0 ||
		srv.MaxHeaderBytes != MaxHeaderBytes || srv.ErrorLog == nil || srv.WriteTimeout != 0 {
		t.Errorf("Server() = %+v: want the handler, 10s to read headers, an idle timeout, MaxHeaderBytes, an error log and no write timeout", srv)
	}
	if fx.h.HTTPServer() == srv {
		t.Error("Server returns the same server twice")
	}
	// What net/http says about connections is debug; a handler's panic,
	// which it recovers, is an error.
	srv.ErrorLog.Printf("http: superfluous response.WriteHeader call")
	if out := logs.String(); !strings.Contains(out, `level=DEBUG msg="http: superfluous response.WriteHeader call"`) {
		t.Errorf("net/http's message is not at debug level: %s", out)
	}
	srv.ErrorLog.Printf("http: panic serving 127.0.0.1:1: boom")
	if out := logs.String(); !strings.Contains(out, `level=ERROR msg="http: panic serving 127.0.0.1:1: boom"`) {
		t.Errorf("a panic is not at error level: %s", out)
	}
}
