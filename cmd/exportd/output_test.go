package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/request"
)

// concatChunks is the chunks of the export in dir, concatenated in order.
func concatChunks(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, c := range readManifest(t, dir).Chunks {
		data, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	return all
}

// A single-file --out is the chunks of the same export into a directory,
// concatenated, compressed as its name says; the work directory is gone
// once it is complete.
func TestOutFile(t *testing.T) {
	smallCollection(t)
	cases := []struct {
		name string
		args []string
	}{
		{"tasks.ndjson", nil},
		{"tasks.jsonl", nil},
		{"tasks.ndjson.zst", nil},
		{"tasks.json.zstd", []string{"--compression", "zstd"}},
		{"tasks.csv.gz", []string{"--type", "csv", "-f", "_id,title,tags,assignee.email"}},
		{"TASKS.JSON.GZ", []string{"--format", "json"}},
		{"tasks.gz", []string{"--format", "json"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, tc.name)
			args := append([]string{"--limit", "700", "--chunk-records", "200", "--sort", `{"createdAt": 1}`}, tc.args...)
			r := smallExport(t, append(args, "-o", file)...)
			r.wantCode(t, 0)
			if !strings.Contains(r.stderr, "exported 700 records in 4 chunks to "+file) {
				t.Fatalf("summary: %q", r.stderr)
			}
			wantNothing(t, file+workSuffix)
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// The same export into a directory: its chunks, in order, are the
			// file (the json envelope's generatedAt aside).
			ref := filepath.Join(dir, "ref")
			comp := string(smallOutput(t, tc.name))
			smallExport(t, append(args, "--compression", comp, "-o", ref)...).wantCode(t, 0)
			m := readManifest(t, ref)
			want := concatChunks(t, ref)
			if m.Compression != smallOutput(t, tc.name) || len(m.Chunks) != 4 {
				t.Fatalf("reference: %s, %d chunks", m.Compression, len(m.Chunks))
			}
			pg, pw := plain(t, m.Chunks[0].Name, got), plain(t, m.Chunks[0].Name, want)
			pg, pw = generatedAt.ReplaceAll(pg, nil), generatedAt.ReplaceAll(pw, nil)
			if !bytes.Equal(pg, pw) || len(pg) == 0 {
				t.Fatalf("the file (%d bytes, %d plain) is not the chunks (%d bytes, %d plain)", len(got), len(pg), len(want), len(pw))
			}
		})
	}
}

// smallOutput is the compression a file name says.
func smallOutput(t *testing.T, name string) request.Compression {
	t.Helper()
	o, err := resolveOutput(filepath.Join(t.TempDir(), name))
	if err != nil || o.kind != toFile {
		t.Fatalf("%s: %v, kind %d", name, err, o.kind)
	}
	return o.compression
}

// A single-file export killed at any step of the commit protocol is
// resumed by the same command and ends with exactly the bytes of an
// uninterrupted run, the limit counted across the resume and the skip
// applied once.
func TestOutFileResume(t *testing.T) {
	smallCollection(t)
	dir := t.TempDir()
	args := []string{"--skip", "150", "--limit", "650", "--chunk-records", "200", "--sort", `{"dueDate": -1}`}
	ref := filepath.Join(dir, "ref.ndjson.zst")
	smallExport(t, append(args, "-o", ref)...).wantCode(t, 0)
	want, _ := os.ReadFile(ref)
	if n := bytes.Count(plain(t, ref, want), []byte("\n")); n != 650 {
		t.Fatalf("the reference holds %d records", n)
	}
	// The same records as the whole collection's, from the 151st.
	all := filepath.Join(dir, "all.ndjson")
	smallExport(t, "--sort", `{"dueDate": -1}`, "-o", all).wantCode(t, 0)
	allData, _ := os.ReadFile(all)
	lines := bytes.SplitAfter(allData, []byte("\n"))
	if !bytes.Equal(plain(t, ref, want), bytes.Join(lines[150:800], nil)) {
		t.Fatal("--skip 150 --limit 650 is not records 150 to 799")
	}
	for _, fp := range []string{"after-write:1", "after-sync:0", "after-rename:2", "after-commit:0", "after-commit:2", "after-commit:3"} {
		t.Run(fp, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "t.ndjson.zst")
			r := runExportd(t, []string{failpointEnv + "=" + fp}, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", "small", "--quiet", "-o", file}, args...)...)
			r.wantCode(t, 128+int(syscall.SIGKILL))
			wantNothing(t, file)
			r = smallExport(t, append(args, "-o", file, "--quiet=false")...)
			r.wantCode(t, 0)
			if fp != "after-commit:3" && !strings.Contains(r.stderr, "resuming export ") {
				t.Fatalf("no resume: %q", r.stderr)
			}
			got, _ := os.ReadFile(file)
			if !bytes.Equal(got, want) {
				t.Fatalf("resumed file: %d bytes, uninterrupted %d", len(got), len(want))
			}
			wantNothing(t, file+workSuffix)
		})
	}
}

// A completed single-file export whose work directory a crash left
// behind (after the rename) is recognised, and the directory removed.
func TestOutFileAfterRename(t *testing.T) {
	smallCollection(t)
	file := filepath.Join(t.TempDir(), "t.json")
	// json's last chunk holds the envelope's end and completes the export
	// as it is recorded: kill the process right after.
	args := []string{"--format", "json", "--limit", "300", "--chunk-records", "100"}
	r := runExportd(t, []string{failpointEnv + "=after-commit:3"}, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", "small", "-o", file}, args...)...)
	r.wantCode(t, 128+int(syscall.SIGKILL))
	// As if the rename had happened before the crash.
	work := file + workSuffix
	if err := os.Rename(filepath.Join(work, "t.json.partial"), file); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	r = smallExport(t, append(args, "-o", file)...)
	r.wantCode(t, 0)
	after, _ := os.ReadFile(file)
	if !bytes.Equal(before, after) || !json.Valid(after) || !strings.Contains(r.stderr, "exported 300 records in 4 chunks to "+file) {
		t.Fatalf("the file changed: %d bytes, then %d; %q", len(before), len(after), r.stderr)
	}
	wantNothing(t, work)
}

// An existing file is replaced only once the new export is complete.
func TestOutFileReplaced(t *testing.T) {
	smallCollection(t)
	file := filepath.Join(t.TempDir(), "t.ndjson")
	os.WriteFile(file, []byte("old\n"), 0o644)
	r := runExportd(t, []string{failpointEnv + "=after-commit:0"}, "export", "--uri", withDB(database(t), "app"), "-c", "small", "-o", file, "--limit", "20", "--chunk-records", "10")
	r.wantCode(t, 128+int(syscall.SIGKILL))
	if data, _ := os.ReadFile(file); string(data) != "old\n" {
		t.Fatalf("the old file changed before the export completed: %q", data)
	}
	r = smallExport(t, "-o", file, "--limit", "20", "--chunk-records", "10")
	r.wantCode(t, 0)
	if data, _ := os.ReadFile(file); bytes.Count(data, []byte("\n")) != 20 {
		t.Fatalf("the file holds %q", data)
	}
}

// --out - writes the export to standard output (uncompressed unless
// --compression says otherwise) and nothing else; messages go to stderr;
// no work directory is left.
func TestOutStdout(t *testing.T) {
	smallCollection(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	args := []string{"--limit", "500", "--chunk-records", "200"}
	smallExport(t, append(args, "--compression", "gzip", "-o", ref)...).wantCode(t, 0)
	want := concatChunks(t, ref)
	tmp := t.TempDir()
	for _, tc := range []struct {
		args []string
		want []byte
	}{
		{[]string{"--compression", "gzip"}, want},
		{nil, plain(t, "x.gz", want)},
	} {
		r := runExportd(t, []string{"TMPDIR=" + tmp}, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", "small", "-o", "-"}, append(args, tc.args...)...)...)
		r.wantCode(t, 0)
		if r.stdout != string(tc.want) {
			t.Fatalf("stdout %v: %d bytes, want %d", tc.args, len(r.stdout), len(tc.want))
		}
		if !strings.Contains(r.stderr, "exported 500 records in 3 chunks to standard output") {
			t.Fatalf("stderr: %q", r.stderr)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Fatalf("%d entries left in TMPDIR", len(entries))
	}
}

// A reader that goes away (head) stops the export at once, with status
// 141 and no message, and the work directory goes.
func TestOutStdoutClosed(t *testing.T) {
	smallCollection(t)
	tmp := t.TempDir()
	cmd := exec.Command(exportdBinary(t), "export", "--uri", withDB(database(t), "app"), "-c", "small", "-o", "-", "--chunk-records", "50")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(stdout, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	stdout.Close()
	err = cmd.Wait()
	if cmd.ProcessState.ExitCode() != 141 || stderr.Len() > 0 {
		t.Fatalf("after the reader left: %v, stderr %q", err, stderr.String())
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Fatalf("%d entries left in TMPDIR", len(entries))
	}
}

// What --out names: "-", a file by its extension, else a directory.
func TestResolveOutput(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "existing.json"), 0o755)
	cases := []struct {
		out  string
		kind outputKind
		comp request.Compression
	}{
		{"-", toStdout, ""},
		{"tasks.ndjson", toFile, "none"},
		{"tasks.csv.zst", toFile, "zstd"},
		{"tasks.json.GZ", toFile, "gzip"},
		{"tasks.zstd", toFile, "zstd"},
		{"tasks-export", toDir, ""},
		{"tasks.v2", toDir, ""},
		{"tasks.json/", toDir, ""},
		{filepath.Join(dir, "existing.json"), toDir, ""},
	}
	for _, tc := range cases {
		o, err := resolveOutput(tc.out)
		if err != nil || o.kind != tc.kind || o.compression != tc.comp {
			t.Errorf("%s: kind %d compression %q (%v), want %d %q", tc.out, o.kind, o.compression, err, tc.kind, tc.comp)
		}
	}
}

// Directory outputs keep the chunked layout: a path ending in '/' and a
// name without a data extension.
func TestOutDir(t *testing.T) {
	smallCollection(t)
	dir := t.TempDir()
	for _, out := range []string{filepath.Join(dir, "a.json") + "/", filepath.Join(dir, "b")} {
		r := smallExport(t, "--limit", "10", "-o", out)
		r.wantCode(t, 0)
		if m, err := chunker.ReadManifest(out); err != nil || m.Records != 10 || !strings.Contains(r.stderr, "in 1 chunk to") {
			t.Fatalf("%s: %v %v %q", out, m, err, r.stderr)
		}
	}
}

// An unreachable server is one short line naming the cause, and nothing
// is created; when --out holds an unfinished export, the line says how to
// resume it.
func TestUnreachableShort(t *testing.T) {
	smallCollection(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "t.ndjson")
	r := runExportd(t, nil, "export", "--uri", "mongodb://127.0.0.1:1/app", "-c", "small", "--server-selection-timeout", "1s", "-o", out)
	r.wantCode(t, 1)
	if want := "exportd: cannot reach MongoDB at mongodb://127.0.0.1:1/app within 1s: 127.0.0.1:1: connection refused\n"; r.stderr != want {
		t.Fatalf("message %q, want %q", r.stderr, want)
	}
	wantNothing(t, out, out+workSuffix)

	runExportd(t, []string{failpointEnv + "=after-commit:0"}, "export", "--uri", withDB(database(t), "app"), "-c", "small", "--quiet",
		"-o", out, "--limit", "20", "--chunk-records", "10").wantCode(t, 128+int(syscall.SIGKILL))
	r = runExportd(t, nil, "export", "--uri", "mongodb://127.0.0.1:1/app", "-c", "small", "--server-selection-timeout", "1s", "-o", out, "--limit", "20", "--chunk-records", "10")
	r.wantCode(t, 1)
	if !strings.HasSuffix(r.stderr, "connection refused; run the same command again to resume\n") || strings.Contains(r.stderr, "topology") {
		t.Fatalf("message %q", r.stderr)
	}
}

// A limit that falls on a chunk boundary leaves an export that has all
// its records but is not complete (the cursor had not said it was done):
// the resume reads nothing more and completes it, with the same bytes.
func TestLimitOnChunkBoundary(t *testing.T) {
	smallCollection(t)
	dir := t.TempDir()
	args := []string{"--limit", "200", "--chunk-records", "100"}
	ref := filepath.Join(dir, "ref")
	smallExport(t, append(args, "-o", ref)...).wantCode(t, 0)
	out := filepath.Join(dir, "out")
	r := runExportd(t, []string{failpointEnv + "=after-commit:1"}, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", "small", "--quiet", "-o", out}, args...)...)
	r.wantCode(t, 128+int(syscall.SIGKILL))
	r = smallExport(t, append(args, "-o", out)...)
	r.wantCode(t, 0)
	if !strings.Contains(r.stderr, "after 200 records in 2 chunks") {
		t.Fatalf("stderr %q", r.stderr)
	}
	compareExports(t, readManifest(t, ref), ref, out)
}

// A server lost in the middle of an export (killed after the first chunk)
// ends it with exit status 1 and one short line that says how to resume,
// without the driver's topology; the file is not in place. Once the
// server is back, the same command resumes and completes it.
func TestServerLostMidExport(t *testing.T) {
	const tasks = 20_000
	data := t.TempDir()
	srv, err := devmongotest.StartProcess(data, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() }) // killed, it reports so
	devmongotest.SeedTasks(t, srv.URI, "app", "tasks", tasks)
	file := filepath.Join(t.TempDir(), "t.ndjson")
	args := []string{"export", "--uri", srv.URI, "-d", "app", "-c", "tasks", "--chunk-records", "100", "--batch-size", "100",
		"--retries", "0", "--server-selection-timeout", "2s", "--quiet", "-o", file}
	cmd := exec.Command(exportdBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for sealed := false; !sealed; {
		select {
		case err := <-done:
			t.Fatalf("the export ended before the server was killed: %v\n%s", err, stderr.String())
		case <-tick.C:
			m, err := chunker.ReadManifest(file + workSuffix)
			sealed = err == nil && len(m.Chunks) > 0
		case <-time.After(time.Minute):
			t.Fatal("no chunk sealed")
		}
	}
	if err := syscall.Kill(srv.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the export did not end without its server")
	}
	msg := stderr.String()
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.URI, "mongodb://"), "/")
	if cmd.ProcessState.ExitCode() != 1 || !strings.HasSuffix(msg, "; run the same command again to resume\n") || strings.Count(msg, "\n") != 1 ||
		!strings.Contains(msg, ": lost the connection to MongoDB at "+addr+": ") || strings.Contains(msg, "Topology") || len(msg) > 200 {
		t.Fatalf("exit %d: %q", cmd.ProcessState.ExitCode(), msg)
	}
	t.Logf("stderr: %s", msg)
	wantNothing(t, file)

	if srv, err = devmongotest.StartProcess(data, addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	r := runExportd(t, nil, append(args, "--quiet=false")...)
	r.wantCode(t, 0)
	if !strings.Contains(r.stderr, "resuming export ") || !strings.Contains(r.stderr, fmt.Sprintf("exported %d records in %d chunks to %s", tasks, tasks/100, file)) {
		t.Fatalf("resume: %q", r.stderr)
	}
	got, _ := os.ReadFile(file)
	if n := bytes.Count(got, []byte("\n")); n != tasks {
		t.Fatalf("the file holds %d records", n)
	}
}

// Ctrl-C stops an export into one file or to standard output with status
// 130 and one line saying what became of it: the file's export resumes
// (the file is not in place until it is complete), standard output's
// cannot (and its scratch directory goes).
func TestInterruptOutputs(t *testing.T) {
	database(t)
	interrupt := func(t *testing.T, cmd *exec.Cmd, started func() bool) string {
		t.Helper()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := procs.Start(cmd); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		timeout := time.After(2 * time.Minute)
		for !started() {
			select {
			case <-done:
				t.Fatalf("ended before the interrupt: %s", stderr.String())
			case <-timeout:
				cmd.Process.Kill()
				t.Fatal("no chunk sealed")
			case <-tick.C:
			}
		}
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-timeout:
			cmd.Process.Kill()
			t.Fatal("SIGINT did not stop the export")
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Fatalf("exit %d after SIGINT: %s", code, stderr.String())
		}
		return stderr.String()
	}
	t.Run("file", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "t.ndjson.gz")
		limit := []string{"--limit", "20000"}
		msg := interrupt(t, exportCmd(t, file, limit), func() bool {
			m, err := chunker.ReadManifest(file + workSuffix)
			return err == nil && len(m.Chunks) > 0
		})
		if want := "exportd: interrupted: run the same command again to resume the export into " + file + " (its chunks so far are in " + file + workSuffix + ")\n"; msg != want {
			t.Fatalf("stderr %q, want %q", msg, want)
		}
		wantNothing(t, file)
		out, err := procs.CombinedOutput(exportCmd(t, file, append(limit, "--quiet=false")))
		if err != nil || !strings.Contains(string(out), "resuming export ") {
			t.Fatalf("resume: %v\n%s", err, out)
		}
		data, _ := os.ReadFile(file)
		if n := bytes.Count(plain(t, file, data), []byte("\n")); n != 20000 {
			t.Fatalf("the resumed file holds %d records", n)
		}
		wantNothing(t, file+workSuffix)
	})
	t.Run("stdout", func(t *testing.T) {
		t.Parallel()
		tmp := t.TempDir()
		cmd := exportCmd(t, "-", nil, "TMPDIR="+tmp)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var read atomic.Int64
		go func() { // drain it all: a full pipe would hold the export
			b := make([]byte, 32<<10)
			for {
				n, err := stdout.Read(b)
				read.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		msg := interrupt(t, cmd, func() bool { return read.Load() > 0 })
		if want := "exportd: interrupted: an export to standard output cannot resume, and what was written is incomplete\n"; msg != want {
			t.Fatalf("stderr %q, want %q", msg, want)
		}
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			t.Fatalf("%d entries left in TMPDIR", len(entries))
		}
	})
}
