package devmongo_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

func TestStartClose(t *testing.T) {
	srv := devmongotest.Start(t)
	if want := "mongodb://" + srv.Addr() + "/"; srv.URI() != want {
		t.Errorf("URI %q, want %q", srv.URI(), want)
	}
	if host, port, _ := net.SplitHostPort(srv.Addr()); host != "127.0.0.1" || port == "0" {
		t.Errorf("Addr %q, want 127.0.0.1 and a real port", srv.Addr())
	}
	c := devmongotest.Client(t, srv.URI())
	if err := c.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Close", srv.Addr())
	}
}

// TestStartParallel starts servers concurrently, as parallel tests do.
func TestStartParallel(t *testing.T) {
	for _, name := range []string{"a", "b", "c"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := devmongotest.Start(t)
			devmongotest.SeedTasks(t, srv.URI(), "app", name, 10)
		})
	}
}

func TestStartErrors(t *testing.T) {
	busy := devmongotest.Start(t)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		opts   devmongo.Options
		target error
		text   string
	}{
		{name: "no dir", opts: devmongo.Options{Addr: "127.0.0.1:0"}, target: devmongo.ErrNoDir},
		{name: "dir is a file", opts: devmongo.Options{Addr: "127.0.0.1:0", Dir: file}, text: "not a directory"},
		{name: "address in use", opts: devmongo.Options{Addr: busy.Addr(), Dir: t.TempDir()}, text: "address already in use"},
		{name: "bad address", opts: devmongo.Options{Addr: "127.0.0.1:99999", Dir: t.TempDir()}, text: "invalid port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, err := devmongo.Start(t.Context(), c.opts)
			if err == nil {
				srv.Close()
				t.Fatal("Start succeeded")
			}
			if c.target != nil && !errors.Is(err, c.target) {
				t.Errorf("error %v, want %v", err, c.target)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
		})
	}
	// A failed ferretdb.New that leaks its backend panics in a finalizer.
	runtime.GC()
}

// TestStartCreatesDirAndKeepsData restarts a server on the same, initially
// missing, directory.
func TestStartCreatesDirAndKeepsData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	ctx := t.Context()
	for run := range 2 {
		srv, err := devmongo.Start(ctx, devmongo.Options{Addr: "127.0.0.1:0", Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		c := devmongotest.Client(t, srv.URI())
		coll := c.Database("app").Collection("tasks")
		if run == 0 {
			if _, err := devmongo.Seed(ctx, coll, 0, 10, devmongo.SeedOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := coll.CountDocuments(ctx, bson.D{})
		if err != nil || n != 10 {
			t.Errorf("run %d: count %d, %v; want 10", run, n, err)
		}
		if err := errors.Join(c.Disconnect(ctx), srv.Close()); err != nil {
			t.Fatal(err)
		}
	}
}
