package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/procs"
)

// The tests of mongoexport's flags and of the single-file and stdout
// outputs read a small collection of their own in the shared database, so
// that each export takes a fraction of a second on devmongo (which sorts
// the whole collection before the first record).
const smallTasks = 1200

var (
	smallOnce sync.Once
	smallErr  error
)

// smallCollection seeds collection "small" of the shared database with
// smallTasks tasks, once, and returns its name.
func smallCollection(t *testing.T) string {
	t.Helper()
	uri := database(t)
	smallOnce.Do(func() {
		ctx := context.Background()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			smallErr = err
			return
		}
		defer client.Disconnect(ctx)
		_, smallErr = devmongo.Seed(ctx, client.Database("app").Collection("small"), 0, smallTasks, devmongo.SeedOptions{})
	})
	if smallErr != nil {
		t.Fatal(smallErr)
	}
	return "small"
}

// result is what one run of exportd printed, and its exit status.
type result struct {
	stdout, stderr string
	code           int
}

// runExportd runs exportd with args, env added to its environment.
func runExportd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(exportdBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := procs.Run(cmd)
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal()) // as a shell shows it
		}
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// smallExport runs exportd export of the small collection with args; the
// database comes from the --uri's path.
func smallExport(t *testing.T, args ...string) result {
	t.Helper()
	coll := smallCollection(t)
	return runExportd(t, nil, append([]string{"export", "--uri", withDB(database(t), "app"), "-c", coll, "--quiet"}, args...)...)
}

// withDB is the connection string uri with db as its path.
func withDB(uri, db string) string { return strings.TrimSuffix(uri, "/") + "/" + db }

func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %.300s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

// wantNothing fails if any of paths exists.
func wantNothing(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s was created (%v)", p, err)
		}
	}
}

// mongoexport's flags that exportd export does not have are refused with
// their equivalent, exit status 2, before anything exists.
func TestMongoexportRefusedFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--host", "db1"}, "--host is not a flag of exportd export: put the host in --uri (mongodb://HOST:PORT/"},
		{[]string{"-h", "db1"}, "--host is not a flag of exportd export: put the host in --uri"},
		{[]string{"--host=db1:27017"}, "--host is not a flag of exportd export"},
		{[]string{"--port", "27018"}, "--port is not a flag of exportd export: put the port in --uri (mongodb://HOST:PORT/)"},
		{[]string{"-u", "ann"}, "-u is not a flag of exportd export: put the user in --uri (mongodb://USER:PASSWORD@HOST/)"},
		{[]string{"--username", "ann"}, "put the user in --uri"},
		{[]string{"-p", "secret"}, "-p is not a flag of exportd export: put the password in --uri"},
		{[]string{"--password", "secret"}, "put the password in --uri"},
		{[]string{"--authenticationDatabase", "admin"}, "?authSource=DB"},
		{[]string{"--authenticationMechanism", "PLAIN"}, "?authMechanism="},
		{[]string{"--ssl"}, "put TLS in --uri (?tls=true)"},
		{[]string{"--sslCAFile", "ca.pem"}, "tlsCAFile=FILE"},
		{[]string{"--tlsCertificateKeyFile", "me.pem"}, "tlsCertificateKeyFile=FILE"},
		{[]string{"--gssapiServiceName", "mongodb"}, "without Kerberos"},
		{[]string{"--pretty"}, "--pretty is not a flag of exportd export: exportd writes compact Extended JSON"},
		{[]string{"--forceTableScan"}, "always reads in its sort order"},
		{[]string{"--slaveOk"}, "--readPreference secondaryPreferred"},
		{[]string{"-k"}, "--readPreference secondaryPreferred"},
		{[]string{"--verbose"}, "warnings and errors only"},
		{[]string{"-v"}, "-v is not a flag of exportd export: exportd logs warnings and errors only"},
		{[]string{"-vvv"}, "flag provided but not defined: -vvv"},
		{[]string{"--csv"}, "use --type csv"},
		{[]string{"--config", "mongoexport.yaml"}, "--request FILE"},
		{[]string{"--version"}, "--version is not a flag of exportd export: exportd has no version flag: go version -m"},
		{[]string{"--dialTimeout", "3"}, "--dialTimeout is not a flag of exportd export: use --server-selection-timeout"},
		{[]string{"--compressors", "zstd"}, "put the wire compressors in --uri (?compressors=zstd,snappy)"},
		{[]string{"--sslCRLFile", "crl.pem"}, "no certificate revocation list option"},
		{[]string{"--tlsInsecure"}, "(?tlsInsecure=true)"},
		{[]string{"--awsSessionToken", "x"}, "AWS_SESSION_TOKEN:TOKEN"},
		// A flag's value is not taken for a flag, and the first refused one is named.
		{[]string{"--filter", "--pretty", "--port", "1"}, "--port is not a flag"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out.ndjson")
			r := runExportd(t, nil, append([]string{"export", "--uri", "mongodb://127.0.0.1:1/", "-d", "app", "-c", "tasks", "-o", out}, tc.args...)...)
			r.wantCode(t, 2)
			if !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("message %q lacks %q", r.stderr, tc.want)
			}
			wantNothing(t, out, out+workSuffix)
		})
	}
}

// Bad input given through mongoexport's flags, or about the new outputs,
// is refused with exit status 2 before anything exists, and before any
// connection (the --uri here is unreachable).
func TestMongoexportBadInput(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(existing, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := "mongodb://127.0.0.1:1/"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"filter and query", []string{"--filter", "{}", "--query", "{}"}, "--filter and --query say the same thing: give one of them"},
		{"query and queryFile", []string{"-q", "{}", "--queryFile", existing}, "-q and --queryFile say the same thing"},
		{"fields and fieldFile", []string{"-f", "a", "--fieldFile", existing}, "-f and --fieldFile say the same thing"},
		{"db twice", []string{"--db", "app"}, "--db and -d say the same thing"},
		{"type and format", []string{"--type", "csv", "--format", "csv"}, "--format and --type say the same thing"},
		{"type", []string{"--type", "tsv"}, `--type "tsv": mongoexport's types are json (one document per line: exportd's --format ndjson; with --jsonArray, one array) and csv`},
		{"jsonArray with ndjson", []string{"--jsonArray", "--format", "ndjson"}, `jsonArray: applies only to format "json", not "ndjson"`},
		{"jsonArray with csv", []string{"--jsonArray", "--type", "csv", "-f", "title"}, `jsonArray: applies only to format "json", not "csv"`},
		{"jsonArray twice", []string{"--jsonArray", "--json-array"}, "--json-array and --jsonArray say the same thing: give one of them"},
		{"jsonArray into jsonl", []string{"--jsonArray", "-o", "OUT/tasks.jsonl"}, "names a jsonl file but the format is json"},
		{"noHeaderLine with ndjson", []string{"--noHeaderLine"}, `csvHeader: false applies only to format "csv", not "ndjson"`},
		{"noHeaderLine with json", []string{"--format", "json", "--csv-header=false"}, `csvHeader: false applies only to format "csv", not "json"`},
		{"noHeaderLine and csv-header", []string{"--type", "csv", "-f", "title", "--noHeaderLine", "--csv-header"}, "--csv-header and --noHeaderLine set the same option (--noHeaderLine is --csv-header=false): give one of them"},
		{"query JSON", []string{"-q", `{"status": }`}, "filter: invalid JSON at line 1, column 12"},
		{"shell syntax", []string{"-q", `{status: "completed"}`}, `filter: invalid JSON at line 1, column 2: invalid character 's' looking for beginning of object key string (the filter is Extended JSON, not the mongo shell's syntax: quote every key and string with ", and write ObjectId("…") as {"$oid": "…"}`},
		{"shell ObjectId", []string{"-q", `{"_id": ObjectId("63b0d409000000000000051c")}`}, `invalid character 'O' looking for beginning of value (the filter is Extended JSON`},
		{"shell sort", []string{"--sort", `{dueDate: -1}`}, `sort: invalid JSON at line 1, column 2: invalid character 'd' looking for beginning of object key string (the sort is Extended JSON`},
		{"queryFile missing", []string{"--queryFile", filepath.Join(dir, "none.json")}, "--queryFile: open"},
		{"fieldFile missing", []string{"--fieldFile", filepath.Join(dir, "none.txt")}, "--fieldFile: open"},
		{"exclusion", []string{"--fields", "-_id,title"}, `--fields "-_id": a leading '-' would leave the field out, which exportd does not do: list the fields to keep`},
		{"limit", []string{"--limit", "-1"}, "limit: must be 0 (no limit) or more, got -1"},
		{"skip", []string{"--skip", "-5"}, "skip: must be 0 or more, got -5"},
		{"csv without fields", []string{"--type", "csv"}, "fields: csv needs"},
		{"uri db differs", []string{"--uri", uri + "admin"}, "--db app and the --uri's database admin differ: name the database in one place (to authenticate against admin, put ?authSource=admin in --uri instead)"},
		{"uri scheme", []string{"--uri", "mongo://db1/"}, `--uri mongo://db1/: error parsing uri: scheme must be "mongodb" or "mongodb+srv"`},
		{"readPreference mode", []string{"--readPreference", "fastest"}, `--readPreference: unknown mode "fastest" (one of primary, primaryPreferred, secondary, secondaryPreferred, nearest)`},
		{"readPreference JSON", []string{"--readPreference", `{"mode": }`}, "--readPreference: invalid character"},
		{"readPreference twice", []string{"--uri", uri + "?readPreference=secondary", "--readPreference", "nearest"}, "--readPreference nearest and the --uri's read preference options: give the read preference in one place"},
		{"name says uncompressed", []string{"--compression", "zstd"}, "--out OUT/tasks.ndjson names uncompressed output but the compression is zstd: name the file OUT/tasks.ndjson.zst, or leave --compression out"},
		{"name says gzip", []string{"-o", "OUT/tasks.csv.gz", "--compression", "zstd", "--type", "csv", "-f", "title"}, "names gzip output but the compression is zstd: name the file OUT/tasks.csv.zst"},
		{"name says csv", []string{"-o", "OUT/tasks.csv"}, "--out OUT/tasks.csv names a csv file but the format is ndjson: give --type csv (or --format), or name the file *.ndjson"},
		{"name says ndjson", []string{"-o", "OUT/tasks.jsonl", "--format", "json"}, "names a jsonl file but the format is json"},
		{"a file without a data extension", []string{"-o", existing}, "--out " + existing + " is a file, and its name says neither a format nor a compression"},
		{"no out", []string{"-o", ""}, "--out is required: a directory, a file (tasks.ndjson.zst) or - for standard output"},
		{"request and flags", []string{"--request", existing}, "-d cannot be combined with --request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			outDir := t.TempDir()
			out := filepath.Join(outDir, "tasks.ndjson")
			args := []string{"export", "--uri", uri, "-d", "app", "-c", "tasks", "-o", out}
			for i, a := range tc.args {
				tc.args[i] = strings.ReplaceAll(a, "OUT", outDir)
			}
			args = append(args, tc.args...)
			r := runExportd(t, nil, args...)
			r.wantCode(t, 2)
			if want := strings.ReplaceAll(tc.want, "OUT", outDir); !strings.Contains(r.stderr, want) {
				t.Fatalf("message %q lacks %q", r.stderr, want)
			}
			entries, _ := os.ReadDir(outDir)
			if len(entries) > 0 {
				t.Fatalf("%s holds %d entries after a refused export", outDir, len(entries))
			}
		})
	}
}

// mongoexport's names give the same export as ours, byte for byte; the
// database may come from the --uri's path.
func TestMongoexportAliases(t *testing.T) {
	coll := smallCollection(t)
	dir := t.TempDir()
	fieldFile := filepath.Join(dir, "fields.txt")
	queryFile := filepath.Join(dir, "query.json")
	os.WriteFile(fieldFile, []byte("_id\ntitle\n\n  priority  \nassignee.email\n"), 0o644)
	os.WriteFile(queryFile, []byte(`{"priority": {"$in": ["urgent", "high"]}}`), 0o644)
	uri := database(t)
	ours := []string{"export", "--uri", uri, "--db", "app", "--collection", coll, "--filter", `{"priority": {"$in": ["urgent", "high"]}}`,
		"--fields", "_id,title,priority,assignee.email", "--format", "csv", "--sort", `{"dueDate": -1}`, "--skip", "7", "--limit", "90", "--quiet"}
	cases := []struct {
		name string
		args []string
	}{
		{"short names", []string{"export", "--uri", uri, "-d", "app", "-c", coll, "-q", `{"priority": {"$in": ["urgent", "high"]}}`,
			"-f", "_id,title,priority,assignee.email", "--type", "csv", "--sort", `{"dueDate": -1}`, "--skip", "7", "--limit", "90", "--quiet"}},
		{"long names and files", []string{"export", "--uri", withDB(uri, "app"), "--collection", coll, "--queryFile", queryFile,
			"--fieldFile", fieldFile, "--type=csv", "--sort", `{"dueDate": -1}`, "--skip=7", "--limit=90", "--quiet"}},
		{"long names", []string{"export", "--uri", uri, "--db=app", "--collection=" + coll, "--query", `{"priority": {"$in": ["urgent", "high"]}}`,
			"--fields", "_id,title,priority,assignee.email", "--type", "CSV", "--sort", `{"dueDate": -1}`, "--skip", "7", "--limit", "90", "--quiet"}},
	}
	want := filepath.Join(dir, "ours.csv")
	runExportd(t, nil, append(ours, "--out", want)...).wantCode(t, 0)
	wantData, _ := os.ReadFile(want)
	if n := bytes.Count(wantData, []byte("\r\n")); n != 91 {
		t.Fatalf("the reference export has %d lines, want a header and 90 records", n)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "theirs.csv")
			runExportd(t, nil, append(tc.args, "-o", out)...).wantCode(t, 0)
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, wantData) {
				t.Fatalf("%d bytes differ from our flags' %d", len(got), len(wantData))
			}
		})
	}
	// --type json is one document per line (our ndjson); --jsonFormat is
	// --json-format.
	t.Run("type json", func(t *testing.T) {
		t.Parallel()
		d := t.TempDir()
		a, b := filepath.Join(d, "a.json"), filepath.Join(d, "b.ndjson")
		smallExport(t, "--type", "json", "--jsonFormat", "canonical", "--limit", "20", "-o", a).wantCode(t, 0)
		smallExport(t, "--format", "ndjson", "--json-format", "canonical", "--limit", "20", "-o", b).wantCode(t, 0)
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		lines := bytes.Split(bytes.TrimSuffix(da, []byte("\n")), []byte("\n"))
		if !bytes.Equal(da, db) || len(lines) != 20 || !json.Valid(lines[0]) || !bytes.Contains(lines[0], []byte(`"$date":{"$numberLong"`)) {
			t.Fatalf("--type json --jsonFormat canonical: %d lines, same as ndjson %v:\n%.200s", len(lines), bytes.Equal(da, db), da)
		}
	})
}

// --readPreference goes into the connection string, as a mode or as
// mongoexport's JSON form.
func TestReadPreference(t *testing.T) {
	for _, rp := range []string{"secondaryPreferred", `{"mode": "nearest", "tagSets": [{}]}`, "primary"} {
		t.Run(rp, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "t.ndjson")
			smallExport(t, "--readPreference", rp, "--limit", "3", "-o", out).wantCode(t, 0)
			if data, _ := os.ReadFile(out); bytes.Count(data, []byte("\n")) != 3 {
				t.Fatalf("exported %q", data)
			}
		})
	}
	uri, _, err := prepareURI("mongodb://db1:27017/app?w=1", `{"mode": "secondary", "tagSets": [{"dc": "east", "rack": "2"}, {}], "maxStalenessSeconds": 120}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "mongodb://db1:27017/app?w=1&maxStalenessSeconds=120&readPreference=secondary&readPreferenceTags=dc%3Aeast%2Crack%3A2&readPreferenceTags="; uri != want {
		t.Fatalf("uri %s\nwant %s", uri, want)
	}
	if uri, _, _ := prepareURI("mongodb://db1", "nearest"); uri != "mongodb://db1/?readPreference=nearest" {
		t.Fatalf("uri %s", uri)
	}
}

// A missing database or collection is a warning and an empty export, or
// with --strict (mongoexport's --assertExists) exit status 2 and nothing
// written.
func TestMissingNamespace(t *testing.T) {
	smallCollection(t)
	cases := []struct {
		name, db, coll, want string
	}{
		{"collection", "app", "smal", "app.smal does not exist (did you mean app.small?)"},
		{"database", "nosuchdb", "tasks", "nosuchdb.tasks does not exist (database nosuchdb has no collections)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			uri := database(t)
			for _, strict := range []string{"--strict", "--assertExists"} {
				for _, out := range []string{filepath.Join(dir, "x.ndjson"), filepath.Join(dir, "x") + "/", "-"} {
					r := runExportd(t, nil, "export", "--uri", uri, "-d", tc.db, "-c", tc.coll, strict, "-o", out)
					r.wantCode(t, 2)
					if !strings.Contains(r.stderr, "exportd: "+tc.want+", and --strict makes that an error: nothing was written") || r.stdout != "" {
						t.Fatalf("%s -o %s: %q", strict, out, r.stderr)
					}
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Fatalf("--strict left %d entries", len(entries))
			}
			// Without --strict: a warning on stderr, and an empty export
			// in each kind of output.
			for _, out := range []string{filepath.Join(dir, "x.ndjson"), filepath.Join(dir, "x"), "-"} {
				r := runExportd(t, nil, "export", "--uri", uri, "-d", tc.db, "-c", tc.coll, "-o", out)
				r.wantCode(t, 0)
				if !strings.HasSuffix(r.stderr, "exportd: warning: "+tc.want+": exported 0 records\n") || r.stdout != "" {
					t.Fatalf("-o %s: no warning: %q, stdout %q", out, r.stderr, r.stdout)
				}
			}
			if fi, err := os.Stat(filepath.Join(dir, "x.ndjson")); err != nil || fi.Size() != 0 {
				t.Fatalf("the empty export: %v %v", fi, err)
			}
			if m := readManifest(t, filepath.Join(dir, "x")); m.Records != 0 || m.State != "completed" {
				t.Fatalf("the empty export: %d records, %s", m.Records, m.State)
			}
		})
	}
}
