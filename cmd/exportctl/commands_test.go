package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exportd/exportd/api"
)

// status, list, cancel, resume and delete on one export, from queued to
// deleted.
func TestCommands(t *testing.T) {
	d := startDaemon(t, "")
	d.mongo.close() // the export stays where it is until the test lets it go
	id := d.start(t, "--chunk-records", "1000", "--request-id", "commands-1")
	if again := d.start(t, "--chunk-records", "1000", "--request-id", "commands-1"); again != id {
		t.Fatalf("the same request id gave %s and %s", id, again)
	}
	if m := d.manifest(t, id); m.ID != id || (m.State != api.StateQueued && m.State != api.StateRunning) {
		t.Fatalf("status: %+v", m)
	}
	if r := d.mustCtl(t, "cancel", id); r.stdout != id+" cancelled\n" {
		t.Fatalf("cancel: %q", r.stdout)
	}
	r := d.mustCtl(t, "list", "--state", "cancelled")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], id+"  cancelled") {
		t.Fatalf("list --state cancelled:\n%s", r.stdout)
	}
	if r := d.mustCtl(t, "list", "--state", "completed"); strings.Contains(r.stdout, id) {
		t.Fatalf("list --state completed shows the cancelled export:\n%s", r.stdout)
	}

	d.mongo.open()
	var m api.Manifest
	if err := json.Unmarshal([]byte(d.mustCtl(t, "resume", id, "--json").stdout), &m); err != nil || m.ID != id {
		t.Fatalf("resume --json: %v %+v", err, m)
	}
	d.mustCtl(t, "watch", id)
	var items []struct{ ID, State string }
	if err := json.Unmarshal([]byte(d.mustCtl(t, "--json", "list").stdout), &items); err != nil ||
		len(items) != 1 || items[0].ID != id || items[0].State != string(api.StateCompleted) {
		t.Fatalf("list --json: %v %+v", err, items)
	}
	// Cancel and resume of a completed export are refused (409): exit 1.
	for _, cmd := range []string{"cancel", "resume"} {
		if r := d.ctl(t, "", cmd, id); r.code != 1 || !strings.Contains(r.stderr, "exportctl: "+cmd+": 409 ") {
			t.Fatalf("%s of a completed export: exit %d, %s", cmd, r.code, r.stderr)
		}
	}
	if r := d.mustCtl(t, "delete", id); r.stdout != id+" deleted\n" {
		t.Fatalf("delete: %q", r.stdout)
	}
	for _, cmd := range []string{"status", "watch", "get", "cancel", "delete"} {
		if r := d.ctl(t, "", cmd, id); r.code != 3 || !strings.Contains(r.stderr, "404 unknown export") {
			t.Fatalf("%s of a deleted export: exit %d, %s", cmd, r.code, r.stderr)
		}
	}
}

// Requests the service refuses exit 2 and name the field; so do command
// lines that cannot be run. Nothing is created.
func TestBadRequests(t *testing.T) {
	d := startDaemon(t, "")
	file := filepath.Join(t.TempDir(), "request.json")
	if err := os.WriteFile(file, []byte(`{"database": "app", "collection": "tasks", "filter": {"$where": "1"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{"format", "", []string{"start", "--db", "app", "--collection", "tasks", "--format", "xml"}, 2, `exportctl: start: 400 format: unknown format "xml"`},
		{"request file", "", []string{"start", "--request", file}, 2, "start: 400 filter.$where: "},
		{"request stdin", `{"database": "app", "collection": "tasks", "colour": 1}`, []string{"start", "--request", "-"}, 2, "start: 400 colour: unknown field"},
		{"profile filter", "", []string{"start", "--profile", "nope", "--db", "app", "--collection", "tasks"}, 2, "start: 400 profile"},
		{"malformed id", "", []string{"status", "not-an-id"}, 2, "status: 400 id: "},
		{"list state", "", []string{"list", "--state", "done"}, 2, "list: 400 state: "},
		{"unknown id", "", []string{"status", "aaaaaaaaaaaaaaaaaaaaaaaaaa"}, 3, "status: 404 unknown export"},
		{"filter json", "", []string{"start", "--db", "app", "--collection", "tasks", "--filter", "{"}, 2, `invalid value "{" for flag -filter: not valid JSON`},
		{"request and flags", "", []string{"start", "--request", file, "--db", "app"}, 2, "--db cannot be combined with --request"},
		{"no id", "", []string{"status"}, 2, "status takes one export id"},
		{"no command", "", nil, 2, "no command"},
		{"unknown command", "", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", "", []string{"get", "--outdir", "x", "aaaaaaaaaaaaaaaaaaaaaaaaaa"}, 2, "flag provided but not defined: -outdir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.ctl(t, tc.stdin, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
	if r := d.mustCtl(t, "list"); strings.TrimSpace(r.stdout) != "ID  STATE  RECORDS  CREATED" {
		t.Fatalf("refused requests created exports:\n%s", r.stdout)
	}
}

// Without a daemon, exportctl fails fast and says so.
func TestNoService(t *testing.T) {
	d := &testDaemon{}
	d.addrs.NATS, d.addrs.Public = "nats://127.0.0.1:1", "http://127.0.0.1:1"
	r := d.ctl(t, "", "status", "aaaaaaaaaaaaaaaaaaaaaaaaaa")
	if r.code != 1 || !strings.Contains(r.stderr, "connect to NATS at nats://127.0.0.1:1") {
		t.Fatalf("exit %d, %s", r.code, r.stderr)
	}
}
