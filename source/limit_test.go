package source_test

import (
	"context"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// A plan's skip applies at the start only and its limit counts the
// records already exported: resuming after any record reads exactly the
// rest of what one cursor reads.
func TestFindAfterSkipLimit(t *testing.T) {
	srv := devmongotest.Start(t)
	devmongotest.SeedTasks(t, srv.URI(), "app", "tasks", 200)
	client := devmongotest.Client(t, srv.URI())
	coll := client.Database("app").Collection("tasks")
	unstorable, err := source.Unstorable(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", Sort: []byte(`{"dueDate": -1}`), Skip: 30, Limit: 120, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	everything, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", Sort: []byte(`{"dueDate": -1}`)})
	if err != nil {
		t.Fatal(err)
	}
	all := readAll(t, coll, unstorable, everything, nil, 0)
	whole := readAll(t, coll, unstorable, p, nil, 0)
	if len(all) != 200 || len(whole) != 120 {
		t.Fatalf("read %d and %d documents", len(all), len(whole))
	}
	for i, d := range whole {
		if !bsonEqual(d, all[30+i]) {
			t.Fatalf("record %d is not the collection's %d", i, 30+i)
		}
	}
	for _, done := range []int{1, 50, 119, 120} {
		last := keyOf(t, p, whole[done-1])
		rest := readAll(t, coll, unstorable, p, last, int64(done))
		if len(rest) != 120-done {
			t.Fatalf("after %d: %d records, want %d", done, len(rest), 120-done)
		}
		for i, d := range rest {
			if !bsonEqual(d, whole[done+i]) {
				t.Fatalf("after %d: record %d differs", done, i)
			}
		}
	}
}

func readAll(t *testing.T, coll *mongo.Collection, unstorable source.TypeSet, p *request.Plan, last bson.Raw, done int64) []bson.Raw {
	t.Helper()
	ctx := context.Background()
	cur, err := source.FindAfter(ctx, coll, p, last, done, unstorable)
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(ctx)
	var docs []bson.Raw
	for {
		d, err := cur.Next(ctx)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

// keyOf is doc's sort key as the pipeline records it: the sort paths and
// _id.
func keyOf(t *testing.T, p *request.Plan, doc bson.Raw) bson.Raw {
	t.Helper()
	var key bson.D
	for _, k := range p.SortKeys {
		if v, err := doc.LookupErr(k.Path); err == nil {
			key = append(key, bson.E{Key: k.Path, Value: v})
		}
	}
	raw, err := bson.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func bsonEqual(a, b bson.Raw) bool { return string(a) == string(b) }
