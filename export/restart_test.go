package export_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// The database goes away in the middle of an export (its connections drop,
// it restarts, its cursors are gone) and comes back: the export retries on
// its own and ends with the same chunks as an uninterrupted run.
//
// The client reaches FerretDB through a proxy that drops every connection
// at once, as a crashed mongod would (FerretDB's graceful shutdown instead
// lets open connections finish for a few seconds).
func TestDatabaseRestartMidExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	logger := slog.New(slog.DiscardHandler)
	start := func() *devmongo.Server {
		srv, err := devmongo.Start(context.Background(), devmongo.Options{Addr: "127.0.0.1:0", Dir: dir, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	t.Cleanup(func() { srv.Close() })
	px := newProxy(t, srv.Addr())

	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + px.addr() + "/").SetServerSelectionTimeout(2 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Disconnect(context.Background()) })
	if _, err := devmongo.Seed(context.Background(), client.Database("app").Collection("tasks"), 0, 2000, devmongo.SeedOptions{}); err != nil {
		t.Fatal(err)
	}

	req := request.Request{ChunkRecords: 200, BatchSize: 50, Format: request.JSON, Sort: []byte(`{"createdAt": -1}`)}
	whole := newExport(t, req)
	if err := whole.run(t, context.Background(), whole.env(client)); err != nil {
		t.Fatal(err)
	}

	e := newExport(t, req)
	env := e.env(client)
	env.Retries = 20
	var logs syncBuffer
	env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	restarted := make(chan error, 1)
	var once sync.Once
	env.OnChunk = func(c api.Chunk) {
		if c.Index != 2 {
			return
		}
		once.Do(func() {
			px.cut() // every connection drops; new ones are refused
			go func() {
				err := srv.Close()
				if err == nil {
					srv = start()
					time.Sleep(500 * time.Millisecond) // the export meets a dead server meanwhile
					px.resume(srv.Addr())
				}
				restarted <- err
			}()
		})
	}
	var stats pipeline.Stats
	if err := export.Run(context.Background(), env, e.id, e.dir, &stats); err != nil {
		t.Fatalf("export across the restart: %v", err)
	}
	// What the failed attempt read after its last chunk was read again:
	// counted once.
	if r, s := stats.Records.Load(), stats.Sealed.Load(); r != 2000 || s != 2000 {
		t.Errorf("stats count %d records encoded, %d sealed; want 2000 each", r, s)
	}
	select {
	case err := <-restarted:
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the database was never restarted")
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Fatalf("the export never retried; its log:\n%s", logs.String())
	}
	if sums(e.manifest(t)) != sums(whole.manifest(t)) {
		t.Fatalf("export across a restart differs:\n%s\nwant\n%s", sums(e.manifest(t)), sums(whole.manifest(t)))
	}
}

// proxy forwards TCP connections to an upstream address and can drop them
// all at once.
type proxy struct {
	ln       net.Listener
	mu       sync.Mutex
	upstream string
	down     bool
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down, up := p.down, p.upstream
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", up)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { io.Copy(u, c); u.Close(); c.Close() })
		p.wg.Go(func() { io.Copy(c, u); u.Close(); c.Close() })
	}
}

// cut drops every connection and refuses new ones until resume.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) resume(upstream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down, p.upstream = false, upstream
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
