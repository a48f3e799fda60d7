package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/internal/procs"
)

// Bad input gets a clear message naming what is wrong, exit status 2, and
// leaves nothing behind.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"filter syntax", []string{"--filter", `{"status": "done",}`}, "filter: invalid JSON at line 1, column 19"},
		{"format", []string{"--format", "xml"}, `format: unknown format "xml"`},
		{"compression", []string{"--compression", "brotli"}, `compression: unknown compression "brotli"`},
		{"$where", []string{"--filter", `{"$or": [{"$where": "sleep(100)"}]}`}, "filter.$or[0].$where: operator $where runs code on the server"},
		{"$function", []string{"--filter", `{"$expr": {"$function": {"body": "1", "args": [], "lang": "js"}}}`}, "$function runs code on the server"},
		{"field path", []string{"--fields", "title,,tags"}, "fields[1]: empty field path"},
		{"field dollar", []string{"--fields", "$title"}, "fields[0]: field path \"$title\" has a segment starting with '$'"},
		{"csv without fields", []string{"--format", "csv"}, "fields: csv needs"},
		{"chunk records", []string{"--chunk-records", "0"}, "chunkRecords: must be between 1"},
		{"sort", []string{"--sort", `{"createdAt": "up"}`}, "sort.createdAt: must be 1 (ascending) or -1"},
		{"no collection", []string{"--collection", ""}, "collection: must be a collection name"},
		{"unknown flag", []string{"--colour", "red"}, "flag provided but not defined: -colour"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"export", "--uri", "mongodb://127.0.0.1:1/", "--db", "app", "--collection", "tasks", "--out", out}, tc.args...)
			msg, err := procs.CombinedOutput(exec.Command(exportdBinary(t), args...))
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v\n%s", err, msg)
			}
			if !strings.Contains(string(msg), tc.want) {
				t.Fatalf("message %q lacks %q", msg, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("--out was created: %v", err)
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	msg, err := procs.CombinedOutput(exec.Command(exportdBinary(t), "export", "--uri", "mongodb://127.0.0.1:1/", "--db", "app", "--collection", "tasks",
		"--server-selection-timeout", "1s", "--out", out))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(msg), "cannot reach MongoDB at mongodb://127.0.0.1:1/ within 1s") {
		t.Fatalf("exit %v: %s", err, msg)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("gave up after %s with a 1s timeout", d)
	}
}

func TestForeignOutRefused(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "precious.txt"), []byte("mine"), 0o644)
	msg, err := procs.CombinedOutput(exec.Command(exportdBinary(t), "export", "--uri", database(t), "--db", "app", "--collection", "tasks", "--out", out))
	if err == nil || !strings.Contains(string(msg), "not empty and holds no export") {
		t.Fatalf("exit %v: %s", err, msg)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("--out now holds %d entries", len(entries))
	}
}

// Ctrl-C stops the export with status 130, no partial chunk under a final
// name, and the same command resumes it.
func TestInterruptThenResume(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--format", "json", "--compression", "gzip"}
	cmd := exportCmd(t, out, args)
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		m, err := chunker.ReadManifest(out)
		if err == nil && len(m.Chunks) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no chunk sealed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after SIGINT: %v", err)
	}
	m := readManifest(t, out)
	if m.State != api.StateCancelled || !strings.Contains(m.Error, "interrupted") {
		t.Fatalf("manifest after SIGINT: %s %q", m.State, m.Error)
	}
	entries, _ := os.ReadDir(out)
	chunks := 0
	for _, e := range entries {
		if chunker.IsTemp(e.Name()) {
			t.Fatalf("temporary file %s left", e.Name())
		}
		if strings.HasPrefix(e.Name(), "chunk-") {
			chunks++
		}
	}
	if chunks != len(m.Chunks) {
		t.Fatalf("%d chunk files, %d recorded", chunks, len(m.Chunks))
	}
	msg, err := procs.CombinedOutput(exportCmd(t, out, append(args, "--quiet=false")))
	if err != nil || !strings.Contains(string(msg), "resuming export") || !strings.Contains(string(msg), "first new record read ") {
		t.Fatalf("resume: %v\n%s", err, msg)
	}
	if m := readManifest(t, out); m.State != api.StateCompleted || m.Records != crashTasks+mixedTasks {
		t.Fatalf("resumed export: %s with %d records", m.State, m.Records)
	}
}

// A --request file in the old service's shape goes through its profile.
func TestRequestFileWithProfile(t *testing.T) {
	dir := t.TempDir()
	reqFile := filepath.Join(dir, "req.json")
	os.WriteFile(reqFile, []byte(`{"profile": "tasks", "format": "csv", "compression": "none",
		"filters": {"status": "completed", "priority": "urgent"}, "options": {"sortBy": "dueDate", "sortOrder": "asc"}}`), 0o644)
	out := filepath.Join(dir, "out")
	msg, err := procs.CombinedOutput(exec.Command(exportdBinary(t), "export", "--uri", database(t), "--request", reqFile,
		"--profiles", "../../configs/profiles", "--quiet", "--out", out))
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	m := readManifest(t, out)
	data, _ := os.ReadFile(filepath.Join(out, m.Chunks[0].Name))
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0][:5], ",") != "ID,Title,Description,Status,Priority" || int64(len(rows)-1) != m.Records || m.Records == 0 {
		t.Fatalf("%d records, %d rows, header %q", m.Records, len(rows), rows[0])
	}
	for _, r := range rows[1:] {
		if r[3] != "completed" || r[4] != "urgent" {
			t.Fatalf("row outside the filters: %q", r)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"profile": "tasks", "filters": {"colour": "red"}}`), 0o644)
	msg, err = procs.CombinedOutput(exec.Command(exportdBinary(t), "export", "--uri", database(t), "--request", bad,
		"--profiles", "../../configs/profiles", "--out", filepath.Join(dir, "out2")))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(msg), "filters.colour: unknown filter") {
		t.Fatalf("unknown filter: %v\n%s", err, msg)
	}
}

// --cpuprofile and --memprofile write profiles that go tool pprof reads; a
// profile that cannot be created is a usage error, before anything runs.
func TestProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	msg, err := procs.CombinedOutput(exportCmd(t, filepath.Join(dir, "out"), []string{"--filter", `{"priority": "urgent"}`,
		"--cpuprofile", cpu, "--memprofile", mem}))
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	for _, p := range []struct{ file, sampleType string }{{cpu, "cpu/nanoseconds"}, {mem, "alloc_space/bytes"}} {
		out, err := procs.CombinedOutput(exec.Command("go", "tool", "pprof", "-raw", p.file))
		if err != nil || !strings.Contains(string(out), p.sampleType) {
			t.Fatalf("go tool pprof -raw %s: %v\n%.500s", filepath.Base(p.file), err, out)
		}
	}

	out := filepath.Join(dir, "out2")
	msg, err = procs.CombinedOutput(exportCmd(t, out, []string{"--cpuprofile", filepath.Join(dir, "missing", "cpu.pprof")}))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(msg), "--cpuprofile") {
		t.Fatalf("unwritable profile: %v\n%s", err, msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("--out was created: %v", err)
	}
}
