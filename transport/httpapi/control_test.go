package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// controlHeaders: what a well-formed control request carries.
var controlHeaders = append([]string{"Content-Type", "application/json"}, testBearer...)

// controlRoute is one state-changing route with a body it accepts.
type controlRoute struct{ method, path, body string }

func controlRoutes(id string) []controlRoute {
	return []controlRoute{
		{"POST", "/exports", `{"database": "app", "collection": "tasks"}`},
		{"POST", "/exports/" + id + "/cancel", ""},
		{"POST", "/exports/" + id + "/resume", "{}"},
		{"DELETE", "/exports/" + id, ""},
	}
}

// No state-changing route works without the API token, with a wrong one,
// with a signed download URL, or from a page of another origin; none sends
// a CORS header. With the token, from the same origin or from no browser,
// each does its work.
func TestControlRefusals(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken})
	e := fx.add(t, api.StateFailed, request.NDJSON, request.Zstd, nil)
	host := strings.TrimPrefix(fx.srv.URL, "http://")
	for _, rt := range controlRoutes(e.m.ID) {
		for _, tc := range []struct {
			name    string
			path    string
			headers []string
			status  int
		}{
			{"no token", rt.path, nil, 401},
			{"basic auth", rt.path, []string{"Authorization", "Basic " + testAPIToken}, 401},
			{"signed URL", fx.h.SignURL(rt.path, time.Now()), nil, 401},
			{"wrong token", rt.path, []string{"Authorization", "Bearer not-the-api-token-at-all"}, 403},
			{"cross-site", rt.path, append([]string{"Sec-Fetch-Site", "cross-site"}, testBearer...), 403},
			{"same-site", rt.path, append([]string{"Sec-Fetch-Site", "same-site"}, testBearer...), 403},
			{"other origin", rt.path, append([]string{"Origin", "http://evil.example"}, testBearer...), 403},
			{"null origin", rt.path, append([]string{"Origin", "null"}, testBearer...), 403},
			{"other port", rt.path, append([]string{"Origin", "http://127.0.0.1:1"}, testBearer...), 403},
		} {
			t.Run(rt.method+" "+rt.path+" "+tc.name, func(t *testing.T) {
				resp := fx.send(t, rt.method, tc.path, rt.body, append([]string{"Content-Type", "application/json"}, tc.headers...)...)
				wantError(t, resp, tc.status)
				if wa := resp.Header.Get("WWW-Authenticate"); (tc.status == 401) != strings.HasPrefix(wa, "Bearer") {
					t.Errorf("status %d with WWW-Authenticate %q", tc.status, wa)
				}
				noCORS(t, resp)
			})
		}
	}
	// The same requests pass from the page's own origin, in this order:
	// resume the failed export, cancel it, delete it, start another.
	same := append([]string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, controlHeaders...)
	routes := controlRoutes(e.m.ID)
	for _, rt := range []controlRoute{routes[2], routes[1], routes[3], routes[0]} {
		resp := fx.send(t, rt.method, rt.path, rt.body, same...)
		if resp.StatusCode != 200 && resp.StatusCode != 202 {
			t.Fatalf("%s %s from the same origin: %d %s", rt.method, rt.path, resp.StatusCode, resp.body)
		}
		noCORS(t, resp)
	}
	wantError(t, fx.do(t, "GET", "/exports/"+e.m.ID, testBearer...), http.StatusNotFound) // deleted
}

// A preflight finds no CORS either.
func TestControlNoCORS(t *testing.T) {
	fx := newFixtureConfig(t, Config{APIToken: testAPIToken})
	for _, path := range []string{"/exports", "/events", "/exports/" + strings.Repeat("a", 26)} {
		resp := fx.do(t, "OPTIONS", path, "Origin", "http://evil.example", "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type")
		wantError(t, resp, http.StatusMethodNotAllowed)
		noCORS(t, resp)
	}
}

func noCORS(tb testing.TB, resp *response) {
	tb.Helper()
	for name := range resp.Header {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			tb.Errorf("%s %s: CORS header %s", resp.Request.Method, resp.Request.URL.Path, name)
		}
	}
}

// Without an API token on the daemon, every state-changing route is
// refused with 401, and says why.
func TestControlOff(t *testing.T) {
	fx := newFixtureConfig(t, Config{})
	e := fx.add(t, api.StateFailed, request.NDJSON, request.Zstd, nil)
	for _, rt := range controlRoutes(e.m.ID) {
		for _, hdr := range [][]string{controlHeaders, {"Content-Type", "application/json"}} {
			resp := fx.send(t, rt.method, rt.path, rt.body, hdr...)
			wantError(t, resp, http.StatusUnauthorized)
			if !bytes.Contains(resp.body, []byte("none is configured")) || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: %s", rt.method, rt.path, resp.body)
			}
		}
	}
	// The read-only routes are as open as before.
	wantStatus(t, fx.do(t, "GET", "/exports/"+e.m.ID), http.StatusOK)
}

// errorField is the field of an error reply.
func errorField(tb testing.TB, resp *response) string {
	tb.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(resp.body, &e); err != nil {
		tb.Fatalf("error body %q: %v", resp.body, err)
	}
	return e.Error.Field
}

// Bodies: JSON only, at most 1 MiB, refused with the field at fault, as
// NATS refuses them.
func TestControlBodies(t *testing.T) {
	fx := newFixtureConfig(t, Config{APIToken: testAPIToken})
	e := fx.add(t, api.StateRunning, request.NDJSON, request.Zstd, nil)
	cancel := "/exports/" + e.m.ID + "/cancel"
	for _, tc := range []struct {
		name, path, body, ctype string
		status                  int
		field                   string
	}{
		{"no type", "/exports", `{"database": "app", "collection": "tasks"}`, "", 415, ""},
		{"form", "/exports", `database=app`, "application/x-www-form-urlencoded", 415, ""},
		{"text", "/exports", `{}`, "text/plain", 415, ""},
		{"no body", "/exports", ``, "application/json", 400, "request"},
		{"too large", "/exports", `{"requestId": "` + strings.Repeat("x", request.MaxRequestBytes) + `"}`, "application/json", 413, "request"},
		{"malformed", "/exports", `{"database": `, "application/json", 400, "request"},
		{"unknown field", "/exports", `{"database": "app", "collection": "tasks", "colour": 1}`, "application/json", 400, "colour"},
		{"bad format", "/exports", `{"database": "app", "collection": "tasks", "format": "xml"}`, "application/json", 400, "format"},
		{"negative chunk", "/exports", `{"database": "app", "collection": "tasks", "chunkRecords": -5}`, "application/json", 400, "chunkRecords"},
		{"code in the filter", "/exports", `{"database": "app", "collection": "tasks", "filter": {"$where": "1"}}`, "application/json", 400, "filter.$where"},
		{"cancel with a body", cancel, `{"id": "x"}`, "application/json", 400, "id"},
		{"cancel with text", cancel, `x`, "text/plain", 415, ""},
		{"charset", "/exports", `{"database": "app", "collection": "tasks"}`, "application/json; charset=utf-8", 202, ""},
		{"cancel", cancel, ``, "", 200, ""},
		{"cancel again", cancel, `{}`, "application/json", 409, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := testBearer
			if tc.ctype != "" {
				hdr = append([]string{"Content-Type", tc.ctype}, testBearer...)
			}
			resp := fx.send(t, "POST", tc.path, tc.body, hdr...)
			if tc.status >= 400 {
				wantError(t, resp, tc.status)
				if got := errorField(t, resp); got != tc.field {
					t.Errorf("field %q, want %q (%s)", got, tc.field, resp.body)
				}
				return
			}
			wantStatus(t, resp, tc.status)
		})
	}
}

// POST /exports answers as NATS start does, with absolute URLs signed for
// their paths; the links of an export are signed too, and open what they
// name and nothing else.
func TestControlStartReplyAndLinks(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken, Prefix: "jobs"})
	resp := fx.send(t, "POST", "/exports", `{"database": "app", "collection": "tasks"}`, controlHeaders...)
	wantStatus(t, resp, http.StatusAccepted)
	var rep startReply
	if err := json.Unmarshal(resp.body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.State != api.StateQueued || rep.ProgressSubject != "jobs.progress."+rep.ID || resp.Header.Get("Location") != "/exports/"+rep.ID {
		t.Errorf("reply %s, Location %q", resp.body, resp.Header.Get("Location"))
	}
	for _, u := range []string{rep.ManifestURL, rep.DataURL, rep.EventsURL} {
		if !strings.HasPrefix(u, fx.srv.URL+"/exports/"+rep.ID) || !strings.Contains(u, "token=") {
			t.Errorf("URL %q: want an absolute URL signed for the export", u)
		}
	}

	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 3, 10))
	path := "/exports/" + e.m.ID + "/links"
	wantError(t, fx.do(t, "GET", path), http.StatusUnauthorized)
	resp = fx.do(t, "GET", path, testBearer...)
	wantStatus(t, resp, http.StatusOK)
	var l links
	if err := json.Unmarshal(resp.body, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Chunks) != 3 {
		t.Fatalf("links %s", resp.body)
	}
	for i, c := range l.Chunks {
		got := fx.do(t, "GET", strings.TrimPrefix(c.URL, fx.srv.URL))
		wantStatus(t, got, http.StatusOK)
		if !bytes.Equal(got.body, e.chunks[i]) || c.SHA256 != e.m.Chunks[i].SHA256 {
			t.Errorf("chunk %d's link serves other bytes", i)
		}
	}
	wantStatus(t, fx.do(t, "GET", strings.TrimPrefix(l.DataURL, fx.srv.URL)), http.StatusOK)
	wantStatus(t, fx.do(t, "GET", strings.TrimPrefix(l.ManifestURL, fx.srv.URL)), http.StatusOK)
	// A chunk's signature opens no other chunk, and no state change.
	other := strings.Replace(strings.TrimPrefix(l.Chunks[0].URL, fx.srv.URL), "/chunks/0", "/chunks/1", 1)
	wantError(t, fx.do(t, "GET", other), http.StatusForbidden)
	wantError(t, fx.send(t, "DELETE", strings.TrimPrefix(l.ManifestURL, fx.srv.URL), ""), http.StatusUnauthorized)

	// With a public URL, the URLs start with it.
	pub := newFixtureConfig(t, Config{APIToken: testAPIToken, PublicURL: "https://exports.example/"})
	resp = pub.send(t, "POST", "/exports", `{"database": "app", "collection": "tasks"}`, controlHeaders...)
	if err := json.Unmarshal(resp.body, &rep); err != nil || rep.DataURL != "https://exports.example/exports/"+rep.ID+"/data" {
		t.Errorf("with a public URL: %s", resp.body)
	}
}
