package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/internal/s3test"
)

// takeoverChunk is the chunkRecords of the export BenchmarkTakeover
// kills the owner of: a hundred chunks of the clusterTasks tasks, so that
// the new owner has chunks left to record.
const takeoverChunk = 200

// takeoverPoll is how often the survivor is asked what it runs and what
// the export has recorded: the resolution of the measurement.
const takeoverPoll = 10 * time.Millisecond

// BenchmarkTakeover is how long a cluster's export stalls when its owner
// dies: two exportd serve nodes on three NATS servers (replicas 3) and
// versitygw; an export of clusterColl in chunks of takeoverChunk records;
// once its owner has recorded two chunks it is SIGKILLed, and the time is
// taken from the kill to the first chunk the survivor records (the
// survivor's GET /exports/{id} polled every takeoverPoll until it lists
// one more chunk while the survivor's /metrics says it runs the export).
// The killed node is replaced by a new one before the next iteration.
// ns/op is that time too: everything else runs with the timer stopped.
//
// takeover-s/op is the mean of it; claim-s/op is the part from the kill
// until the survivor is seen running the export, resume-s/op the part from
// then to the new chunk (resuming: reopening the cursor after the last
// recorded key, then one chunk sealed, uploaded and recorded); lease-s is
// the configured cluster.leaseTtl and takeover/lease the ratio. A lease
// runs from the owner's last renewal, sent every third of it, so the job
// is handed out again between 2/3 and all of the lease after the kill.
func BenchmarkTakeover(b *testing.B) {
	clusterDatabase(b)
	for _, lease := range []time.Duration{2 * time.Second, 5 * time.Second, 10 * time.Second} {
		b.Run(fmt.Sprintf("lease=%s", lease), func(b *testing.B) {
			ns := natstest.Cluster(b, 3)
			s3 := s3test.Spawn(b)
			config := filepath.Join(b.TempDir(), "cluster.yaml")
			if err := os.WriteFile(config, fmt.Appendf(nil, "cluster:\n  replicas: 3\n  leaseTtl: %s\n", lease), 0o644); err != nil {
				b.Fatal(err)
			}
			spawned := 0
			spawn := func() *node {
				spawned++ // each on another NATS server first
				return serveNode(b, fmt.Sprintf("node%d", spawned), ns.URLs(spawned%ns.Len()), config, s3)
			}
			nodes := []*node{spawn(), spawn()}
			req := fmt.Sprintf(`{"database": "app", "collection": %q, "format": "ndjson", "compression": "zstd", "chunkRecords": %d}`, clusterColl, takeoverChunk)
			var takeover, claim, resume time.Duration
			for b.Loop() {
				b.StopTimer()
				id := startAt(b, nodes[0], req)
				owner, survivor := benchOwner(b, nodes, id, 2)
				b.StartTimer()
				killed := time.Now()
				owner.cmd.Process.Kill()
				owner.cmd.Wait()
				claimed, first, chunks := benchFirstChunk(b, survivor, id, killed, 3*lease+time.Minute)
				b.StopTimer()
				takeover += first.Sub(killed)
				claim += claimed.Sub(killed)
				resume += first.Sub(claimed)
				b.Logf("%s killed at chunk %d; %s ran it after %s and recorded chunk %d after %s",
					owner.name, chunks, survivor.name, claimed.Sub(killed).Round(time.Millisecond), chunks, first.Sub(killed).Round(time.Millisecond))
				benchRemove(b, survivor, id)
				nodes = []*node{survivor, spawn()}
				b.StartTimer()
			}
			mean := takeover.Seconds() / float64(b.N)
			b.ReportMetric(mean, "takeover-s/op")
			b.ReportMetric(claim.Seconds()/float64(b.N), "claim-s/op")
			b.ReportMetric(resume.Seconds()/float64(b.N), "resume-s/op")
			b.ReportMetric(lease.Seconds(), "lease-s")
			b.ReportMetric(mean/lease.Seconds(), "takeover/lease")
		})
	}
}

// benchFirstChunk polls n until it runs export id and has recorded more
// chunks than it had at the kill, and returns when it was first seen
// running it, when the new chunk was first seen, and the chunk count at
// the kill. A chunk that appears while n does not run the export is the
// killed owner's last commit landing late: it moves the count at the
// kill.
func benchFirstChunk(tb testing.TB, n *node, id string, killed time.Time, timeout time.Duration) (claimed, first time.Time, chunks int) {
	tb.Helper()
	chunks = len(manifestAt(tb, n, id).Chunks)
	for {
		runs := slices.Contains(running(tb, n), id)
		now := time.Now()
		if runs && claimed.IsZero() {
			claimed = now
		}
		m := manifestAt(tb, n, id)
		switch {
		case m.State != api.StateRunning && m.State != api.StateQueued:
			tb.Fatalf("export %s is %s after the kill: %s", id, m.State, m.Error)
		case len(m.Chunks) > chunks && runs:
			return claimed, now, chunks
		case len(m.Chunks) > chunks:
			tb.Logf("export %s: chunk %d recorded %s after the kill, before %s ran it", id, chunks, now.Sub(killed), n.name)
			chunks = len(m.Chunks)
		}
		if now.Sub(killed) > timeout {
			tb.Fatalf("%s recorded no chunk of export %s in %s after the kill (it runs it: %v)", n.name, id, timeout, runs)
		}
		time.Sleep(takeoverPoll)
	}
}

// benchOwner waits until a node of nodes runs export id and has recorded
// chunks chunks of it, and returns that node and another.
func benchOwner(tb testing.TB, nodes []*node, id string, chunks int) (owner, other *node) {
	tb.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for i, n := range nodes {
			if slices.Contains(running(tb, n), id) && len(manifestAt(tb, n, id).Chunks) >= chunks {
				return n, nodes[(i+1)%len(nodes)]
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no node ran export %s to %d chunks", id, chunks)
		}
		time.Sleep(takeoverPoll)
	}
}

// benchRemove cancels export id through n, waits until n no longer runs
// it, and deletes it (its objects too).
func benchRemove(tb testing.TB, n *node, id string) {
	tb.Helper()
	if code, _, body := send(tb, http.MethodPost, n.url("/exports/"+id+"/cancel"), nil); code != http.StatusOK {
		tb.Fatalf("cancel %s: %d %s", id, code, body)
	}
	deadline := time.Now().Add(time.Minute)
	for slices.Contains(running(tb, n), id) {
		if time.Now().After(deadline) {
			tb.Fatalf("%s still runs %s a minute after its cancel", n.name, id)
		}
		time.Sleep(takeoverPoll)
	}
	if code, _, body := send(tb, http.MethodDelete, n.url("/exports/"+id), nil); code != http.StatusOK && code != http.StatusNoContent {
		tb.Fatalf("delete %s: %d %s", id, code, body)
	}
}
