package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
)

// The tests run the real exportd binary against one devmongo server.
var (
	binOnce sync.Once
	binPath string
	binErr  error

	dbOnce sync.Once
	dbURI  string
	dbErr  error

	cleanups []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	os.Exit(code)
}

func exportdBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exportd-bin-")
		if err != nil {
			binErr = err
			return
		}
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		binPath = filepath.Join(dir, "exportd")
		out, err := procs.CombinedOutput(exec.Command("go", "build", "-o", binPath, "."))
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// crashTasks is how many tasks the crash tests export.
const crashTasks = 50_000

// mixedTasks are added with completedAt of other BSON types.
const mixedTasks = 1000

func database(t testing.TB) string {
	t.Helper()
	dbOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exportd-db-")
		if err != nil {
			dbErr = err
			return
		}
		// Its own process: FerretDB under -race is several times slower.
		srv, err := devmongotest.StartProcess(dir, "")
		if err != nil {
			dbErr = err
			return
		}
		cleanups = append(cleanups, func() { srv.Stop(); os.RemoveAll(dir); devmongotest.RemoveBinary() })
		dbURI = srv.URI
		client, err := mongo.Connect(options.Client().ApplyURI(dbURI))
		if err != nil {
			dbErr = err
			return
		}
		defer client.Disconnect(context.Background())
		ctx := context.Background()
		coll := client.Database("app").Collection("tasks")
		if _, err := devmongo.Seed(ctx, coll, 0, crashTasks, devmongo.SeedOptions{}); err != nil {
			dbErr = err
			return
		}
		if _, err := coll.InsertMany(ctx, mixedDocs()); err != nil {
			dbErr = err
		}
	})
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbURI
}

// mixedDocs are the mixedTasks documents added to a collection of tasks:
// completedAt as a string, a number, a boolean or a sub-document, so that a
// sort on it crosses BSON types.
func mixedDocs() []any {
	var docs []any
	for i := range mixedTasks {
		var v any
		switch i % 4 {
		case 0:
			v = fmt.Sprintf("n/a %d", i%7)
		case 1:
			v = int32(i % 5)
		case 2:
			v = i%2 == 0
		case 3:
			v = bson.D{{Key: "when", Value: "later"}}
		}
		docs = append(docs, bson.D{{Key: "_id", Value: bson.NewObjectIDFromTimestamp(time.Unix(int64(1e9+i), 0))}, {Key: "title", Value: fmt.Sprintf("mixed %d", i)}, {Key: "completedAt", Value: v}})
	}
	return docs
}
