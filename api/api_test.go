package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStates(t *testing.T) {
	final := map[State]bool{StateCompleted: true, StateFailed: true, StateCancelled: true}
	for _, s := range States {
		if s.Final() != final[s] {
			t.Errorf("%s.Final() = %v", s, s.Final())
		}
		got, err := ParseState(string(s))
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %q, %v", s, got, err)
		}
	}
	if got, err := ParseState(""); err != nil || got != "" {
		t.Errorf(`ParseState("") = %q, %v; want any state`, got, err)
	}
	_, err := ParseState(strings.Repeat("done", 1000))
	if err == nil || !strings.Contains(err.Error(), "queued, running, completed, failed, cancelled") || len(err.Error()) > 200 {
		t.Errorf("ParseState of a long unknown state: %v", err)
	}
}

// TestWireForms: the contract's JSON is what clients read.
func TestWireForms(t *testing.T) {
	m := &Manifest{ID: "x", State: StateRunning, Records: 3}
	item, err := json.Marshal(m.Item())
	if err != nil || string(item) != `{"id":"x","state":"running","records":3,"createdAt":"0001-01-01T00:00:00Z"}` {
		t.Errorf("list item %s, %v", item, err)
	}
	body, err := json.Marshal(ErrorBody{Error: ErrorDetail{Code: 400, Message: "format: unknown", Field: "format"}})
	if err != nil || string(body) != `{"error":{"code":400,"message":"format: unknown","field":"format"}}` {
		t.Errorf("error body %s, %v", body, err)
	}
	if got := ProgressSubject("", "abc"); got != "exports.progress.abc" {
		t.Errorf("ProgressSubject = %q", got)
	}
	for _, tc := range []struct {
		f    Format
		c    Compression
		want string
	}{{NDJSON, Zstd, "ndjson.zst"}, {CSV, Gzip, "csv.gz"}, {JSON, None, "json"}} {
		if got := Ext(tc.f, tc.c); got != tc.want {
			t.Errorf("Ext(%s, %s) = %q, want %q", tc.f, tc.c, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		s         string
		n         int
		cut, clip string
	}{
		{"short", 10, "short", "short"},
		{"exactly", 7, "exactly", "exactly"},
		{"abcdef", 3, "abc", "abc…"},
		{"aé", 2, "a", "a…"}, // é is two bytes: no half rune
		{"€uro", 2, "", "…"},
	} {
		if got := Cut(tc.s, tc.n); got != tc.cut {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.cut)
		}
		if got := Clip(tc.s, tc.n); got != tc.clip {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.clip)
		}
	}
}
