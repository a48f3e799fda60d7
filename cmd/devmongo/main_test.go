package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
)

func TestParseArgs(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want error  // errUsage, flag.ErrHelp or nil
		cfg  config // checked when want is nil; stderr is ignored
	}{
		{name: "no command", args: nil, want: errUsage},
		{name: "unknown command", args: []string{"start"}, want: errUsage},
		{name: "help", args: []string{"-h"}, want: flag.ErrHelp},
		{name: "command help", args: []string{"seed", "-h"}, want: flag.ErrHelp},
		{name: "unknown flag", args: []string{"serve", "-port", "1"}, want: errUsage},
		{name: "extra argument", args: []string{"serve", "now"}, want: errUsage},
		{name: "bad log level", args: []string{"serve", "-log-level", "loud"}, want: errUsage},
		{name: "empty dir", args: []string{"serve", "-dir", ""}, want: errUsage},
		{name: "seed without n", args: []string{"seed"}, want: errUsage},
		{name: "seed negative n", args: []string{"seed", "-n", "-1"}, want: errUsage},
		{name: "seed n not a number", args: []string{"seed", "-n", "many"}, want: errUsage},
		{name: "seed overflow", args: []string{"seed", "-n", "10", "-start", "9223372036854775800"}, want: errUsage},
		{name: "seed negative batch", args: []string{"seed", "-n", "1", "-batch", "-1"}, want: errUsage},
		{
			name: "serve defaults", args: []string{"serve"},
			cfg: config{command: "serve", serve: serveConfig{addr: "127.0.0.1:27017", dir: "devmongo-data", logLevel: slog.LevelWarn}},
		},
		{
			name: "serve flags", args: []string{"serve", "--addr", "127.0.0.1:0", "--dir", "/tmp/x", "-log-level", "info"},
			cfg: config{command: "serve", serve: serveConfig{addr: "127.0.0.1:0", dir: "/tmp/x", logLevel: slog.LevelInfo}},
		},
		{
			name: "seed defaults", args: []string{"seed", "-n", "0"},
			cfg: config{command: "seed", seed: seedConfig{n: 0, uri: "mongodb://127.0.0.1:27017/", db: "app", collection: "tasks"}},
		},
		{
			name: "seed flags",
			args: []string{"seed", "-n", "5", "--uri", "mongodb://h:1/", "--db", "d", "--collection", "c", "--start", "7", "--drop", "-batch", "10", "-workers", "1"},
			cfg: config{command: "seed", seed: seedConfig{
				n: 5, start: 7, uri: "mongodb://h:1/", db: "d", collection: "c", drop: true, batchSize: 10, workers: 1,
			}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseArgs(c.args, &stderr)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.want != nil {
				if !strings.Contains(stderr.String(), "Usage:") {
					t.Errorf("no usage printed:\n%s", stderr.String())
				}
				return
			}
			cfg.stderr = nil
			if cfg != c.cfg {
				t.Errorf("config %+v, want %+v", cfg, c.cfg)
			}
		})
	}
}

// TestBinary builds devmongo and uses it as a developer would: serve, seed,
// then Ctrl-C (SIGTERM here).
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "devmongo")
	if out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("exit codes", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			code int
		}{
			{"no command", nil, 2},
			{"bad flag", []string{"seed", "-n", "x"}, 2},
			{"help", []string{"serve", "-h"}, 0},
			{"no server", []string{"seed", "-n", "1", "-uri", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"}, 1},
		} {
			out, err := exec.Command(bin, c.args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("%s: exit code %d, want %d\n%s", c.name, code, c.code, out)
			}
		}
	})

	server := startServe(t, bin, "-addr", "127.0.0.1:0", "-dir", filepath.Join(t.TempDir(), "data"))

	ctx, cancel := context.WithTimeout(t.Context(), devmongotest.Timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "seed", "-n", "500", "-start", "100", "-uri", server.uri, "-drop").CombinedOutput()
	if err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`inserted 500 tasks \(seq 100 to 599\) into app.tasks in \S+: \d+ docs/s`).Match(out) {
		t.Errorf("seed printed no summary:\n%s", out)
	}

	client := devmongotest.Client(t, server.uri)
	cur, err := client.Database("app").Collection("tasks").Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	i := int64(100)
	for ; cur.Next(ctx); i++ {
		if !bytes.Equal(cur.Current, devmongo.Task(i)) {
			t.Fatalf("document %d is %s, want task %d", i-100, cur.Current, i)
		}
	}
	if err := cur.Err(); err != nil || i != 600 {
		t.Fatalf("%d documents, %v; want 500", i-100, err)
	}
	if err := client.Disconnect(ctx); err != nil { // or the server waits 3 s for it
		t.Fatal(err)
	}

	began := time.Now()
	if err := server.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-server.done:
		if server.waitErr != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", server.waitErr, server.stderr)
		}
		t.Logf("serve exited %s after SIGTERM", time.Since(began).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10 s after SIGTERM\n%s", server.stderr)
	}
	if !strings.Contains(server.stderr.String(), "devmongo: stopped") {
		t.Errorf("serve did not say it stopped:\n%s", server.stderr)
	}
}

// serveProcess is a running devmongo serve.
type serveProcess struct {
	cmd    *exec.Cmd
	uri    string
	stderr *syncBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error         // Wait's result, set before done is closed
}

var serveURI = regexp.MustCompile(`serving (mongodb://\S+)`)

// startServe runs devmongo serve and waits for it to print its URI. The
// process is killed when the test ends if it is still running, and dies
// with the test binary (see package procs).
func startServe(t *testing.T, bin string, args ...string) *serveProcess {
	t.Helper()
	p := &serveProcess{
		cmd:    exec.Command(bin, append([]string{"serve"}, args...)...),
		stderr: &syncBuffer{},
		done:   make(chan struct{}),
	}
	uris := make(chan string, 1)
	p.stderr.onWrite = func(all string) {
		if m := serveURI.FindStringSubmatch(all); m != nil {
			select {
			case uris <- m[1]:
			default: // already sent
			}
		}
	}
	p.cmd.Stderr = p.stderr
	if err := procs.Start(p.cmd); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		p.waitErr = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})

	select {
	case p.uri = <-uris:
		return p
	case <-p.done:
		t.Fatalf("serve exited before printing its URI: %v\n%s", p.waitErr, p.stderr)
	case <-time.After(devmongotest.Timeout):
		t.Fatalf("serve printed no URI in %s\n%s", devmongotest.Timeout, p.stderr)
	}
	return nil
}

// syncBuffer collects a process's output; onWrite sees all of it so far after
// each write.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	onWrite func(all string)
}

var _ io.Writer = (*syncBuffer)(nil)

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.onWrite != nil {
		b.onWrite(b.buf.String())
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
