package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
		{"uri syntax", []string{"--uri", "mongodb://127.0.0.1:1/?replicaSet"}, "--uri mongodb://127.0.0.1:1/?replicaSet: error parsing uri"},
		{"profiles dir", []string{"--profiles", "NOWHERE"}, "--profiles NOWHERE: no such directory"},
		{"out under a file", []string{"--out", "FILE/out"}, "--out FILE/out: FILE is a file, not a directory"},
		{"file under a file", []string{"--out", "FILE/a/t.csv.gz"}, "--out FILE/a/t.csv.gz: FILE is a file, not a directory"},
		{"foreign out", []string{"--out", "FOREIGN"}, "output directory is not empty and holds no export of this request: FOREIGN"},
		{"gzip level", []string{"--compression", "gzip", "--level", "10"}, "--level 10: gzip levels are 1 to 9 (0: the default)"},
		{"zstd level", []string{"--level", "-1"}, "--level -1: zstd levels are 1 to 22"},
		{"level uncompressed", []string{"--out", "DIR/t.ndjson", "--level", "3"}, "--level 3: the output is not compressed"},
		{"workers", []string{"--workers", "-2"}, "--workers -2: must be 0 (one per CPU) or more"},
		{"retries", []string{"--retries", "-1"}, "--retries -1: must be 0"},
		{"server selection timeout", []string{"--server-selection-timeout", "0s"}, "--server-selection-timeout 0s: must be more than 0"},
		{"foreign work dir", []string{"--out", "FOREIGN.ndjson"}, "FOREIGN.ndjson.exportd, the work directory of --out FOREIGN.ndjson, holds files of something else"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A file, a directory of something else, and a file's work
			// directory holding something else: they must stay as they are.
			file, foreign := filepath.Join(dir, "notes.txt"), filepath.Join(dir, "foreign")
			os.WriteFile(file, []byte("mine"), 0o644)
			for _, d := range []string{foreign, foreign + ".ndjson" + workSuffix} {
				os.Mkdir(d, 0o755)
				os.WriteFile(filepath.Join(d, "precious.txt"), []byte("mine"), 0o644)
			}
			before := tree(t, dir)
			out := filepath.Join(dir, "out")
			r := strings.NewReplacer("NOWHERE", filepath.Join(dir, "nowhere"), "FILE", file, "FOREIGN", foreign, "DIR", dir)
			args := []string{"export", "--uri", "mongodb://127.0.0.1:1/", "--db", "app", "--collection", "tasks", "--out", out}
			for _, a := range tc.args {
				args = append(args, r.Replace(a))
			}
			msg, err := procs.CombinedOutput(exec.Command(exportdBinary(t), args...))
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit: %v\n%s", err, msg)
			}
			if want := r.Replace(tc.want); !strings.Contains(string(msg), want) {
				t.Fatalf("message %q lacks %q", msg, want)
			}
			if after := tree(t, dir); after != before {
				t.Fatalf("the refused export changed the disk:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// tree lists every path under dir, with its size.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d\n", p, fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A server that cannot be reached is exit status 1 and one short line
// naming the cause, within the timeout, whatever --out is; nothing is
// created (no checkpoint, no queued manifest) and nothing written to
// standard output.
func TestUnreachableServer(t *testing.T) {
	for _, name := range []string{"out", "out/", "t.csv.gz", "-"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := name
			if name != "-" {
				out = filepath.Join(dir, name)
			}
			start := time.Now()
			r := runExportd(t, []string{"TMPDIR=" + dir}, "export", "--uri", "mongodb://127.0.0.1:1,127.0.0.1:2/?replicaSet=rs0", "--db", "app", "--collection", "tasks",
				"--type", "csv", "-f", "_id", "--server-selection-timeout", "1s", "--out", out)
			r.wantCode(t, 1)
			want := "exportd: cannot reach MongoDB at mongodb://127.0.0.1:1,127.0.0.1:2/?replicaSet=rs0 within 1s: 127.0.0.1:1: connection refused; 127.0.0.1:2: connection refused\n"
			if r.stderr != want || r.stdout != "" {
				t.Fatalf("stderr %q, want %q; stdout %q", r.stderr, want, r.stdout)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Fatalf("gave up after %s with a 1s timeout", d)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("%s holds %d entries", dir, len(entries))
			}
		})
	}
}

// What --out holds already is looked at before the server: a complete
// export needs none, an unfinished one is said to resume, and one of
// another request is refused (exit status 2).
func TestUnreachableServerWithExport(t *testing.T) {
	coll := smallCollection(t)
	dir := t.TempDir()
	args := func(uri, out string, extra ...string) []string {
		return append([]string{"export", "--uri", uri, "-d", "app", "-c", coll, "--limit", "30", "--chunk-records", "10",
			"--server-selection-timeout", "1s", "--quiet", "-o", out}, extra...)
	}
	const down = "mongodb://127.0.0.1:1/"
	for _, out := range []string{filepath.Join(dir, "d"), filepath.Join(dir, "t.ndjson")} {
		r := runExportd(t, []string{failpointEnv + "=after-commit:0"}, args(database(t), out)...)
		r.wantCode(t, 128+int(syscall.SIGKILL))
		before := tree(t, dir)
		r = runExportd(t, nil, args(down, out)...)
		r.wantCode(t, 1)
		if !strings.HasSuffix(r.stderr, ": 127.0.0.1:1: connection refused; run the same command again to resume\n") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("-o %s: %q", out, r.stderr)
		}
		r = runExportd(t, nil, args(down, out, "--chunk-records", "11")...)
		r.wantCode(t, 2)
		if !strings.Contains(r.stderr, "holds export ") || !strings.Contains(r.stderr, " of another request") {
			t.Fatalf("another request into -o %s: %q", out, r.stderr)
		}
		if after := tree(t, dir); after != before {
			t.Fatalf("the failed runs changed the disk:\n%s\nwas\n%s", after, before)
		}
	}
	// Complete the directory export, then run it again without a server.
	out := filepath.Join(dir, "d")
	runExportd(t, nil, args(database(t), out)...).wantCode(t, 0)
	r := runExportd(t, nil, args(down, out)...)
	r.wantCode(t, 0)
	if !strings.Contains(r.stderr, " is already complete: 30 records in 3 chunks") {
		t.Fatalf("complete export: %q", r.stderr)
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

// The profiles directory must be there when --profiles names it or the
// request names a profile, and a profile the request names must be in it;
// a --request file that does not read is named. All exit 2 before
// anything is created or any server asked (the --uri is unreachable).
func TestRequestProfilesDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.json", `{"database": "app", "collection": "tasks"}`)
	named := write("named.json", `{"profile": "tasks", "filters": {"status": "completed"}}`)
	other := write("other.json", `{"profile": "invoices"}`)
	broken := write("broken.json", `{"database": "app",`)
	badProfiles := filepath.Join(dir, "bad-profiles")
	os.Mkdir(badProfiles, 0o755)
	os.WriteFile(filepath.Join(badProfiles, "tasks.yaml"), []byte("name: tasks\ncolour: red\n"), 0o644)
	profiles, _ := filepath.Abs("../../configs/profiles")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"given and missing", []string{"--request", plain, "--profiles", filepath.Join(dir, "nowhere")}, "exportd: usage: --profiles " + filepath.Join(dir, "nowhere") + ": no such directory\n"},
		{"flags and missing", []string{"-d", "app", "-c", "tasks", "--profiles", filepath.Join(dir, "nowhere")}, "--profiles " + filepath.Join(dir, "nowhere") + ": no such directory"},
		{"a file", []string{"--request", plain, "--profiles", plain}, "--profiles " + plain + " is not a directory"},
		{"default missing", []string{"--request", named}, `the request names profile "tasks", and the profiles directory configs/profiles does not exist: give --profiles DIR`},
		{"unknown profile", []string{"--request", other, "--profiles", profiles}, `profile: unknown profile "invoices" in ` + profiles + " (known: tasks)"},
		{"empty directory", []string{"--request", other, "--profiles", t.TempDir()}, `unknown profile "invoices" in `},
		{"bad profile", []string{"--request", plain, "--profiles", badProfiles}, "--profiles " + badProfiles + ": profile " + filepath.Join(badProfiles, "tasks.yaml") + ": "},
		{"request JSON", []string{"--request", broken}, "exportd: --request " + broken + ": request: invalid JSON: unexpected end of input\n"},
		{"request file", []string{"--request", filepath.Join(dir, "none.json")}, "--request: open " + filepath.Join(dir, "none.json") + ": no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			work := t.TempDir() // the working directory: no configs/profiles in it
			cmd := exec.Command(exportdBinary(t), append([]string{"export", "--uri", "mongodb://127.0.0.1:1/", "-o", "out"}, tc.args...)...)
			cmd.Dir = work
			msg, err := procs.CombinedOutput(cmd)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(msg), tc.want) {
				t.Fatalf("exit %v, message %q, want %q", err, msg, tc.want)
			}
			if entries, _ := os.ReadDir(work); len(entries) > 0 {
				t.Fatalf("%d entries created", len(entries))
			}
		})
	}
	// An existing --profiles that the request does not need is read (and
	// checked), and the export runs.
	out := filepath.Join(dir, "out")
	cmd := exec.Command(exportdBinary(t), "export", "--uri", database(t), "--request", plain, "--profiles", profiles, "--limit", "1", "--quiet", "-o", out)
	if msg, err := procs.CombinedOutput(cmd); err == nil || !strings.Contains(string(msg), "--limit cannot be combined with --request") {
		t.Fatalf("--limit with --request: %v %s", err, msg)
	}
	write("one.json", `{"database": "app", "collection": "small", "limit": 1}`)
	smallCollection(t)
	cmd = exec.Command(exportdBinary(t), "export", "--uri", database(t), "--request", filepath.Join(dir, "one.json"), "--profiles", profiles, "--quiet", "-o", out)
	if msg, err := procs.CombinedOutput(cmd); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if m := readManifest(t, out); m.Records != 1 {
		t.Fatalf("%d records", m.Records)
	}
}

// The request's csv options are flags too: --csv-arrays, --csv-array-separator,
// --csv-bom and --csv-formula-guard give the bytes of the same request in
// a --request file, and what they say is in the file.
func TestCSVFlags(t *testing.T) {
	coll := smallCollection(t)
	dir := t.TempDir()
	reqFile := filepath.Join(dir, "req.json")
	os.WriteFile(reqFile, []byte(`{"database": "app", "collection": "`+coll+`", "format": "csv", "fields": ["_id", "description", "tags"],
		"csvArrays": "join", "csvArraySeparator": " | ", "csvBom": true, "csvFormulaGuard": false, "limit": 300}`), 0o644)
	want := filepath.Join(dir, "want.csv")
	runExportd(t, nil, "export", "--uri", database(t), "--request", reqFile, "--quiet", "-o", want).wantCode(t, 0)
	got := filepath.Join(dir, "got.csv")
	smallExport(t, "-d", "app", "--type", "csv", "-f", "_id,description,tags", "--csv-arrays", "join", "--csv-array-separator", " | ",
		"--csv-bom", "--csv-formula-guard=false", "--limit", "300", "-o", got).wantCode(t, 0)
	wantData, _ := os.ReadFile(want)
	gotData, _ := os.ReadFile(got)
	if !bytes.Equal(gotData, wantData) {
		t.Fatalf("the flags' csv (%d bytes) is not the request's (%d bytes)", len(gotData), len(wantData))
	}
	body, ok := bytes.CutPrefix(gotData, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Fatalf("no byte order mark: %q", gotData[:min(20, len(gotData))])
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(rows) != 301 {
		t.Fatalf("%d rows: %v", len(rows), err)
	}
	joined, formulas := false, false
	for _, r := range rows[1:] {
		joined = joined || strings.Contains(r[2], " | ") && !strings.HasPrefix(r[2], "[")
		formulas = formulas || strings.HasPrefix(r[1], "=")
		if strings.HasPrefix(r[1], "'=") {
			t.Fatalf("a guarded cell with --csv-formula-guard=false: %q", r[1])
		}
	}
	if !joined || !formulas {
		t.Fatalf("joined arrays %v, unguarded formulas %v", joined, formulas)
	}
	// The default guards formulas and writes arrays as JSON, without a mark.
	def := filepath.Join(dir, "default.csv")
	smallExport(t, "--type", "csv", "-f", "_id,description,tags", "--limit", "300", "-o", def).wantCode(t, 0)
	defData, _ := os.ReadFile(def)
	if bytes.HasPrefix(defData, []byte("\xef\xbb\xbf")) || !bytes.Contains(defData, []byte(`,'=`)) || !bytes.Contains(defData, []byte(`"[""`)) {
		t.Fatalf("default csv: %.300q", defData)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bom on ndjson", []string{"--csv-bom"}, `csvBom: applies only to format "csv", not "ndjson"`},
		{"join on json", []string{"--format", "json", "--csv-arrays", "join"}, `csvArrays: "join" applies only to format "csv", not "json"`},
		{"separator alone", []string{"--type", "csv", "-f", "tags", "--csv-array-separator", ";"}, `csvArraySeparator: needs csvArrays "join" (csvArrays is "json")`},
		{"unknown mode", []string{"--type", "csv", "-f", "tags", "--csv-arrays", "lines"}, `csvArrays: unknown array mode "lines"`},
		{"separator with a tab", []string{"--type", "csv", "-f", "tags", "--csv-arrays", "join", "--csv-array-separator", "\t"}, "csvArraySeparator: \"\\t\" holds a control character"},
		{"with --request", []string{"--request", reqFile, "--csv-bom"}, "--csv-bom cannot be combined with --request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"export", "--uri", "mongodb://127.0.0.1:1/app", "-o", out}
			if !slices.Contains(tc.args, "--request") {
				args = append(args, "-c", "tasks")
			}
			r := runExportd(t, nil, append(args, tc.args...)...)
			r.wantCode(t, 2)
			if !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("message %q lacks %q", r.stderr, tc.want)
			}
			wantNothing(t, out)
		})
	}
}
