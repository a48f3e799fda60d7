package source_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// The pipeline's reader keeps documents without copying them (see
// pipeline.Source): a document the cursor returned must stay as it was
// after the cursor has fetched later batches. The driver reads every batch
// into a buffer of its own; this fails if a driver version starts to reuse
// one.
func TestCursorDocumentsOutliveBatch(t *testing.T) {
	const n, batch = 300, 25
	srv := devmongotest.Start(t)
	devmongotest.SeedTasks(t, srv.URI(), "app", "tasks", n)
	coll := devmongotest.Client(t, srv.URI()).Database("app").Collection("tasks")
	p, err := request.Compile(&request.Request{Database: "app", Collection: "tasks", BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}

	read := func(keep func(bson.Raw) bson.Raw) []bson.Raw {
		t.Helper()
		ctx := context.Background()
		cur, err := source.Find(ctx, coll, p, nil, nil)
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
			docs = append(docs, keep(d))
		}
	}
	kept := read(func(d bson.Raw) bson.Raw { return d })
	copied := read(func(d bson.Raw) bson.Raw { return bytes.Clone(d) })
	if len(kept) != n || len(copied) != n {
		t.Fatalf("read %d and %d documents, want %d", len(kept), len(copied), n)
	}
	for i := range kept {
		if !bytes.Equal(kept[i], copied[i]) {
			t.Fatalf("document %d changed after later batches were read:\n%s\nwant\n%s", i, kept[i], copied[i])
		}
	}
}
