package daemon_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

const (
	hostileSecret = "a-download-secret-of-some-length"
	hostileToken  = "an-api-token-of-some-length"
)

// deep is {"a": {"a": … 1}} nested n levels.
func deep(n int) string {
	return strings.Repeat(`{"a": `, n) + "1" + strings.Repeat("}", n)
}

func ns(extra string) string {
	return `{"database": "app", "collection": "tasks"` + extra + `}`
}

// tally counts what the hostile requests got.
type tally struct{ cases, refusals, fiveXX int }

func (c *tally) String() string {
	return fmt.Sprintf("%d cases, %d refusals, %d 5xx", c.cases, c.refusals, c.fiveXX)
}

// TestHostileRequests sends what an attacker would, over NATS and HTTP, to
// a real daemon with a download secret and an API token: each gets the
// status it should, naming the field, nothing is stored, the daemon
// answers after each and after a restart, and nothing gets a 5xx.
func TestHostileRequests(t *testing.T) {
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 300)
	data := t.TempDir()
	secure := func(c *daemon.Config) { c.DownloadSecret, c.APIToken = hostileSecret, hostileToken }
	d := startDaemonWith(t, db.URI, data, secure, slog.New(slog.DiscardHandler))
	events := subscribe(t, d.nc)

	// One export that completes, to aim at.
	good, _ := complete(t, d, events, ns(`, "chunkRecords": 100, "compression": "none"`))

	var count tally
	big := strings.Repeat("x", 900<<10)
	id := func(s string) string { return `{"id": "` + s + `"}` }
	for _, tc := range []struct {
		name, subject, body string
		code                int
		field               string
	}{
		{"filter 200 levels deep", "start", ns(`, "filter": ` + deep(200)), 400, "filter"},
		{"filter 101 levels deep", "start", ns(`, "filter": ` + deep(101)), 400, "filter"},
		{"arrays 9000 deep", "start", ns(`, "filter": {"a": ` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`), 400, "filter"},
		{"$and 100 deep", "start", ns(`, "filter": ` + strings.Repeat(`{"$and": [`, 100) + `{"x": 1}` + strings.Repeat("]}", 100)), 400, "filter"},
		{"sort nested", "start", ns(`, "sort": ` + deep(150)), 400, "sort"},
		{"requestId 900 KB", "start", ns(`, "requestId": "` + big + `"`), 400, "requestId"},
		{"collection 900 KB", "start", `{"database": "app", "collection": "` + big + `"}`, 400, "collection"},
		{"request 2 MiB", "start", ns(`, "requestId": "` + strings.Repeat("y", 2<<20) + `"`), 400, "request"},
		{"status of 2 MiB", "status", id(strings.Repeat("y", 2<<20)), 400, "request"},
		{"$where in nested arrays", "start", ns(`, "filter": {"$or": [[{"$and": [{"$where": "sleep(1)"}]}]]}`), 400, "filter.$or[0][0].$and[0].$where"},
		{"$function in $expr", "start", ns(`, "filter": {"$expr": {"$function": {"body": "1", "args": [], "lang": "js"}}}`), 400, "filter.$expr.$function"},
		{"$accumulator in $expr arrays", "start", ns(`, "filter": {"$expr": {"$gt": [[{"$accumulator": {}}], 1]}}`), 400, "filter.$expr.$gt[0][0].$accumulator"},
		{"javascript value", "start", ns(`, "filter": {"a": {"$code": "while(1){}"}}`), 400, "filter.a"},
		{"too many fields", "start", ns(`, "fields": [` + strings.TrimSuffix(strings.Repeat(`"f",`, 1001), ",") + `]`), 400, "fields"},
		{"local database", "start", `{"database": "local", "collection": "oplog.rs"}`, 403, "database"},
		{"admin database", "start", `{"database": "admin", "collection": "users"}`, 403, "database"},
		{"unknown field", "start", ns(`, "shell": "rm -rf /"`), 400, "shell"},
		{"not an object", "start", `[1, 2, 3]`, 400, "request"},
		{"malformed JSON", "start", `{"database": `, 400, "request"},
		{"empty start", "start", ``, 400, "request"},
		{"traversal in id", "status", id("../../../../etc/passwd"), 400, "id"},
		{"NUL in id", "status", id(`aaaaaaaaaaaaa\u0000aaaaaaaaaaaa`), 400, "id"},
		{"unknown id", "status", id("aaaaaaaaaaaaaaaaaaaaaaaaaa"), 404, ""},
		{"cancel completed", "cancel", id(good.ID), 409, ""},
		{"resume completed", "resume", id(good.ID), 409, ""},
		{"delete traversal", "delete", id("../" + good.ID), 400, "id"},
		{"list unknown state", "list", `{"state": "` + big[:5000] + `"}`, 400, "state"},
		{"last traversal", "last", id(".."), 400, "id"},
	} {
		t.Run("nats/"+tc.name, func(t *testing.T) {
			count.cases++
			start := time.Now()
			msg, err := d.nc.Request("exports."+tc.subject, []byte(tc.body), 10*time.Second)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			code := msg.Header.Get("Nats-Service-Error-Code")
			if strings.HasPrefix(code, "5") {
				count.fiveXX++
			}
			var e struct {
				Error struct {
					Code  int    `json:"code"`
					Field string `json:"field"`
				} `json:"error"`
			}
			if err := json.Unmarshal(msg.Data, &e); err != nil || code != fmt.Sprint(tc.code) || e.Error.Code != tc.code || e.Error.Field != tc.field {
				t.Fatalf("code %q, body %.300s; want %d naming %q", code, msg.Data, tc.code, tc.field)
			}
			count.refusals++
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("refusal took %s", took)
			}
			if len(msg.Data) > 4096 {
				t.Errorf("error reply of %d bytes", len(msg.Data))
			}
			if _, body := d.request(t, "exports.list", `{}`); !strings.Contains(string(body), good.ID) {
				t.Fatalf("after it, list says %.300s", body)
			}
		})
	}

	// HTTP. Every route but /healthz needs a credential: the API token or
	// a signed URL for that path.
	base := d.addrs.Public
	bearer := map[string]string{"Authorization": "Bearer " + hostileToken}
	exp := base + "/exports/" + good.ID
	other := checkpoint.NewID() // well formed, names no export
	tamper := func(raw string, f func(url.Values)) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		f(q)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, tc := range []struct {
		name, method, url string
		header            map[string]string
		code              int
	}{
		{"healthz needs nothing", "GET", base + "/healthz", nil, 200},
		{"list without credential", "GET", base + "/exports", nil, 401},
		{"list with a wrong bearer", "GET", base + "/exports", map[string]string{"Authorization": "Bearer nope"}, 403},
		{"list with the bearer", "GET", base + "/exports", bearer, 200},
		{"HEAD list", "HEAD", base + "/exports", bearer, 200},
		{"HEAD manifest", "HEAD", exp, bearer, 200},
		{"HEAD chunk", "HEAD", exp + "/chunks/0", bearer, 200},
		{"HEAD data", "HEAD", exp + "/data", bearer, 200},
		{"HEAD healthz", "HEAD", base + "/healthz", nil, 200},
		{"metrics without credential", "GET", base + "/metrics", nil, 401},
		{"metrics with the bearer", "GET", base + "/metrics", bearer, 200},
		{"manifest without credential", "GET", exp, nil, 401},
		{"signed manifest URL", "GET", good.ManifestURL, nil, 200},
		{"signed data URL", "GET", good.DataURL, nil, 200},
		{"manifest token on another export", "GET", strings.Replace(good.ManifestURL, good.ID, other, 1), nil, 403},
		{"data token on the manifest", "GET", strings.Replace(good.DataURL, "/data", "", 1), nil, 403},
		{"expiry moved", "GET", tamper(good.DataURL, func(q url.Values) { q.Set("expires", "99999999999") }), nil, 403},
		{"expired", "GET", tamper(good.DataURL, func(q url.Values) { q.Set("expires", "1") }), nil, 403},
		{"garbage token", "GET", tamper(good.DataURL, func(q url.Values) { q.Set("token", "!!!") }), nil, 403},
		{"traversal in id", "GET", base + "/exports/..%2f..%2fetc%2fpasswd/chunks/0", bearer, 400},
		{"dotted id", "GET", base + "/exports/../chunks/0", bearer, 404},
		{"negative chunk", "GET", exp + "/chunks/-1", bearer, 400},
		{"huge chunk", "GET", exp + "/chunks/99999999999999999999", bearer, 400},
		{"hex chunk", "GET", exp + "/chunks/0x1", bearer, 400},
		{"missing chunk", "GET", exp + "/chunks/7", bearer, 404},
		{"unknown export", "GET", base + "/exports/" + other, bearer, 404},
		{"suffix range of zero", "GET", exp + "/chunks/0", merge(bearer, "Range", "bytes=-0"), 416},
		{"data suffix range of zero", "GET", exp + "/data", merge(bearer, "Range", "bytes=-0"), 416},
		{"too many ranges", "GET", exp + "/data", merge(bearer, "Range", "bytes="+manyRanges(200)), 416},
		{"range past the end", "GET", exp + "/chunks/0", merge(bearer, "Range", "bytes=999999999-"), 416},
		{"POST to a read route", "POST", exp + "/data", bearer, 405},
		{"POST without a JSON body", "POST", base + "/exports", bearer, 415},
	} {
		t.Run("http/"+tc.name, func(t *testing.T) {
			count.cases++
			req, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				count.fiveXX++
			}
			if resp.StatusCode != tc.code {
				t.Fatalf("%s %s: %s, want %d", tc.method, tc.url, resp.Status, tc.code)
			}
			if tc.code >= 400 {
				count.refusals++
			}
		})
	}
	// What a browser or curl would never send, on a raw connection.
	for _, tc := range []struct {
		name, raw string
		code      int
	}{
		{"request line ending in LF", "GET /healthz HTTP/1.1\nHost: x\n\n", 200},
		{"header of 100 KB", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n", 431},
		{"garbage request line", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"no method", " /exports HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		t.Run("raw/"+tc.name, func(t *testing.T) {
			count.cases++
			code := rawStatus(t, d.addrs.HTTP, tc.raw)
			if code >= 500 {
				count.fiveXX++
			}
			if code != tc.code {
				t.Fatalf("status %d, want %d", code, tc.code)
			}
			if code >= 400 {
				count.refusals++
			}
		})
	}
	if resp, _ := get(t, base+"/healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("healthz after the hostile requests: %s", resp.Status)
	}
	t.Logf("hostile requests: %s", &count)
	if count.fiveXX != 0 {
		t.Fatalf("%d replies were 5xx", count.fiveXX)
	}

	// Nothing they sent stops the daemon from starting again.
	d.stop(t)
	d2 := startDaemonWith(t, db.URI, data, secure, slog.New(slog.DiscardHandler))
	_, body := d2.request(t, "exports.list", `{}`)
	var list []struct{ ID, State string }
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 || list[0].ID != good.ID || list[0].State != string(api.StateCompleted) {
		t.Fatalf("after a restart, list = %s", body)
	}
}

func merge(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range h {
		out[a] = b
	}
	return out
}

func manyRanges(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%d-%d", i, i)
	}
	return strings.Join(parts, ",")
}

// rawStatus sends raw on a new connection and returns the reply's status.
func rawStatus(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
