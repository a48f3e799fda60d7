package httpapi

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// authCase is a request (a path with its query, header name and value
// pairs) and the status it must get.
type authCase struct {
	name    string
	path    string
	headers []string
	status  int
}

// checkAuth runs the cases with GET and HEAD against fx: a 401 names
// the Bearer scheme, and no refusal repeats a secret.
func checkAuth(t *testing.T, fx *fixture, secretBytes []byte, cases []authCase) {
	t.Helper()
	for _, tt := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				resp := fx.do(t, method, tt.path, tt.headers...)
				if tt.status < 400 {
					wantStatus(t, resp, tt.status)
					return
				}
				if method == "HEAD" {
					wantStatus(t, resp, tt.status)
				} else {
					wantError(t, resp, tt.status)
				}
				wa := resp.Header.Get("WWW-Authenticate")
				if tt.status == http.StatusUnauthorized && !strings.HasPrefix(wa, "Bearer") {
					t.Errorf("401 with WWW-Authenticate %q, want the Bearer scheme", wa)
				}
				if tt.status == http.StatusForbidden && wa != "" {
					t.Errorf("403 with WWW-Authenticate %q", wa)
				}
				for _, secret := range []string{string(secretBytes), testAPIToken} {
					if secret != "" && bytes.Contains(resp.body, []byte(secret)) {
						t.Error("the refusal repeats a secret")
					}
				}
			})
		}
	}
}

func TestAuth(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 2, 20))
	other := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 20))
	exp, oexp := "/exports/"+e.m.ID, "/exports/"+other.m.ID
	now := time.Now()
	sign := func(path string) string { return fx.h.SignURL(path, now) }
	// moved is a URL signed for from, with its path replaced by to.
	moved := func(from, to string) string { return strings.Replace(sign(from), from, to, 1) }
	bearer := func(token string) []string { return []string{"Authorization", "Bearer " + token} }
	checkAuth(t, fx, testSecret, []authCase{
		{"healthz needs nothing", "/healthz", nil, 200},
		{"healthz with a wrong bearer", "/healthz", bearer("nope"), 200},

		{"list without credential", "/exports", nil, 401},
		{"list with the bearer", "/exports", testBearer, 200},
		{"list with the bearer in lower case", "/exports", []string{"Authorization", "bearer " + testAPIToken}, 200},
		{"list with a wrong bearer", "/exports", bearer("not-the-api-token-at-all"), 403},
		{"list with a prefix of the bearer", "/exports", bearer(testAPIToken[:len(testAPIToken)-1]), 403},
		{"list with the bearer and more", "/exports", bearer(testAPIToken + "x"), 403},
		{"list with an empty bearer", "/exports", []string{"Authorization", "Bearer "}, 403},
		{"list with the secret as bearer", "/exports", bearer(string(testSecret)), 403},
		{"list with basic auth", "/exports", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401},
		{"list with the token as a query", "/exports?token=" + testAPIToken, nil, 401},
		{"list signed", sign("/exports"), nil, 200},

		{"manifest without credential", exp, nil, 401},
		{"manifest with the bearer", exp, testBearer, 200},
		{"manifest signed (manifestUrl)", sign(exp), nil, 200},
		{"manifest signed, absolute URL", strings.TrimPrefix(fx.h.SignURL(fx.srv.URL+exp, now), fx.srv.URL), nil, 200},
		{"manifest token of another export", moved(oexp, exp), nil, 403},
		{"manifest token of the data", moved(exp+"/data", exp), nil, 403},
		{"manifest token of a chunk", moved(exp+"/chunks/0", exp), nil, 403},
		{"manifest token of the list", moved("/exports", exp), nil, 403},
		{"manifest token expired", fx.h.SignURL(exp, now.Add(-2*DefaultTokenTTL)), nil, 403},
		{"manifest token with a wrong bearer", sign(exp), bearer("nope"), 200},
		{"manifest bearer with an expired token", fx.h.SignURL(exp, now.Add(-2*DefaultTokenTTL)), testBearer, 200},

		{"data without credential", exp + "/data", nil, 401},
		{"data signed (dataUrl)", sign(exp + "/data"), nil, 200},
		{"data with the bearer", exp + "/data", testBearer, 200},
		{"data token of another export", moved(oexp+"/data", exp+"/data"), nil, 403},
		{"data token of the manifest", moved(exp, exp+"/data"), nil, 403},
		{"data with a wrong bearer", exp + "/data", bearer("nope"), 403},

		{"chunk signed", sign(exp + "/chunks/1"), nil, 200},
		{"chunk with the bearer", exp + "/chunks/1", testBearer, 200},
		{"chunk token of another chunk", moved(exp+"/chunks/0", exp+"/chunks/1"), nil, 403},
		{"chunk token of another export", moved(oexp+"/chunks/0", exp+"/chunks/0"), nil, 403},
		{"chunk token expired", fx.h.SignURL(exp+"/chunks/0", now.Add(-2*DefaultTokenTTL)), nil, 403},

		{"metrics without credential", "/metrics", nil, 401},
		{"metrics with the bearer", "/metrics", testBearer, 200},
		{"metrics with a wrong bearer", "/metrics", bearer("nope"), 403},

		// Routing comes first: what is not a route is no secret.
		{"unknown route", "/admin", nil, 404},
	})
	if resp := fx.do(t, "POST", "/exports"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /exports without credential: %d, want 401", resp.StatusCode)
	}
}

func TestAuthPublicMetrics(t *testing.T) {
	fx := newFixtureConfig(t, Config{Secret: testSecret, APIToken: testAPIToken, PublicMetrics: true})
	checkAuth(t, fx, testSecret, []authCase{
		{"metrics without credential", "/metrics", nil, 200},
		{"metrics with a wrong bearer", "/metrics", []string{"Authorization", "Bearer nope"}, 200},
		{"list still closed", "/exports", nil, 401},
	})
}

func TestAuthSecretOnly(t *testing.T) {
	// No API token: only signed URLs open the routes, and no bearer does.
	fx := newFixture(t, testSecret)
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 20))
	checkAuth(t, fx, testSecret, []authCase{
		{"manifest signed", fx.h.SignURL("/exports/"+e.m.ID, time.Now()), nil, 200},
		{"list with a bearer", "/exports", testBearer, 403},
		{"list with an empty bearer", "/exports", []string{"Authorization", "Bearer"}, 403},
		{"metrics", "/metrics", nil, 401},
	})
}

func TestAuthOpen(t *testing.T) {
	// Without a secret nothing is required, and the API token, which
	// clients may send anyway, is accepted.
	fx := newFixtureConfig(t, Config{APIToken: testAPIToken})
	e := fx.add(t, api.StateCompleted, request.NDJSON, request.Zstd, zstdChunks(t, 1, 20))
	exp := "/exports/" + e.m.ID
	cases := []authCase{}
	for _, path := range []string{"/exports", exp, exp + "/chunks/0", exp + "/data", "/metrics", "/healthz"} {
		cases = append(cases,
			authCase{path + " without credential", path, nil, 200},
			authCase{path + " with the bearer", path, testBearer, 200},
			authCase{path + " with another bearer", path, []string{"Authorization", "Bearer other"}, 200},
			authCase{path + " with a stray token", path + "?expires=1&token=x", nil, 200},
		)
	}
	checkAuth(t, fx, nil, cases)
}

func TestTokenEqual(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		equal     bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"ab", "abc", false},
		{"", "abc", false},
		{"", "", true},
	} {
		if got := tokenEqual(tt.got, tt.want); got != tt.equal {
			t.Errorf("tokenEqual(%q, %q) = %v", tt.got, tt.want, got)
		}
	}
}

// forbidden is an api.Exports whose every export is outside the
// allow-list, as the runner reports it.
type forbidden struct{ *testExports }

func (forbidden) Status(id string) (*api.Manifest, error) {
	return nil, fmt.Errorf("%w: export %s reads secret.payroll, which the allow-list does not name", api.ErrForbidden, id)
}

func (forbidden) Dir(id string) (string, error) { return "", api.ErrForbidden }

func TestForbidden(t *testing.T) {
	var logs logBuffer
	exports := forbidden{&testExports{root: t.TempDir()}}
	h, err := New(Config{Exports: exports, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{exports: exports.testExports, h: h, srv: newTestServer(t, h)}
	id := strings.Repeat("a", 26)
	for _, route := range []string{"", "/chunks/0", "/data"} {
		resp := fx.do(t, "GET", "/exports/"+id+route)
		wantError(t, resp, http.StatusForbidden)
		if bytes.Contains(resp.body, []byte("payroll")) {
			t.Errorf("%s: the 403 names the namespace: %s", route, resp.body)
		}
	}
	if logs.String() != "" {
		t.Errorf("a 403 was logged as a server error: %s", logs.String())
	}
}
