package devmongo_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

// TestSeedRoundTrip seeds the tasks other packages' tests use and checks that
// FerretDB gives every one back with the bytes AppendTask made.
func TestSeedRoundTrip(t *testing.T) {
	const n = 2000
	srv := devmongotest.Start(t)
	devmongotest.SeedTasks(t, srv.URI(), "app", "tasks", n)
	coll := devmongotest.Client(t, srv.URI()).Database("app").Collection("tasks")
	ctx := t.Context()

	count, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || count != n {
		t.Fatalf("count %d, %v; want %d", count, err, n)
	}

	// Tasks found one by one by _id. FerretDB 1.24's SQLite backend does not
	// use its _id index, so each lookup scans the collection: take a sample.
	for i := int64(0); i < n; i += 400 {
		checkFindByID(t, coll, bson.D{{Key: "_id", Value: devmongo.TaskID(i)}}, i, i+1)
	}
	checkFindByID(t, coll, bson.D{{Key: "_id", Value: devmongo.TaskID(n - 1)}}, n-1, n)

	// Every task, found by _id in one query.
	ids := make(bson.A, n)
	for i := range int64(n) {
		ids[i] = devmongo.TaskID(i)
	}
	checkFindByID(t, coll, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, 0, n)

	// Every task once, in one scan sorted by seq.
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var i int64
	for ; cur.Next(ctx); i++ {
		if !bytes.Equal(cur.Current, devmongo.Task(i)) {
			t.Fatalf("scan: document %d is %s, want task %d", i, cur.Current, i)
		}
	}
	if err := cur.Err(); err != nil || i != n {
		t.Fatalf("scan: %d documents, %v; want %d", i, err, n)
	}
}

func TestSeed(t *testing.T) {
	srv := devmongotest.Start(t)
	db := devmongotest.Client(t, srv.URI()).Database("app")
	ctx := t.Context()

	for _, c := range []struct {
		name         string
		start, n     int64
		opts         devmongo.SeedOptions
		wantProgress []int64 // nil: check only that it grows to n
	}{
		{name: "none", start: 0, n: 0, wantProgress: []int64{}},
		{name: "one batch", start: 10, n: 7, opts: devmongo.SeedOptions{Workers: 1}, wantProgress: []int64{7}},
		{name: "uneven batches", start: 5000, n: 1000, opts: devmongo.SeedOptions{BatchSize: 300, Workers: 1},
			wantProgress: []int64{300, 600, 900, 1000}},
		{name: "workers", start: -500, n: 1000, opts: devmongo.SeedOptions{BatchSize: 64, Workers: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			coll := db.Collection(t.Name())
			var progress []int64
			c.opts.Progress = func(done int64) { progress = append(progress, done) }
			got, err := devmongo.Seed(ctx, coll, c.start, c.n, c.opts)
			if err != nil || got != c.n {
				t.Fatalf("Seed: %d, %v; want %d", got, err, c.n)
			}
			if c.wantProgress != nil && !slices.Equal(progress, c.wantProgress) {
				t.Errorf("progress %v, want %v", progress, c.wantProgress)
			}
			for k := 1; k < len(progress); k++ {
				if progress[k] <= progress[k-1] {
					t.Errorf("progress %v does not grow", progress)
				}
			}
			if c.n > 0 && progress[len(progress)-1] != c.n {
				t.Errorf("progress %v does not end at %d", progress, c.n)
			}
			checkRange(t, coll, c.start, c.n)
		})
	}
}

// checkFindByID checks that filter finds exactly tasks from to to-1, byte for
// byte.
func checkFindByID(t *testing.T, coll *mongo.Collection, filter bson.D, from, to int64) {
	t.Helper()
	cur, err := coll.Find(t.Context(), filter)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(t.Context())
	seen := map[int64]bool{}
	for cur.Next(t.Context()) {
		i, ok := cur.Current.Lookup("seq").Int64OK()
		if !ok || i < from || i >= to || seen[i] {
			t.Fatalf("find %s: unexpected document %s", filter, cur.Current)
		}
		seen[i] = true
		if want := devmongo.Task(i); !bytes.Equal(cur.Current, want) {
			t.Fatalf("task %d round-trips differently:\ngot  %s\nwant %s", i, cur.Current, want)
		}
	}
	if err := cur.Err(); err != nil || int64(len(seen)) != to-from {
		t.Fatalf("find %s: %d documents, %v; want %d", filter, len(seen), err, to-from)
	}
}

// checkRange checks that coll holds exactly tasks start to start+n-1.
func checkRange(t *testing.T, coll *mongo.Collection, start, n int64) {
	t.Helper()
	cur, err := coll.Find(t.Context(), bson.D{}, options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(t.Context())
	i := start
	for ; cur.Next(t.Context()); i++ {
		if !bytes.Equal(cur.Current, devmongo.Task(i)) {
			t.Fatalf("document %d is %s, want task %d", i-start, cur.Current, i)
		}
	}
	if err := cur.Err(); err != nil || i != start+n {
		t.Fatalf("%d documents, %v; want %d", i-start, err, n)
	}
}

func TestSeedErrors(t *testing.T) {
	srv := devmongotest.Start(t)
	coll := devmongotest.Client(t, srv.URI()).Database("app").Collection("tasks")
	ctx := t.Context()

	if _, err := devmongo.Seed(ctx, coll, 0, -1, devmongo.SeedOptions{}); !errors.Is(err, devmongo.ErrBadRange) {
		t.Errorf("negative n: %v, want ErrBadRange", err)
	}

	if _, err := devmongo.Seed(ctx, coll, 0, 100, devmongo.SeedOptions{}); err != nil {
		t.Fatal(err)
	}
	// Seeding over existing tasks inserts only the new ones and reports the rest.
	got, err := devmongo.Seed(ctx, coll, 50, 100, devmongo.SeedOptions{BatchSize: 1000, Workers: 1})
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 50 || !mongo.IsDuplicateKeyError(err) {
		t.Errorf("overlapping seed: %v, want 50 duplicate key errors", err)
	}
	if got != 50 {
		t.Errorf("overlapping seed inserted %d, want 50", got)
	}
	checkRange(t, coll, 0, 150)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := devmongo.Seed(cancelled, coll, 1000, 100, devmongo.SeedOptions{}); !errors.Is(err, context.Canceled) || got != 0 {
		t.Errorf("cancelled seed: %d, %v; want 0, context.Canceled", got, err)
	}
}
