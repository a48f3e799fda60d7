package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// db is one FerretDB for the package's tests, seeded once.
var (
	dbOnce   sync.Once
	dbURI    string
	dbClient *mongo.Client
)

const seeded = 3000

func database(t testing.TB) (string, *mongo.Client) {
	t.Helper()
	dbOnce.Do(func() {
		// Its own process: FerretDB under -race is several times slower.
		srv, err := devmongotest.StartProcess(filepath.Join(os.TempDir(), fmt.Sprintf("exportd-export-test-%d", os.Getpid())), "")
		if err != nil {
			t.Fatalf("start devmongo: %v", err)
		}
		dbURI = srv.URI
		dbClient, err = mongo.Connect(options.Client().ApplyURI(dbURI).SetServerSelectionTimeout(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := devmongo.Seed(ctx, dbClient.Database("app").Collection("tasks"), 0, seeded, devmongo.SeedOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := seedMixed(ctx, dbClient.Database("app").Collection("mixed")); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, srv)
	})
	if dbClient == nil {
		t.Fatal("no test database")
	}
	return dbURI, dbClient
}

var servers []*devmongotest.Process

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range servers {
		s.Stop()
	}
	devmongotest.RemoveBinary()
	os.RemoveAll(filepath.Join(os.TempDir(), fmt.Sprintf("exportd-export-test-%d", os.Getpid())))
	os.Exit(code)
}

// seedMixed makes a collection whose "rank" is missing, null, or of several
// BSON types, with many duplicates: the hard case for keyset resume.
func seedMixed(ctx context.Context, coll *mongo.Collection) error {
	var docs []any
	for i := range 1500 {
		d := bson.D{{Key: "_id", Value: int32(i)}, {Key: "n", Value: int32(i)}}
		switch i % 9 {
		case 0: // missing
		case 1:
			d = append(d, bson.E{Key: "rank", Value: nil})
		case 2:
			d = append(d, bson.E{Key: "rank", Value: int32(i % 4)})
		case 3:
			d = append(d, bson.E{Key: "rank", Value: float64(i%4) + 0.5})
		case 4:
			d = append(d, bson.E{Key: "rank", Value: int64(i % 3)})
		case 5:
			d = append(d, bson.E{Key: "rank", Value: fmt.Sprintf("s%d", i%5)})
		case 6:
			d = append(d, bson.E{Key: "rank", Value: bson.DateTime(int64(i%4) * 86400000)})
		case 7:
			d = append(d, bson.E{Key: "rank", Value: i%2 == 0})
		case 8:
			d = append(d, bson.E{Key: "rank", Value: bson.D{{Key: "k", Value: int32(i % 2)}}})
		}
		docs = append(docs, d)
	}
	_, err := coll.InsertMany(ctx, docs)
	return err
}

var created = time.Date(2025, 5, 4, 3, 2, 1, 0, time.UTC)

type exportRun struct {
	dir   string
	store *checkpoint.Store
	id    string
}

func newExport(t *testing.T, r request.Request) *exportRun {
	t.Helper()
	if r.Database == "" {
		r.Database, r.Collection = "app", "tasks"
	}
	p, err := request.Compile(&r)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := json.Marshal(r)
	dir := t.TempDir()
	store, err := checkpoint.Open(filepath.Join(dir, checkpoint.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Check(); err != nil {
			t.Errorf("checkpoint inconsistent: %v", err)
		}
		store.Close()
	})
	// A fixed creation time, so that two exports of one request (the json
	// envelope prints it) can be compared byte for byte.
	e := &checkpoint.Export{ID: checkpoint.NewID(), Request: req, Plan: *p, CreatedAt: created, State: api.StateQueued}
	if _, _, err := store.Create(e); err != nil {
		t.Fatal(err)
	}
	return &exportRun{dir: dir, store: store, id: e.ID}
}

func (e *exportRun) env(client *mongo.Client) *export.Env {
	return &export.Env{Store: e.store, Client: client, Workers: 2, Retries: 3, Backoff: 50 * time.Millisecond, MaxBackoff: time.Second}
}

func (e *exportRun) run(t *testing.T, ctx context.Context, env *export.Env) error {
	t.Helper()
	return export.Run(ctx, env, e.id, e.dir, new(pipeline.Stats))
}

func (e *exportRun) manifest(t *testing.T) *api.Manifest {
	t.Helper()
	m, err := chunker.ReadManifest(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// data is the export's chunks concatenated and decompressed.
func (e *exportRun) data(t *testing.T) []byte {
	t.Helper()
	m := e.manifest(t)
	var all []byte
	for _, c := range m.Chunks {
		b, err := os.ReadFile(filepath.Join(e.dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	r, err := chunker.Decompress(m.Chunks[0].Name, bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// driverLines is what a direct driver query returns, one relaxed Extended
// JSON document per line.
func driverLines(t *testing.T, client *mongo.Client, coll string, filter, sort bson.D, proj bson.D) []byte {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	opts := options.Find().SetSort(sort)
	if proj != nil {
		opts.SetProjection(proj)
	}
	cur, err := client.Database("app").Collection(coll).Find(context.Background(), filter, opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for cur.Next(context.Background()) {
		b, err := bson.MarshalExtJSON(cur.Current, false, false)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, b...), '\n')
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportEqualsDriverQuery(t *testing.T) {
	_, client := database(t)
	cases := []struct {
		name   string
		req    request.Request
		coll   string
		filter bson.D
		sort   bson.D
		proj   bson.D
	}{
		{"all by _id", request.Request{Compression: request.None, ChunkRecords: 700}, "tasks", nil, bson.D{{Key: "_id", Value: 1}}, nil},
		{"filter and sort", request.Request{Compression: request.None, ChunkRecords: 250,
			Filter: []byte(`{"status": "completed", "createdAt": {"$gte": {"$date": "2024-01-01T00:00:00Z"}}}`), Sort: []byte(`{"createdAt": -1}`)},
			"tasks", bson.D{{Key: "status", Value: "completed"}, {Key: "createdAt", Value: bson.D{{Key: "$gte", Value: bson.DateTime(1704067200000)}}}},
			bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: 1}}, nil},
		{"fields", request.Request{Compression: request.None, Fields: []string{"title", "assignee.email"}, Sort: []byte(`{"priority": 1}`)},
			"tasks", nil, bson.D{{Key: "priority", Value: 1}, {Key: "_id", Value: 1}}, bson.D{{Key: "title", Value: 1}, {Key: "assignee.email", Value: 1}}},
		{"mixed types descending", request.Request{Compression: request.None, ChunkRecords: 100, Sort: []byte(`{"rank": -1}`), Collection: "mixed", Database: "app"},
			"mixed", nil, bson.D{{Key: "rank", Value: -1}, {Key: "_id", Value: 1}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newExport(t, tc.req)
			if err := e.run(t, context.Background(), e.env(client)); err != nil {
				t.Fatal(err)
			}
			want := driverLines(t, client, tc.coll, tc.filter, tc.sort, tc.proj)
			got := e.data(t)
			if !bytes.Equal(got, want) {
				t.Fatalf("export differs from the driver's query: %d vs %d bytes, %d vs %d lines",
					len(got), len(want), bytes.Count(got, []byte("\n")), bytes.Count(want, []byte("\n")))
			}
			m := e.manifest(t)
			if m.State != api.StateCompleted || m.Records != int64(bytes.Count(want, []byte("\n"))) {
				t.Fatalf("manifest state %s records %d", m.State, m.Records)
			}
			if m.Records == 0 {
				t.Fatal("the case exports nothing")
			}
		})
	}
}

// Compressed chunks decompress, with our reader and with the standard
// tools, to exactly the bytes of the uncompressed run.
func TestCompressionsAgree(t *testing.T) {
	_, client := database(t)
	for _, f := range []request.Format{request.NDJSON, request.JSON, request.CSV} {
		t.Run(string(f), func(t *testing.T) {
			base := request.Request{Format: f, ChunkRecords: 800, Sort: []byte(`{"dueDate": 1}`)}
			if f == request.CSV {
				base.Fields = []string{"_id", "title", "description", "tags", "assignee.name", "dueDate", "estimatedHours"}
			}
			var plain []byte
			for _, c := range []request.Compression{request.None, request.Zstd, request.Gzip} {
				r := base
				r.Compression = c
				e := newExport(t, r)
				if err := e.run(t, context.Background(), e.env(client)); err != nil {
					t.Fatal(err)
				}
				got := e.data(t)
				if c == request.None {
					plain = got
					continue
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("%s export differs from the uncompressed one", c)
				}
				tool := map[request.Compression]string{request.Zstd: "zstd", request.Gzip: "gzip"}[c]
				var cat []byte
				for _, ch := range e.manifest(t).Chunks {
					b, _ := os.ReadFile(filepath.Join(e.dir, ch.Name))
					cat = append(cat, b...)
					alone := exec.Command(tool, "-dc")
					alone.Stdin = bytes.NewReader(b)
					if out, err := alone.Output(); err != nil || int64(len(out)) != ch.RawBytes {
						t.Fatalf("%s -dc %s alone: %d bytes, %v", tool, ch.Name, len(out), err)
					}
				}
				cmd := exec.Command(tool, "-dc")
				cmd.Stdin = bytes.NewReader(cat)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s -dc over the concatenated chunks: %v (is %s installed?)", tool, err, tool)
				}
				if !bytes.Equal(out, plain) {
					t.Fatalf("%s -dc gives other bytes than the uncompressed export", tool)
				}
			}
			if f == request.JSON {
				if !json.Valid(plain) || !bytes.Contains(plain, []byte(`"generatedAt":"2025-05-04T03:02:01.000Z"`)) {
					t.Fatal("json export is not valid JSON with the export's creation time")
				}
			}
		})
	}
}

// stopAfter cancels ctx once chunk n is recorded.
func stopAfter(env *export.Env, n int, cancel context.CancelFunc) {
	env.OnChunk = func(c api.Chunk) {
		if c.Index == n {
			cancel()
		}
	}
}

func sums(m *api.Manifest) string {
	var b strings.Builder
	for _, c := range m.Chunks {
		fmt.Fprintf(&b, "%d %s %d %s %s %s\n", c.Index, c.Name, c.Records, c.SHA256, c.FirstKey, c.LastKey)
	}
	return b.String()
}

func TestResumeGivesIdenticalChunks(t *testing.T) {
	_, client := database(t)
	cases := []struct {
		name string
		req  request.Request
		stop []int
	}{
		{"ndjson zstd", request.Request{ChunkRecords: 300}, []int{0, 4}},
		{"json gzip sorted", request.Request{Format: request.JSON, Compression: request.Gzip, ChunkRecords: 500, Sort: []byte(`{"completedAt": -1}`)}, []int{1, 2, 4}},
		{"csv none", request.Request{Format: request.CSV, Compression: request.None, ChunkBytes: 24 << 10, Fields: []string{"_id", "title", "dueDate"}, Sort: []byte(`{"dueDate": 1}`)}, []int{3}},
		{"mixed descending", request.Request{Database: "app", Collection: "mixed", ChunkRecords: 97, Sort: []byte(`{"rank": -1}`)}, []int{0, 3, 7, 11}},
		{"mixed ascending", request.Request{Database: "app", Collection: "mixed", ChunkRecords: 130, Sort: []byte(`{"rank": 1, "n": -1}`)}, []int{2, 5, 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			whole := newExport(t, tc.req)
			if err := whole.run(t, context.Background(), whole.env(client)); err != nil {
				t.Fatal(err)
			}
			want := whole.manifest(t)

			e := newExport(t, tc.req)
			for _, n := range tc.stop {
				ctx, cancel := context.WithCancel(context.Background())
				env := e.env(client)
				stopAfter(env, n, cancel)
				err := e.run(t, ctx, env)
				cancel()
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("stop after chunk %d: %v", n, err)
				}
				if st, _ := e.store.Get(e.id); st.State != api.StateRunning || st.Chunks < n+1 {
					t.Fatalf("after the stop: state %s, %d chunks", st.State, st.Chunks)
				}
			}
			if err := e.run(t, context.Background(), e.env(client)); err != nil {
				t.Fatal(err)
			}
			got := e.manifest(t)
			if got.State != api.StateCompleted || got.Records != want.Records {
				t.Fatalf("resumed: state %s records %d, want %d", got.State, got.Records, want.Records)
			}
			if sums(got) != sums(want) {
				t.Fatalf("resumed export differs:\n%s\nwant\n%s", sums(got), sums(want))
			}
			st, _ := e.store.Get(e.id)
			if st.Resumes != len(tc.stop) {
				t.Errorf("resumes = %d, want %d", st.Resumes, len(tc.stop))
			}
		})
	}
}

func TestRecoverRemovesUnrecordedFiles(t *testing.T) {
	_, client := database(t)
	req := request.Request{ChunkRecords: 1000, Compression: request.None}
	whole := newExport(t, req)
	if err := whole.run(t, context.Background(), whole.env(client)); err != nil {
		t.Fatal(err)
	}
	e := newExport(t, req)
	ctx, cancel := context.WithCancel(context.Background())
	env := e.env(client)
	stopAfter(env, 0, cancel)
	e.run(t, ctx, env)
	// What a crash leaves: a sealed chunk that was never recorded, with
	// other contents, and a temporary file.
	os.WriteFile(filepath.Join(e.dir, "chunk-000001.ndjson"), []byte("garbage\n"), 0o644)
	os.WriteFile(filepath.Join(e.dir, ".chunk-000002.ndjson.tmp"), []byte("half"), 0o644)
	if err := e.run(t, context.Background(), e.env(client)); err != nil {
		t.Fatal(err)
	}
	if sums(e.manifest(t)) != sums(whole.manifest(t)) {
		t.Fatal("recovered export differs from the uninterrupted one")
	}
	entries, _ := os.ReadDir(e.dir)
	for _, ent := range entries {
		if chunker.IsTemp(ent.Name()) {
			t.Errorf("temporary file %s survived", ent.Name())
		}
	}
	// A recorded chunk that vanished is an error, not a silent gap.
	os.Remove(filepath.Join(e.dir, "chunk-000000.ndjson"))
	e.store.SetState(e.id, api.StateFailed, "test", time.Now())
	if err := export.Recover(e.store, e.id, e.dir, nil); !errors.Is(err, export.ErrMissingChunk) {
		t.Fatalf("missing recorded chunk: %v", err)
	}
}

func TestDiskFullThenResume(t *testing.T) {
	_, client := database(t)
	req := request.Request{ChunkRecords: 400, Compression: request.None}
	whole := newExport(t, req)
	if err := whole.run(t, context.Background(), whole.env(client)); err != nil {
		t.Fatal(err)
	}
	e := newExport(t, req)
	env := e.env(client)
	var full sync.Mutex
	limit := int64(3 * 400 * 500) // room for about three chunks
	var total int64
	env.Hooks.BeforeWrite = func(name string, written int64, n int) error {
		full.Lock()
		defer full.Unlock()
		if total+int64(n) > limit {
			return syscall.ENOSPC
		}
		total += int64(n)
		return nil
	}
	err := e.run(t, context.Background(), env)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("full disk: %v", err)
	}
	m := e.manifest(t)
	if m.State != api.StateFailed || !strings.Contains(m.Error, "no space left on device") || !strings.Contains(m.Error, "resume") {
		t.Fatalf("manifest after ENOSPC: state %s error %q", m.State, m.Error)
	}
	if len(m.Chunks) == 0 || len(m.Chunks) >= len(whole.manifest(t).Chunks) {
		t.Fatalf("%d chunks before the disk filled", len(m.Chunks))
	}
	// Space is freed: the same export resumes and completes identically.
	if err := e.run(t, context.Background(), e.env(client)); err != nil {
		t.Fatal(err)
	}
	if sums(e.manifest(t)) != sums(whole.manifest(t)) {
		t.Fatal("export resumed after ENOSPC differs from the uninterrupted one")
	}
}

func TestForeignDirRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	p, _ := request.Compile(&request.Request{Database: "app", Collection: "tasks"})
	_, err := export.OpenLocal(dir, nil, p)
	if !errors.Is(err, export.ErrForeignDir) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.txt")); string(b) != "mine" {
		t.Fatal("the directory's file was touched")
	}
	// Another request into an existing export's directory is refused too.
	dir = t.TempDir()
	l, err := export.OpenLocal(dir, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	l.Store.Close()
	p2, _ := request.Compile(&request.Request{Database: "app", Collection: "tasks", Format: request.JSON})
	if _, err := export.OpenLocal(dir, nil, p2); !errors.Is(err, export.ErrForeignDir) {
		t.Fatalf("other request: %v", err)
	}
	l, err = export.OpenLocal(dir, nil, p)
	if err != nil || !l.Resumed {
		t.Fatalf("same request: resumed=%v err=%v", l != nil && l.Resumed, err)
	}
	l.Store.Close()
}

// failingSource fails once, after n documents, with an error a new cursor
// cures; every other Next is the cursor's.
type failingSource struct {
	pipeline.Source
	n      *atomic.Int64
	failed *atomic.Bool
}

func (f failingSource) Next(ctx context.Context) (bson.Raw, error) {
	if !f.failed.Load() && f.n.Add(-1) < 0 {
		f.failed.Store(true)
		return nil, fmt.Errorf("injected: %w", context.DeadlineExceeded)
	}
	return f.Source.Next(ctx)
}

// A retry within the run reads again what the failed attempt read after
// its last chunk: the counts of the run's stats take those records once,
// and the chunks are those of a run that never failed.
func TestRetryCountsRecordsOnce(t *testing.T) {
	_, client := database(t)
	req := request.Request{ChunkRecords: 300, BatchSize: 50}
	whole := newExport(t, req)
	if err := whole.run(t, context.Background(), whole.env(client)); err != nil {
		t.Fatal(err)
	}
	want := whole.manifest(t)

	e := newExport(t, req)
	env := e.env(client)
	var left atomic.Int64
	left.Store(750) // in the middle of the third chunk
	var failed atomic.Bool
	env.Source = func(ctx context.Context, p *request.Plan, last bson.Raw) (pipeline.Source, error) {
		var unstorable source.TypeSet // what the server cannot store, left out of the resume filter
		if last != nil {
			var err error
			if unstorable, err = source.Unstorable(ctx, client); err != nil {
				return nil, err
			}
		}
		cur, err := source.FindAfter(ctx, client.Database(p.Database).Collection(p.Collection), p, last, 0, unstorable)
		if err != nil {
			return nil, err
		}
		return failingSource{Source: cur, n: &left, failed: &failed}, nil
	}
	var stats pipeline.Stats
	if err := export.Run(context.Background(), env, e.id, e.dir, &stats); err != nil {
		t.Fatal(err)
	}
	if !failed.Load() {
		t.Fatal("the source never failed")
	}
	if sums(e.manifest(t)) != sums(want) {
		t.Fatalf("export across a retry differs:\n%s\nwant\n%s", sums(e.manifest(t)), sums(want))
	}
	if r, s := stats.Records.Load(), stats.Sealed.Load(); r != want.Records || s != want.Records {
		t.Errorf("stats count %d records encoded, %d sealed; want %d each", r, s, want.Records)
	}
}
