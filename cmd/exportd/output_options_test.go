package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/exportd/exportd/api"
)

// The tests of --jsonArray and --noHeaderLine: each is the same export as
// the one without it, written differently, through every output kind and
// across a crash.

// optionArgs bound the exports of these tests: several chunks, a sort
// that is not _id's.
var optionArgs = []string{"--limit", "700", "--chunk-records", "200", "--sort", `{"dueDate": -1}`}

// exportBytes runs exportd export of the small collection with args into
// out (a file or a directory) and returns the export's bytes, the chunks
// concatenated for a directory.
func exportBytes(t *testing.T, out string, args ...string) []byte {
	t.Helper()
	smallExport(t, append(append(append([]string(nil), optionArgs...), args...), "-o", out)...).wantCode(t, 0)
	return concatOrRead(t, out)
}

// exportStdout runs exportd export of the small collection with args to
// --out - and returns what it wrote.
func exportStdout(t *testing.T, args ...string) []byte {
	t.Helper()
	r := smallExport(t, append(append(append([]string(nil), optionArgs...), args...), "-o", "-")...)
	r.wantCode(t, 0)
	return []byte(r.stdout)
}

// sameExport is one way of asking for an export, and what it wrote.
type sameExport struct {
	name string
	got  func(t *testing.T) []byte
}

// wantSame checks, in a parallel subtest, that tc wrote want, as flag
// does.
func wantSame(t *testing.T, flag, want string, tc sameExport) {
	t.Helper()
	t.Run(tc.name, func(t *testing.T) {
		t.Parallel()
		if got := tc.got(t); string(got) != want {
			t.Fatalf("%d bytes, want %s's %d:\n%.300s", len(got), flag, len(want), got)
		}
	})
}

// requestFile writes a --request file for the small collection, limited
// and sorted as optionArgs, with the fields of extra.
func requestFile(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "req.json")
	req := `{"database": "app", "collection": "` + smallCollection(t) + `", "limit": 700, "chunkRecords": 200, "sort": {"dueDate": -1}, ` + extra + `}`
	if err := os.WriteFile(path, []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// --jsonArray (mongoexport's, alone or with --type json) and --format json
// --json-array write one JSON array of the documents: exactly ndjson's
// lines between "[" and "]", with a comma after each but the last, in a
// single file, compressed, into a directory, to standard output and from
// a --request file alike.
func TestJSONArrayExport(t *testing.T) {
	dir := t.TempDir()
	lines := bytes.SplitAfter(exportBytes(t, filepath.Join(dir, "ref.ndjson")), []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) != 700 {
		t.Fatalf("the ndjson reference holds %d records", len(lines))
	}
	for i := range lines {
		lines[i] = bytes.TrimSuffix(lines[i], []byte("\n"))
	}
	want := "[\n" + string(bytes.Join(lines, []byte(",\n"))) + "\n]\n"

	got := exportBytes(t, filepath.Join(dir, "t.json"), "--jsonArray")
	if string(got) != want {
		t.Fatalf("--jsonArray: %d bytes, want %d:\n%.300s", len(got), len(want), got)
	}
	var docs []map[string]any
	if err := json.Unmarshal(got, &docs); err != nil || len(docs) != 700 || docs[0]["_id"] == nil {
		t.Fatalf("--jsonArray output as a JSON array: %d documents, %v", len(docs), err)
	}
	for _, tc := range []sameExport{
		{"type json", func(t *testing.T) []byte {
			return exportBytes(t, filepath.Join(t.TempDir(), "t.json"), "--type", "json", "--jsonArray")
		}},
		{"our names", func(t *testing.T) []byte {
			return exportBytes(t, filepath.Join(t.TempDir(), "t.json"), "--format", "json", "--json-array")
		}},
		{"zstd file", func(t *testing.T) []byte {
			file := filepath.Join(t.TempDir(), "t.json.zst")
			return plain(t, file, exportBytes(t, file, "--jsonArray"))
		}},
		{"directory", func(t *testing.T) []byte {
			out := filepath.Join(t.TempDir(), "out")
			data := exportBytes(t, out, "--jsonArray", "--compression", "gzip")
			m := readManifest(t, out)
			if len(m.Chunks) != 4 || !bytes.Contains(compact(m.Request), []byte(`"jsonArray":true`)) {
				t.Fatalf("%d chunks, request %s", len(m.Chunks), m.Request)
			}
			return plain(t, m.Chunks[0].Name, data)
		}},
		{"stdout", func(t *testing.T) []byte { return exportStdout(t, "--jsonArray") }},
		{"request file", func(t *testing.T) []byte {
			out := filepath.Join(t.TempDir(), "t.json")
			runExportd(t, nil, "export", "--uri", database(t), "--quiet", "--request", requestFile(t, `"format": "json", "jsonArray": true`), "-o", out).wantCode(t, 0)
			data, _ := os.ReadFile(out)
			return data
		}},
	} {
		wantSame(t, "--jsonArray", want, tc)
	}
	// No record: the empty array.
	empty := exportBytes(t, filepath.Join(dir, "empty.json"), "--jsonArray", "-q", `{"status": "no such status"}`)
	if string(empty) != "[\n]\n" {
		t.Fatalf("an empty --jsonArray export: %q", empty)
	}
}

// --noHeaderLine (mongoexport's) and --csv-header=false write the csv
// without its header line: the export with it, minus its first line, in a
// single file, into a directory, to standard output and from a --request
// file alike; with --csv-bom, the mark comes first still.
func TestNoHeaderLineExport(t *testing.T) {
	dir := t.TempDir()
	csvArgs := []string{"--type", "csv", "-f", "_id,title,tags,assignee.email,dueDate"}
	with := exportBytes(t, filepath.Join(dir, "with.csv"), csvArgs...)
	header, rows, ok := bytes.Cut(with, []byte("\r\n"))
	if !ok || string(header) != "_id,title,tags,assignee.email,dueDate" {
		t.Fatalf("the reference's header line: %q", header)
	}
	want := string(rows)

	got := exportBytes(t, filepath.Join(dir, "t.csv"), append(csvArgs, "--noHeaderLine")...)
	if string(got) != want {
		t.Fatalf("--noHeaderLine: %d bytes, want %d:\n%.300s", len(got), len(want), got)
	}
	records, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil || len(records) != 700 || records[0][0] == "_id" {
		t.Fatalf("--noHeaderLine output: %d rows, first %q, %v", len(records), records[0], err)
	}
	for _, tc := range []sameExport{
		{"our name", func(t *testing.T) []byte {
			return exportBytes(t, filepath.Join(t.TempDir(), "t.csv"), append(csvArgs, "--csv-header=false")...)
		}},
		{"gzip file", func(t *testing.T) []byte {
			file := filepath.Join(t.TempDir(), "t.csv.gz")
			return plain(t, file, exportBytes(t, file, append(csvArgs, "--noHeaderLine")...))
		}},
		{"directory", func(t *testing.T) []byte {
			out := filepath.Join(t.TempDir(), "out")
			data := exportBytes(t, out, append(csvArgs, "--noHeaderLine", "--compression", "none")...)
			m := readManifest(t, out)
			if len(m.Chunks) != 4 || !bytes.Contains(compact(m.Request), []byte(`"csvHeader":false`)) {
				t.Fatalf("%d chunks, request %s", len(m.Chunks), m.Request)
			}
			return data
		}},
		{"stdout", func(t *testing.T) []byte { return exportStdout(t, append(csvArgs, "--noHeaderLine")...) }},
		{"request file", func(t *testing.T) []byte {
			out := filepath.Join(t.TempDir(), "t.csv")
			req := requestFile(t, `"format": "csv", "fields": ["_id", "title", "tags", "assignee.email", "dueDate"], "csvHeader": false`)
			runExportd(t, nil, "export", "--uri", database(t), "--quiet", "--request", req, "-o", out).wantCode(t, 0)
			data, _ := os.ReadFile(out)
			return data
		}},
	} {
		wantSame(t, "--noHeaderLine", want, tc)
	}
	// Said off, the line is there; with a byte order mark, the mark opens
	// the rows.
	if got := exportBytes(t, filepath.Join(dir, "on.csv"), append(csvArgs, "--noHeaderLine=false")...); !bytes.Equal(got, with) {
		t.Fatal("--noHeaderLine=false is not the default")
	}
	if got := exportBytes(t, filepath.Join(dir, "bom.csv"), append(csvArgs, "--noHeaderLine", "--csv-bom")...); string(got) != "\xef\xbb\xbf"+want {
		t.Fatalf("--noHeaderLine --csv-bom: %.40q", got)
	}
	// No record: an empty file.
	empty := exportBytes(t, filepath.Join(dir, "empty.csv"), append(csvArgs, "--noHeaderLine", "-q", `{"status": "no such status"}`)...)
	if len(empty) != 0 {
		t.Fatalf("an empty --noHeaderLine export: %q", empty)
	}
	r := runExportd(t, nil, "export", "--uri", "mongodb://127.0.0.1:1/", "--request", requestFile(t, `"format": "csv", "fields": ["_id"]`),
		"--noHeaderLine", "-o", filepath.Join(dir, "refused.csv"))
	r.wantCode(t, 2)
	if !strings.Contains(r.stderr, "--noHeaderLine cannot be combined with --request") {
		t.Fatalf("--noHeaderLine with --request: %q", r.stderr)
	}
}

// An export with --jsonArray or --noHeaderLine killed at steps of the
// commit protocol is resumed by the same command, into a file or a
// directory, and ends with exactly the bytes of an uninterrupted run. A
// directory killed after its last chunk's commit, before the manifest's
// rewrite, gets its manifest from the rerun, which says it is complete.
func TestOutputOptionsResume(t *testing.T) {
	smallCollection(t)
	for _, tc := range []struct {
		name, file string
		args       []string
	}{
		{"jsonArray", "t.json.zst", []string{"--jsonArray"}},
		{"noHeaderLine", "t.csv.gz", []string{"--type", "csv", "-f", "_id,title,tags,dueDate", "--noHeaderLine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{"--skip", "150"}, optionArgs...), tc.args...)
			wantFile := exportBytes(t, filepath.Join(t.TempDir(), tc.file), append([]string{"--skip", "150"}, tc.args...)...)
			wantDir := exportBytes(t, filepath.Join(t.TempDir(), "ref"), append([]string{"--skip", "150"}, tc.args...)...)
			for _, fp := range []string{"after-write:0", "after-sync:1", "after-rename:3", "after-commit:0", "after-commit:2", "after-commit:3"} {
				for _, kind := range []string{"file", "directory"} {
					out := filepath.Join(t.TempDir(), tc.file)
					want := wantFile
					if kind == "directory" {
						out, want = filepath.Join(t.TempDir(), "out"), wantDir
					}
					r := runExportd(t, []string{failpointEnv + "=" + fp}, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", "small", "--quiet", "-o", out}, args...)...)
					r.wantCode(t, 128+int(syscall.SIGKILL))
					r = smallExport(t, append(args, "-o", out, "--quiet=false")...)
					r.wantCode(t, 0)
					if fp != "after-commit:3" && !strings.Contains(r.stderr, "resuming export ") {
						t.Fatalf("%s %s: no resume: %q", fp, kind, r.stderr)
					}
					got := concatOrRead(t, out)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s %s: resumed export of %d bytes, uninterrupted %d", fp, kind, len(got), len(want))
					}
					if kind == "file" {
						wantNothing(t, out+workSuffix)
					} else if m := readManifest(t, out); m.State != api.StateCompleted {
						t.Fatalf("%s %s: manifest.json says %s", fp, kind, m.State)
					}
				}
			}
		})
	}
}

// concatOrRead is the export in out: the file, or the directory's chunks
// concatenated.
func concatOrRead(t *testing.T, out string) []byte {
	t.Helper()
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return concatChunks(t, out)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
