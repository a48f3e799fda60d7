package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/internal/procs"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type served struct {
	cmd  *exec.Cmd
	nats string
}

func serveDaemon(t *testing.T, data, httpAddr, natsAddr string) *served {
	t.Helper()
	cmd := exec.Command(exportdBinary(t), "serve", "--data", data, "--mongo-uri", database(t),
		"--http-addr", httpAddr, "--nats-listen", natsAddr, "--max-concurrent", "2", "--log-level", "warn")
	cmd.Dir = "../.." // configs/profiles
	cmd.Stderr = os.Stderr
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, nats: "nats://" + natsAddr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	return s
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			// The service is up once it answers a list.
			if _, err := nc.Request("exports.list", []byte(`{}`), 2*time.Second); err == nil {
				return nc
			}
			nc.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon at %s never answered: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t *testing.T, nc *nats.Conn, id string) *api.Manifest {
	t.Helper()
	msg, err := nc.Request("exports.status", []byte(fmt.Sprintf(`{"id": %q}`, id)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var m api.Manifest
	if err := json.Unmarshal(msg.Data, &m); err != nil {
		t.Fatalf("status %s: %v", msg.Data, err)
	}
	return &m
}

// Kill the daemon with SIGKILL during two concurrent exports and start it
// again: both complete with output identical to uninterrupted runs.
func TestDaemonKilledDuringTwoExports(t *testing.T) {
	requests := []struct {
		req  string
		args []string
	}{
		{`{"database": "app", "collection": "tasks", "format": "ndjson", "compression": "zstd", "chunkRecords": 2500, "sort": {"createdAt": -1}}`,
			[]string{"--format", "ndjson", "--compression", "zstd", "--sort", `{"createdAt": -1}`}},
		{`{"database": "app", "collection": "tasks", "format": "csv", "compression": "gzip", "chunkRecords": 2500, "fields": ["_id", "title", "completedAt"], "sort": {"completedAt": -1}}`,
			[]string{"--format", "csv", "--compression", "gzip", "--fields", "_id,title,completedAt", "--sort", `{"completedAt": -1}`}},
	}
	// The uninterrupted runs, in the foreground.
	var want []*api.Manifest
	for _, r := range requests {
		dir := filepath.Join(t.TempDir(), "ref")
		if out, err := procs.CombinedOutput(exportCmd(t, dir, r.args)); err != nil {
			t.Fatalf("reference: %v\n%s", err, out)
		}
		want = append(want, readManifest(t, dir))
	}

	data := t.TempDir()
	httpAddr, natsAddr := freeAddr(t), freeAddr(t)
	d := serveDaemon(t, data, httpAddr, natsAddr)
	nc := connect(t, d.nats)
	var ids []string
	for _, r := range requests {
		msg, err := nc.Request("exports.start", []byte(r.req), 30*time.Second)
		if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("start: %v %s", err, msg.Data)
		}
		var rep struct{ ID string }
		json.Unmarshal(msg.Data, &rep)
		ids = append(ids, rep.ID)
	}
	// Both running, with sealed chunks: kill.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		a, b := status(t, nc, ids[0]), status(t, nc, ids[1])
		if len(a.Chunks) >= 2 && len(b.Chunks) >= 2 && a.State == api.StateRunning && b.State == api.StateRunning {
			break
		}
		if a.State == api.StateCompleted || b.State == api.StateCompleted || time.Now().After(deadline) {
			t.Fatalf("could not catch both exports running: %s with %d chunks, %s with %d", a.State, len(a.Chunks), b.State, len(b.Chunks))
		}
		time.Sleep(20 * time.Millisecond)
	}
	nc.Close()
	d.cmd.Process.Kill()
	d.cmd.Wait()

	d = serveDaemon(t, data, httpAddr, natsAddr)
	nc = connect(t, d.nats)
	defer nc.Close()
	for i, id := range ids {
		deadline := time.Now().Add(5 * time.Minute)
		var m *api.Manifest
		for {
			m = status(t, nc, id)
			if m.State == api.StateCompleted || m.State == api.StateFailed || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if m.State != api.StateCompleted || m.Records != want[i].Records || len(m.Chunks) != len(want[i].Chunks) {
			t.Fatalf("export %d after the restart: %s, %d records in %d chunks (%s)", i, m.State, m.Records, len(m.Chunks), m.Error)
		}
		for j, c := range m.Chunks {
			if c.SHA256 != want[i].Chunks[j].SHA256 {
				t.Fatalf("export %d chunk %d differs from the uninterrupted run", i, j)
			}
			if _, err := os.Stat(filepath.Join(data, "exports", id, c.Name)); err != nil {
				t.Fatal(err)
			}
		}
		// The store says completed a moment before the manifest is
		// rewritten from it: wait for the manifest, then look for
		// temporary files.
		dir := filepath.Join(data, "exports", id)
		for {
			if fm, err := chunker.ReadManifest(dir); err == nil && fm.State == api.StateCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("export %d: manifest.json never says completed", i)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// A later rewrite (the export's last counts) may have a temporary
		// file for an instant; one that stays was left.
		for gone := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			left := ""
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					left = e.Name()
				}
			}
			if left == "" {
				break
			}
			if time.Now().After(gone) {
				t.Fatalf("temporary file %s left", left)
			}
		}
	}
	// SIGTERM is a graceful stop.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("daemon on SIGTERM: %v", err)
	}
}
