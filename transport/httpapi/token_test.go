package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

func TestToken(t *testing.T) {
	fx := newFixture(t, testSecret)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 20))
	chunk0 := "/exports/" + e.m.ID + "/chunks/0"
	data := "/exports/" + e.m.ID + "/data"
	now := time.Now()

	// tamper changes one query parameter of a signed URL.
	tamper := func(signed, name string, edit func(string) string) string {
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(name, edit(q.Get(name)))
		u.RawQuery = q.Encode()
		return u.String()
	}
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		url    string
		status int
	}{
		{"chunk signed", fx.h.SignURL(chunk0, now), http.StatusOK},
		{"data signed", fx.h.SignURL(data, now), http.StatusOK},
		{"absolute url signed", strings.TrimPrefix(fx.h.SignURL(fx.srv.URL+data, now), fx.srv.URL), http.StatusOK},
		{"about to expire", fx.h.SignURL(data, now.Add(-time.Hour+time.Minute)), http.StatusOK},
		{"chunk missing", chunk0, http.StatusUnauthorized},
		{"data missing", data, http.StatusUnauthorized},
		{"token only", tamper(fx.h.SignURL(data, now), paramExpires, func(string) string { return "" }), http.StatusUnauthorized},
		{"expires only", tamper(fx.h.SignURL(data, now), paramToken, func(string) string { return "" }), http.StatusUnauthorized},
		{"expired", fx.h.SignURL(data, now.Add(-2*time.Hour)), http.StatusForbidden},
		{"just expired", fx.h.SignURL(data, now.Add(-time.Hour-time.Second)), http.StatusForbidden},
		{"token tampered", tamper(fx.h.SignURL(data, now), paramToken, flip), http.StatusForbidden},
		{"token truncated", tamper(fx.h.SignURL(data, now), paramToken, func(s string) string { return s[:len(s)-2] }), http.StatusForbidden},
		{"token not base64", tamper(fx.h.SignURL(data, now), paramToken, func(string) string { return "***" }), http.StatusForbidden},
		{"expiry extended", tamper(fx.h.SignURL(data, now), paramExpires, func(s string) string {
			n, _ := strconv.ParseInt(s, 10, 64)
			return strconv.FormatInt(n+86400, 10)
		}), http.StatusForbidden},
		{"expiry not a number", tamper(fx.h.SignURL(data, now), paramExpires, func(string) string { return "soon" }), http.StatusForbidden},
		{"token of another chunk", strings.Replace(fx.h.SignURL(chunk0, now), "/chunks/0", "/chunks/1", 1), http.StatusForbidden},
		{"token of the data", strings.Replace(fx.h.SignURL(data, now), "/data", "/chunks/0", 1), http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := fx.do(t, "GET", tt.url)
			if tt.status != http.StatusOK {
				wantError(t, resp, tt.status)
				if bytes.Contains(resp.body, e.chunks[0][:16]) {
					t.Error("refused download carries file bytes")
				}
				return
			}
			wantStatus(t, resp, http.StatusOK)
		})
	}

	// Another server with another secret refuses this one's tokens.
	other, err := New(Config{Exports: fx.exports, Secret: bytes.Repeat([]byte("x"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(other.SignURL(data, now))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, fx.do(t, "GET", u.String()), http.StatusForbidden)
}

// logBuffer collects log output written from server goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogsNoSecrets(t *testing.T) {
	var logs logBuffer
	fx := newFixtureConfig(t, Config{
		Secret: testSecret,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 10))
	e.m.Chunks[0].Bytes++ // a server error, which is logged
	if err := chunker.WriteManifest(e.dir, e.m); err != nil {
		t.Fatal(err)
	}
	signed := fx.h.SignURL("/exports/"+e.m.ID+"/chunks/0", time.Now())
	wantError(t, fx.do(t, "GET", signed), http.StatusInternalServerError)
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, e.m.ID) {
		t.Errorf("the error log does not name the export: %s", out)
	}
	for _, secret := range []string{u.Query().Get(paramToken), string(testSecret)} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds %q: %s", secret, out)
		}
	}
}

func TestSignURL(t *testing.T) {
	fx := newFixture(t, testSecret)
	now := time.Unix(1_800_000_000, 0)
	signed := fx.h.SignURL("http://127.0.0.1:8080/exports/abc/data", now)
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "127.0.0.1:8080" || u.Path != "/exports/abc/data" {
		t.Errorf("signed URL %q lost its host or path", signed)
	}
	if got := u.Query().Get(paramExpires); got != strconv.FormatInt(now.Add(DefaultTokenTTL).Unix(), 10) {
		t.Errorf("expires %q, want now+1h", got)
	}
	if u.Query().Get(paramToken) == "" {
		t.Error("no token")
	}
	if again := fx.h.SignURL("http://127.0.0.1:8080/exports/abc/data", now); again != signed {
		t.Errorf("signing is not deterministic: %q, %q", signed, again)
	}

	open := newFixture(t, nil)
	if got := open.h.SignURL("/exports/abc/data", now); got != "/exports/abc/data" {
		t.Errorf("without a secret SignURL = %q, want the path unchanged", got)
	}
	short, err := New(Config{Exports: fx.exports, Secret: testSecret, TokenTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(short.SignURL("/x", now))
	if got := u.Query().Get(paramExpires); got != strconv.FormatInt(now.Add(time.Minute).Unix(), 10) {
		t.Errorf("expires %q with TokenTTL 1m", got)
	}
}
