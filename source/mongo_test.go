package source_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

func TestUnreachableServerFailsFast(t *testing.T) {
	start := time.Now()
	_, err := source.Connect(context.Background(), "mongodb://127.0.0.1:1/?connect=direct", 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "cannot reach MongoDB at mongodb://127.0.0.1:1/") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s with a 500ms timeout", d)
	}
}

func TestRedact(t *testing.T) {
	got := source.Redact("mongodb://user:s3cret@db.example:27017/app?authSource=admin")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "user:xxxxx@") {
		t.Fatalf("Redact = %q", got)
	}
}

// devmongo counts by reading every document: no total is asked of it. Its
// quirks are known: it cannot store FerretDBUnstorable.
func TestFerretDBQuirks(t *testing.T) {
	srv := devmongotest.Start(t)
	client := devmongotest.Client(t, srv.URI())
	ctx := context.Background()
	p, _ := request.Compile(&request.Request{Database: "app", Collection: "tasks"})
	if n, ok, err := source.Total(ctx, client, p); err != nil || ok {
		t.Fatalf("Total on FerretDB = %d, %v, %v; want no total", n, ok, err)
	}
	f, _ := request.Compile(&request.Request{Database: "app", Collection: "tasks", Filter: []byte(`{"status": "todo"}`)})
	if _, ok, err := source.Total(ctx, client, f); err != nil || ok {
		t.Fatalf("Total with a filter: %v, %v", ok, err)
	}
	u, err := source.Unstorable(ctx, client)
	if err != nil || len(u) != len(source.FerretDBUnstorable) {
		t.Fatalf("Unstorable on FerretDB = %v, %v; want FerretDBUnstorable", u, err)
	}
}
