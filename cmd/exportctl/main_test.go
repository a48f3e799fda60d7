package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/procs"
)

// tasks is how many tasks the shared database holds.
const tasks = 5000

// The tests run the exportctl binary, built once, against daemons in this
// process and one devmongo server in a process of its own.
var (
	ctlPath string

	dbOnce sync.Once
	dbURI  string
	dbErr  error
	dbStop func()
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exportctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctlPath = filepath.Join(dir, "exportctl")
	if out, err := procs.CombinedOutput(exec.Command("go", "build", "-o", ctlPath, ".")); err != nil {
		fmt.Fprintf(os.Stderr, "go build exportctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if dbStop != nil {
		dbStop()
	}
	devmongotest.RemoveBinary()
	os.RemoveAll(dir)
	os.Exit(code)
}

// database returns the URI of the shared devmongo server with app.tasks
// seeded.
func database(t *testing.T) string {
	t.Helper()
	dbOnce.Do(func() {
		dir, err := os.MkdirTemp("", "exportctl-db-")
		if err != nil {
			dbErr = err
			return
		}
		srv, err := devmongotest.StartProcess(dir, "")
		if err != nil {
			dbErr = err
			return
		}
		dbStop = func() { srv.Stop(); os.RemoveAll(dir) }
		dbURI = srv.URI
		client, err := mongo.Connect(options.Client().ApplyURI(dbURI))
		if err != nil {
			dbErr = err
			return
		}
		defer client.Disconnect(context.Background())
		_, dbErr = devmongo.Seed(context.Background(), client.Database("app").Collection("tasks"), 0, tasks, devmongo.SeedOptions{})
	})
	if dbErr != nil {
		t.Fatal(dbErr)
	}
	return dbURI
}

// testDaemon is exportd serve in this process, reading the database through
// a valve that the test can close to hold an export in the running state.
type testDaemon struct {
	addrs daemon.Addrs
	mongo *valve
	data  string
	nc    *nats.Conn
}

// startDaemon runs a daemon until the test ends; secret, when not empty,
// makes it sign download URLs.
func startDaemon(t *testing.T, secret string) *testDaemon {
	t.Helper()
	return startDaemonWith(t, func(c *daemon.Config) { c.DownloadSecret = secret })
}

// startDaemonWith runs a daemon whose test configuration change may alter;
// the test's own client connects with opts.
func startDaemonWith(t *testing.T, change func(*daemon.Config), opts ...nats.Option) *testDaemon {
	t.Helper()
	d := &testDaemon{mongo: newValve(), data: t.TempDir()}
	cfg := daemon.Default()
	cfg.DataDir = d.data
	cfg.MongoURI = tcpValve(t, database(t), d.mongo)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.ProfilesDir = "../../configs/profiles"
	cfg.ShutdownGrace = 20 * time.Second
	change(&cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan daemon.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(a daemon.Addrs) { ready <- a })
	}()
	select {
	case d.addrs = <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("daemon did not start")
	}
	nc, err := nats.Connect(d.addrs.NATS, opts...)
	if err != nil {
		t.Fatal(err)
	}
	d.nc = nc
	t.Cleanup(func() {
		nc.Close()
		d.mongo.open()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("daemon did not stop")
		}
	})
	return d
}

// result is what one exportctl run gave.
type result struct {
	code           int
	stdout, stderr string
}

// ctl runs exportctl against d with args and waits for it.
func (d *testDaemon) ctl(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := d.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := procs.Run(cmd)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("exportctl %v: %v", args, err)
	}
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("exportctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// mustCtl is ctl that fails the test unless exportctl exits 0.
func (d *testDaemon) mustCtl(t *testing.T, args ...string) result {
	t.Helper()
	r := d.ctl(t, "", args...)
	if r.code != 0 {
		t.Fatalf("exportctl %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r
}

// command is exportctl with d's addresses; the test kills it if it is
// still running at the end. Start it with procs.Start, so that it also
// dies with the test binary.
func (d *testDaemon) command(args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := exec.CommandContext(ctx, ctlPath, append([]string{"--nats-url", d.addrs.NATS, "--http-url", d.addrs.Public}, args...)...)
	cmd.Cancel = func() error { cancel(); return cmd.Process.Kill() }
	return cmd
}

// start starts an export with the request flags args and returns its id.
func (d *testDaemon) start(t *testing.T, args ...string) string {
	t.Helper()
	r := d.mustCtl(t, append([]string{"start", "--db", "app", "--collection", "tasks"}, args...)...)
	id := strings.TrimSpace(r.stdout)
	if len(id) != 26 {
		t.Fatalf("start printed %q, want an export id", r.stdout)
	}
	return id
}

// manifest is export id's manifest, by exportctl status.
func (d *testDaemon) manifest(t *testing.T, id string) *api.Manifest {
	t.Helper()
	var m api.Manifest
	if err := json.Unmarshal([]byte(d.mustCtl(t, "status", id).stdout), &m); err != nil {
		t.Fatalf("status: %v", err)
	}
	return &m
}

// state is export id's state, asked over NATS by the test itself.
func (d *testDaemon) state(t *testing.T, id string) api.State {
	t.Helper()
	msg, err := d.nc.Request("exports.status", []byte(`{"id":"`+id+`"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var m api.Manifest
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		t.Fatal(err)
	}
	return m.State
}

// waitFor polls cond every 20ms until it holds, or fails the test after a
// minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// checkChunks fails the test unless dir holds every chunk of m, each with
// its manifest digest, and no partial file.
func checkChunks(t *testing.T, dir string, m *api.Manifest) {
	t.Helper()
	for _, c := range m.Chunks {
		data, err := os.ReadFile(filepath.Join(dir, c.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Fatalf("%s: sha256 differs from the manifest", c.Name)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	if len(parts) > 0 {
		t.Fatalf("partial files left: %v", parts)
	}
}

// valve holds the bytes that pass through it while it is closed.
type valve struct {
	mu sync.Mutex
	ch chan struct{} // closed while the valve is open
}

func newValve() *valve {
	v := &valve{ch: make(chan struct{})}
	close(v.ch)
	return v
}

func (v *valve) wait() {
	v.mu.Lock()
	ch := v.ch
	v.mu.Unlock()
	<-ch
}

func (v *valve) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	select {
	case <-v.ch:
		v.ch = make(chan struct{})
	default:
	}
}

func (v *valve) open() {
	v.mu.Lock()
	defer v.mu.Unlock()
	select {
	case <-v.ch:
	default:
		close(v.ch)
	}
}

type valveWriter struct {
	w io.Writer
	v *valve
}

func (w valveWriter) Write(p []byte) (int, error) {
	w.v.wait()
	return w.w.Write(p)
}

// tcpProxy forwards a loopback port to a server through a valve; cut
// drops its connections and refuses new ones until restore.
type tcpProxy struct {
	addr  string
	valve *valve
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newTCPProxy(t *testing.T, target string, v *valve) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: ln.Addr().String(), valve: v}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.valve.open()
		p.drop(false)
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			cut := p.cut
			p.mu.Unlock()
			out, err := net.Dial("tcp", target)
			if err != nil || cut {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			wg.Go(func() { io.Copy(valveWriter{out, p.valve}, in); out.Close() })
			wg.Go(func() { io.Copy(valveWriter{in, p.valve}, out); in.Close() })
		}
	})
	return p
}

// drop closes every connection; cut says whether new ones are refused.
func (p *tcpProxy) drop(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns, p.cut = nil, cut
}

// tcpValve forwards a loopback port to uri's server through v, and returns
// uri with that port.
func tcpValve(t *testing.T, uri string, v *valve) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = newTCPProxy(t, u.Host, v).addr
	return u.String()
}

// httpProxy is a reverse proxy in front of a daemon's HTTP server that
// logs each request and can stall one chunk's body halfway.
type httpProxy struct {
	URL string

	mu   sync.Mutex
	reqs []*proxied
	// stall, when set, makes the answer for that path stop after
	// stallAfter bytes and wait until the request ends; stalled is closed
	// once those bytes are sent.
	stall      string
	stallAfter int64
	stalled    chan struct{}
	// otherETag makes If-Range name another ETag, as if the server's file
	// had changed since the partial file was written.
	otherETag bool
}

// proxied is one request that went through the proxy.
type proxied struct {
	path, rangeHdr, ifRange string
	status                  int
	bytes                   int64
}

func newHTTPProxy(t *testing.T, target string) *httpProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &httpProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.otherETag && r.Header.Get("If-Range") != "" {
			r.Header.Set("If-Range", `"sha256-another-file"`)
		}
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		p.mu.Lock()
		defer p.mu.Unlock()
		rec := &proxied{path: r.URL.Path, rangeHdr: r.Header.Get("Range"), ifRange: r.Header.Get("If-Range"), status: resp.StatusCode}
		p.reqs = append(p.reqs, rec)
		body := &countingBody{ReadCloser: resp.Body, count: func(n int) { p.mu.Lock(); rec.bytes += int64(n); p.mu.Unlock() }}
		if r.URL.Path == p.stall {
			body.limit, body.stalled, body.ctx = p.stallAfter, p.stalled, r.Context()
		}
		resp.Body = body
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.URL = "http://" + ln.Addr().String()
	return p
}

// requests returns the requests so far and forgets them.
func (p *httpProxy) requests() []proxied {
	p.mu.Lock()
	defer p.mu.Unlock()
	var reqs []proxied
	for _, r := range p.reqs {
		reqs = append(reqs, *r)
	}
	p.reqs = nil
	return reqs
}

// stallAt makes the answer for path stop after n bytes; it returns a
// channel closed once they are sent. An empty path stalls nothing.
func (p *httpProxy) stallAt(path string, n int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall, p.stallAfter, p.stalled = path, n, make(chan struct{})
	return p.stalled
}

// countingBody counts what is read from a response body; with a limit it
// stops there until ctx ends.
type countingBody struct {
	io.ReadCloser
	count   func(int)
	limit   int64
	read    int64
	stalled chan struct{}
	ctx     context.Context
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.stalled != nil && b.read >= b.limit {
		close(b.stalled)
		<-b.ctx.Done()
		b.stalled = nil
		return 0, b.ctx.Err()
	}
	if b.stalled != nil {
		p = p[:min(int64(len(p)), b.limit-b.read)]
	}
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	b.count(n)
	return n, err
}
