package export_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// commitTasks is how many devmongo tasks the benchmarked chunk holds:
// about 29 MiB of NDJSON, 4.1 MiB once zstd (level 3) has it.
const commitTasks = 60_000

// BenchmarkChunkCommit is what export.Record.Commit costs per chunk on one
// node (bbolt, the chunk staying in the export's directory) against a
// cluster (the chunk uploaded to versitygw with its SHA-256, then
// recorded in JetStream's key-value bucket through the owner's claim, as
// the runner does, with 3 replicas on 3 servers or 1 on 1), the manifest
// rewritten after each. Every case commits the same real sealed chunk, b.N
// times, as consecutive chunks of one export. Besides ms/chunk and MB/s it
// reports where the time goes: upload-ms (PutChunk), commit-ms (the
// store's Commit) and manifest-ms (the rest of Record.Commit: the manifest
// read back from the store and rewritten, and in S3 mode the local file
// removed). The manifest is built from every recorded chunk, so its part
// grows with the export's chunk count.
func BenchmarkChunkCommit(b *testing.B) {
	sealed := sealChunk(b)
	b.Logf("chunk: %d tasks, %d bytes NDJSON, %d bytes zstd, sha256 %s", sealed.c.Records, sealed.c.RawBytes, sealed.c.Bytes, sealed.c.SHA256)
	b.Run("single", func(b *testing.B) {
		dir := b.TempDir()
		store, err := checkpoint.Open(filepath.Join(dir, checkpoint.FileName))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { store.Close() })
		id := createExport(b, store, sealed.plan)
		rec := &timedRecords{Records: store, commit: func(c api.Chunk, final bool, at time.Time) error {
			return store.Commit(id, c, final, at)
		}}
		benchCommits(b, sealed, export.Record{Store: rec, ID: id, Dir: dir}.Cached(), rec, nil)
		m, err := chunker.ReadManifest(dir)
		if err != nil {
			b.Fatal(err)
		}
		checkCommitted(b, m, sealed, b.N)
		for _, c := range m.Chunks {
			if fi, err := os.Stat(filepath.Join(dir, c.Name)); err != nil || fi.Size() != c.Bytes {
				b.Fatalf("chunk file %s: %v", c.Name, err)
			}
		}
	})
	for _, c := range []struct {
		name    string
		servers int
	}{{"cluster", 3}, {"cluster-r1", 1}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			ns := natstest.Cluster(b, c.servers)
			js, err := jetstream.New(ns.Connect(b, 0))
			if err != nil {
				b.Fatal(err)
			}
			store, err := cluster.OpenStore(ctx, js, cluster.Config{Replicas: c.servers})
			if err != nil {
				b.Fatal(err)
			}
			s3 := s3test.Spawn(b)
			objects, err := objstore.New(ctx, s3.Config("bench"))
			if err != nil {
				b.Fatal(err)
			}
			id := createExport(b, store, sealed.plan)
			epoch, err := store.Claim(id, "bench-node")
			if err != nil {
				b.Fatal(err)
			}
			owned := store.Owned(id, "bench-node", epoch)
			rec := &timedRecords{Records: store, commit: owned.Commit}
			obj := &timedObjects{Store: objects}
			dir := b.TempDir()
			benchCommits(b, sealed, export.Record{Store: rec, ID: id, Dir: dir, Objects: obj}.Cached(), rec, obj)
			m, err := store.Manifest(id)
			if err != nil {
				b.Fatal(err)
			}
			checkCommitted(b, m, sealed, b.N)
			// Every chunk is in the store, at its size, and no longer here.
			infos, err := objects.List(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if len(infos) != b.N+1 { // and the manifest
				b.Fatalf("%d objects stored, want %d chunks and the manifest", len(infos), b.N)
			}
			for _, info := range infos {
				if !strings.HasSuffix(info.Key, "/"+chunker.ManifestName) && info.Size != sealed.c.Bytes {
					b.Fatalf("object %s has %d bytes, want %d", info.Key, info.Size, sealed.c.Bytes)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "chunk-*")); len(left) != 0 {
				b.Fatalf("uploaded chunks left in the directory: %v", left)
			}
		})
	}
}

// sealedChunk is one chunk file the pipeline sealed, with its record.
type sealedChunk struct {
	path string
	c    api.Chunk
	plan *request.Plan
}

// sealChunk runs the pipeline over commitTasks devmongo tasks (NDJSON,
// zstd) into one chunk and checks the file against the SHA-256 it
// reports.
func sealChunk(tb testing.TB) sealedChunk {
	tb.Helper()
	docs := make([]bson.Raw, commitTasks)
	for i := range docs {
		docs[i] = devmongo.Task(int64(i))
	}
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", ChunkRecords: commitTasks})
	if err != nil {
		tb.Fatal(err)
	}
	enc, err := format.New(p, format.Info{})
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	var first *api.Chunk
	_, err = pipeline.Run(context.Background(), pipeline.Config{
		Source: pipeline.NewSlice(docs), Plan: p, Encoder: enc, Dir: dir,
		Commit: func(_ context.Context, c api.Chunk, _ bool) error {
			if first == nil {
				first = &c
			}
			return nil
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if first == nil || first.Records != commitTasks {
		tb.Fatalf("the pipeline sealed %+v, want one chunk of %d tasks", first, commitTasks)
	}
	path := filepath.Join(dir, first.Name)
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != first.SHA256 || int64(len(data)) != first.Bytes {
		tb.Fatalf("%s: %d bytes, not the %d with the SHA-256 sealed", path, len(data), first.Bytes)
	}
	return sealedChunk{path: path, c: *first, plan: p}
}

// at is the sealed chunk as chunk i of an export.
func (s sealedChunk) at(i int) api.Chunk {
	c := s.c
	_, ext, _ := strings.Cut(s.c.Name, ".")
	c.Index, c.Name = i, chunker.Name(i, ext)
	return c
}

// createExport stores a new running export of plan.
func createExport(tb testing.TB, store checkpoint.Records, plan *request.Plan) string {
	tb.Helper()
	e := checkpoint.NewExport("", json.RawMessage(`{"database":"app","collection":"tasks"}`), plan, time.Now())
	if _, _, err := store.Create(e); err != nil {
		tb.Fatal(err)
	}
	if err := store.SetState(e.ID, api.StateRunning, "", time.Now()); err != nil {
		tb.Fatal(err)
	}
	return e.ID
}

// benchCommits commits the sealed chunk b.N times through rec, each time
// linked in first at its own name (outside the timer: Record removes an
// uploaded file), and reports the cost per chunk and its parts.
func benchCommits(b *testing.B, s sealedChunk, rec export.Record, st *timedRecords, obj *timedObjects) {
	ctx := context.Background()
	b.SetBytes(s.c.Bytes)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := s.at(i)
		b.StopTimer()
		if err := os.Link(s.path, filepath.Join(rec.Dir, c.Name)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if err := rec.Commit(ctx, c, false, time.Now()); err != nil {
			b.Fatal(err)
		}
		st.total += time.Since(start)
		i++
	}
	var upload time.Duration
	if obj != nil {
		upload = obj.chunks
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(per(st.total), "ms/chunk")
	b.ReportMetric(per(upload), "upload-ms")
	b.ReportMetric(per(st.commits), "commit-ms")
	b.ReportMetric(per(st.total-upload-st.commits), "manifest-ms")
}

// checkCommitted says m records n copies of the sealed chunk, in order.
func checkCommitted(tb testing.TB, m *api.Manifest, s sealedChunk, n int) {
	tb.Helper()
	if len(m.Chunks) != n || m.Records != int64(n)*s.c.Records || m.State != api.StateRunning {
		tb.Fatalf("manifest: %s, %d chunks, %d records; want %d chunks of %d", m.State, len(m.Chunks), m.Records, n, s.c.Records)
	}
	for i, c := range m.Chunks {
		if c.Index != i || c.SHA256 != s.c.SHA256 || c.Bytes != s.c.Bytes {
			tb.Fatalf("chunk %d recorded as %+v", i, c)
		}
	}
}

// timedRecords is a store whose Commit goes through commit (the owner's,
// in a cluster) and is timed.
type timedRecords struct {
	checkpoint.Records
	commit         func(c api.Chunk, final bool, at time.Time) error
	commits, total time.Duration
}

func (r *timedRecords) Commit(_ string, c api.Chunk, final bool, at time.Time) error {
	start := time.Now()
	err := r.commit(c, final, at)
	r.commits += time.Since(start)
	return err
}

// timedObjects is an object store whose chunk uploads are timed.
type timedObjects struct {
	*objstore.Store
	chunks time.Duration
}

func (o *timedObjects) PutChunk(ctx context.Context, id string, index int, ext, path string, size int64, sha256hex string) error {
	start := time.Now()
	err := o.Store.PutChunk(ctx, id, index, ext, path, size, sha256hex)
	o.chunks += time.Since(start)
	return err
}
