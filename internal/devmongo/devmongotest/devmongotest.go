// Package devmongotest gives tests a real MongoDB-compatible server: an
// embedded FerretDB (see package devmongo) on a free loopback port, with its
// data in the test's temporary directory.
//
// A test that asks for a server and cannot get one fails; it never skips.
package devmongotest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
)

// Timeout bounds each helper's work with the server: starting it, connecting,
// seeding. It is generous because CI machines are small and shared.
const Timeout = 2 * time.Minute

// Start starts a server on a free port of 127.0.0.1 with its data in
// tb.TempDir(), and stops it when the test ends. FerretDB's warnings and errors
// go to the test log. Start fails the test if the server does not start.
func Start(tb testing.TB) *devmongo.Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()

	w := &logWriter{tb: tb}
	srv, err := devmongo.Start(ctx, devmongo.Options{
		Addr:   "127.0.0.1:0",
		Dir:    tb.TempDir(),
		Logger: slog.New(slog.NewTextHandler(w, nil)),
	})
	if err != nil {
		tb.Fatalf("devmongotest: start FerretDB: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("devmongotest: stop FerretDB: %v", err)
		}
		w.close()
	})
	return srv
}

// Client connects to uri and disconnects when the test ends, unless the test
// did. Server selection gives up after 5 s unless uri says otherwise, so a
// test against a dead server fails fast instead of waiting the driver's
// default 30 s. Client fails the test if the server does not answer a ping.
func Client(tb testing.TB, uri string) *mongo.Client {
	tb.Helper()
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(5 * time.Second).ApplyURI(uri))
	if err != nil {
		tb.Fatalf("devmongotest: connect to %s: %v", uri, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := client.Disconnect(ctx); err != nil && !errors.Is(err, mongo.ErrClientDisconnected) {
			tb.Errorf("devmongotest: disconnect from %s: %v", uri, err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := client.Ping(ctx, nil); err != nil {
		tb.Fatalf("devmongotest: ping %s: %v", uri, err)
	}
	return client
}

// SeedTasks inserts tasks 0 to n-1 (see devmongo.AppendTask) into collection
// coll of database db at uri, and fails the test if it cannot.
func SeedTasks(tb testing.TB, uri, db, coll string, n int64) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()

	c := Client(tb, uri).Database(db).Collection(coll)
	got, err := devmongo.Seed(ctx, c, 0, n, devmongo.SeedOptions{})
	if err != nil {
		tb.Fatalf("devmongotest: seed %d tasks into %s.%s: %d inserted: %v", n, db, coll, got, err)
	}
}

// logWriter writes each record of a text handler to the test log until the
// server is stopped: logging after a test has ended panics.
type logWriter struct {
	tb     testing.TB
	mu     sync.Mutex
	closed bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}
