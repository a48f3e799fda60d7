package export_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// BenchmarkResume measures what a resume costs before its first new record:
// reopening the cursor after the last recorded key at 10% and at 90% of
// the collection. A seek costs the same at both; a skip would cost in
// proportion to what it skips.
func BenchmarkResume(b *testing.B) {
	_, client := database(b)
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", Sort: []byte(`{"createdAt": 1}`)})
	if err != nil {
		b.Fatal(err)
	}
	coll := client.Database("app").Collection("tasks")
	unstorable, err := source.Unstorable(context.Background(), client)
	if err != nil {
		b.Fatal(err)
	}
	// The sort keys of the record at each point, read in export order.
	cur, err := source.Find(context.Background(), coll, p, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	var keys []bson.Raw
	for {
		doc, err := cur.Next(context.Background())
		if err != nil {
			break
		}
		keys = append(keys, sortKey(b, doc))
	}
	cur.Close(context.Background())
	if len(keys) != seeded {
		b.Fatalf("read %d records, want %d", len(keys), seeded)
	}
	for _, pct := range []int{10, 90} {
		b.Run(fmt.Sprintf("at-%d%%", pct), func(b *testing.B) {
			at := len(keys) * pct / 100
			var first time.Duration
			for b.Loop() {
				start := time.Now()
				cur, err := source.Find(context.Background(), coll, p, keys[at-1], unstorable)
				if err != nil {
					b.Fatal(err)
				}
				doc, err := cur.Next(context.Background())
				first += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if got := sortKey(b, doc); string(got) != string(keys[at]) {
					b.Fatalf("resumed at %v, want %v", got, keys[at])
				}
				cur.Close(context.Background())
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "ms/first-record")
		})
	}
}

func sortKey(tb testing.TB, doc bson.Raw) bson.Raw {
	tb.Helper()
	key, err := bson.Marshal(bson.D{{Key: "createdAt", Value: doc.Lookup("createdAt")}, {Key: "_id", Value: doc.Lookup("_id")}})
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// BenchmarkCheckpointCost runs the pipeline over in-memory tasks, in chunks
// of 20,000 records, with every chunk recorded in the checkpoint store (bbolt, fsync) and the manifest
// rewritten, against the same run with nothing recorded.
func BenchmarkCheckpointCost(b *testing.B) {
	docs := devmongo.Tasks(200_000)
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", ChunkRecords: 20_000})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := format.New(p, format.Info{})
	if err != nil {
		b.Fatal(err)
	}
	for _, recorded := range []bool{false, true} {
		b.Run(fmt.Sprintf("checkpoint=%v", recorded), func(b *testing.B) {
			var records int64
			for b.Loop() {
				dir := b.TempDir()
				commit := func(context.Context, api.Chunk, bool) error { return nil }
				if recorded {
					store, err := checkpoint.Open(filepath.Join(dir, checkpoint.FileName))
					if err != nil {
						b.Fatal(err)
					}
					e := &checkpoint.Export{ID: checkpoint.NewID(), Plan: *p, State: api.StateRunning}
					store.Create(e)
					commit = func(_ context.Context, c api.Chunk, final bool) error {
						if err := store.Commit(e.ID, c, final, time.Now()); err != nil {
							return err
						}
						m, err := store.Manifest(e.ID)
						if err != nil {
							return err
						}
						return chunker.WriteManifest(dir, m)
					}
					defer store.Close()
				}
				res, err := pipeline.Run(context.Background(), pipeline.Config{
					Source: pipeline.NewSlice(docs), Plan: p, Encoder: enc, Dir: dir, Commit: commit,
				})
				if err != nil {
					b.Fatal(err)
				}
				records += res.Next.Record
			}
			if records != int64(b.N)*int64(len(docs)) {
				b.Fatalf("%d records exported, want %d", records, b.N*len(docs))
			}
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
