package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/nats-io/nats.go"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
)

// clusterTasks is the size of the collection the cluster test exports:
// twenty chunks of clusterChunk records per export.
const (
	clusterTasks = 20_000
	clusterChunk = 1000
	clusterColl  = "clustertasks"
	apiToken     = "cluster-test-token-0123456789"
)

var (
	clusterSeed    sync.Once
	clusterSeedErr error
)

// clusterDatabase is database(t) with the cluster test's collection.
func clusterDatabase(t testing.TB) string {
	t.Helper()
	uri := database(t)
	clusterSeed.Do(func() {
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			clusterSeedErr = err
			return
		}
		defer client.Disconnect(context.Background())
		_, clusterSeedErr = devmongo.Seed(context.Background(), client.Database("app").Collection(clusterColl), 0, clusterTasks, devmongo.SeedOptions{})
	})
	if clusterSeedErr != nil {
		t.Fatal(clusterSeedErr)
	}
	return uri
}

// clusterRequests are twelve exports of every format and compression.
func clusterRequests() []string {
	shapes := []struct{ format, compression, extra string }{
		{"ndjson", "zstd", `"sort": {"createdAt": -1}`},
		{"ndjson", "gzip", `"sort": {"priority": 1}`},
		{"ndjson", "none", `"filter": {"status": "todo"}`},
		{"csv", "zstd", `"fields": ["_id", "title", "status", "createdAt"]`},
		{"csv", "gzip", `"fields": ["_id", "priority", "dueDate"], "sort": {"dueDate": 1}`},
		{"json", "none", `"sort": {"title": 1}`},
	}
	var reqs []string
	for i := range 12 {
		s := shapes[i%len(shapes)]
		reqs = append(reqs, fmt.Sprintf(`{"database": "app", "collection": %q, "format": %q, "compression": %q, "chunkRecords": %d, "requestId": "cluster-%d", %s}`,
			clusterColl, s.format, s.compression, clusterChunk, i, s.extra))
	}
	return reqs
}

// node is one exportd serve of the cluster test.
type node struct {
	name, http string
	cmd        *exec.Cmd
}

func (n *node) url(path string) string { return "http://" + n.http + path }

func (n *node) alive() bool { return n.cmd.ProcessState == nil }

// serveNode starts a cluster daemon on NATS urls, keeping chunks in s3.
func serveNode(t testing.TB, name, urls, config string, s3 *s3test.Server) *node {
	t.Helper()
	n := &node{name: name, http: freeAddr(t)}
	n.cmd = exec.Command(exportdBinary(t), "serve", "--config", config, "--data", t.TempDir(), "--mongo-uri", clusterDatabase(t),
		"--http-addr", n.http, "--nats-url", urls, "--cluster", "--node", name, "--storage", "s3://"+s3.Bucket+"/exports",
		"--max-concurrent", "2", "--log-level", "info")
	n.cmd.Dir = "../.." // configs/profiles
	n.cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL=http://"+s3.Endpoint, "AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey, "AWS_REGION="+s3.Region, "EXPORTD_API_TOKEN="+apiToken)
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := procs.Start(n.cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n.alive() {
			n.cmd.Process.Signal(syscall.SIGTERM)
			n.cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("log of %s:\n%s", name, out)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(n.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
		if !n.alive() || time.Now().After(deadline) {
			t.Fatalf("node %s never became healthy: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetch does a request to a node and returns the status and body.
func fetch(t testing.TB, method, url string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if method != http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+apiToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func manifestAt(t testing.TB, n *node, id string) *api.Manifest {
	t.Helper()
	code, _, body := fetch(t, http.MethodGet, n.url("/exports/"+id), nil)
	if code != http.StatusOK {
		t.Fatalf("GET /exports/%s on %s: %d %s", id, n.name, code, body)
	}
	var m api.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

// running is what node n's /metrics says it runs.
func running(t testing.TB, n *node) []string {
	t.Helper()
	code, _, body := fetch(t, http.MethodGet, n.url("/metrics"), nil)
	if code != http.StatusOK {
		t.Fatalf("metrics of %s: %d", n.name, code)
	}
	var ids []string
	for _, m := range runningMetric.FindAllSubmatch(body, -1) {
		ids = append(ids, string(m[1]))
	}
	return ids
}

var runningMetric = regexp.MustCompile(`(?m)^exportd_export_running\{export="([^"]+)"\} 1$`)

// sameChunks checks that export got's chunks are want's, byte for byte
// (a json export's generatedAt aside), as node n serves them.
func sameChunks(t testing.TB, n *node, got, want *api.Manifest, wantDir string) {
	t.Helper()
	if got.State != api.StateCompleted || got.Records != want.Records || len(got.Chunks) != len(want.Chunks) {
		t.Fatalf("export %s: %s, %d records in %d chunks (%s); the single node made %d in %d",
			got.ID, got.State, got.Records, len(got.Chunks), got.Error, want.Records, len(want.Chunks))
	}
	for i, c := range got.Chunks {
		if c.SHA256 == want.Chunks[i].SHA256 {
			continue
		}
		if i != 0 || got.Format != "json" || got.Compression != "none" {
			t.Fatalf("export %s (%s/%s) chunk %d differs from the single node's", got.ID, got.Format, got.Compression, i)
		}
		_, _, body := fetch(t, http.MethodGet, n.url(fmt.Sprintf("/exports/%s/chunks/0", got.ID)), nil)
		ref, err := os.ReadFile(filepath.Join(wantDir, want.Chunks[0].Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(generatedAt.ReplaceAll(body, nil), generatedAt.ReplaceAll(ref, nil)) {
			t.Fatalf("export %s chunk 0 differs from the single node's beyond generatedAt", got.ID)
		}
	}
}

// TestClusterNodeKilled is three daemons on a three-server JetStream
// cluster with versitygw: twelve exports; the node that owns most of them
// is killed with SIGKILL, and one NATS server too; every export completes
// on the others with the single node's bytes, and every node gives the same
// answers and downloads.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons, three NATS servers and an S3 server")
	}
	reqs := clusterRequests()
	clusterDatabase(t)

	// The single node's exports of the same requests.
	refData := t.TempDir()
	ref := serveDaemon(t, refData, freeAddr(t), freeAddr(t))
	refNC := connect(t, ref.nats)
	wantIDs := make([]string, len(reqs))
	for i, r := range reqs {
		wantIDs[i] = startExport(t, refNC, r)
	}
	want := make([]*api.Manifest, len(reqs))
	for i, id := range wantIDs {
		want[i] = waitFinal(t, func() *api.Manifest { return status(t, refNC, id) }, 5*time.Minute)
		if want[i].State != api.StateCompleted {
			t.Fatalf("single node export %d: %s %s", i, want[i].State, want[i].Error)
		}
	}
	refNC.Close()
	ref.cmd.Process.Signal(syscall.SIGTERM)
	ref.cmd.Wait()

	ns := natstest.Cluster(t, 3)
	s3 := s3test.Spawn(t)
	config := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(config, []byte("cluster:\n  replicas: 3\n  leaseTtl: 4s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, serveNode(t, fmt.Sprintf("node%d", i), ns.URLs(i), config, s3))
	}
	nc := ns.Connect(t, 0)
	events := watchProgress(t, nc)
	checkMicroInfo(t, nc, nodes)
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		// Through whichever node the service's queue group picks.
		ids[i] = startExport(t, nc, r)
	}
	// The same requestId, sent again, is the same export cluster-wide.
	for i, r := range reqs[:3] {
		if again := startExport(t, nc, r); again != ids[i] {
			t.Fatalf("request %d sent again made export %s, not %s", i, again, ids[i])
		}
	}

	// Every node lists the same exports.
	listIDs := func(n *node) []string {
		_, _, body := fetch(t, http.MethodGet, n.url("/exports"), nil)
		var ms []struct{ ID string }
		if err := json.Unmarshal(body, &ms); err != nil {
			t.Fatalf("list on %s: %v: %s", n.name, err, body)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		return got
	}
	wantList := slices.Sorted(slices.Values(ids))
	for _, n := range nodes {
		if got := listIDs(n); !slices.Equal(got, wantList) {
			t.Fatalf("node %s lists %v, want %v", n.name, got, wantList)
		}
	}

	// Kill the node that runs most exports once one of its exports has
	// recorded chunks.
	var victim *node
	deadline := time.Now().Add(3 * time.Minute)
	for victim == nil {
		most := 0
		for _, n := range nodes {
			own := running(t, n)
			if len(own) < most || len(own) == 0 {
				continue
			}
			if m := manifestAt(t, n, own[0]); m.State == api.StateRunning && len(m.Chunks) >= 2 {
				victim, most = n, len(own)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no node ever ran an export with two chunks")
		}
		time.Sleep(20 * time.Millisecond)
	}
	owned := running(t, victim)
	// A request the victim accepts just before it dies, while every node
	// is busy: another node runs it.
	code, _, body := send(t, http.MethodPost, victim.url("/exports"), []byte(strings.Replace(reqs[0], `"cluster-0"`, `"accepted-by-victim"`, 1)))
	if code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("POST /exports to %s: %d %s", victim.name, code, body)
	}
	var accepted api.Manifest
	if err := json.Unmarshal(body, &accepted); err != nil {
		t.Fatal(err)
	}
	victim.cmd.Process.Kill()
	victim.cmd.Wait()
	killedAt := time.Now()
	t.Logf("killed %s, which ran %v", victim.name, owned)
	var alive []*node
	for _, n := range nodes {
		if n != victim {
			alive = append(alive, n)
		}
	}
	// And one NATS server of three.
	ns.Kill(2)

	got := make([]*api.Manifest, len(ids))
	for i, id := range ids {
		got[i] = waitFinal(t, func() *api.Manifest { return manifestAt(t, alive[i%2], id) }, 5*time.Minute)
		sameChunks(t, alive[0], got[i], want[i], filepath.Join(refData, "exports", wantIDs[i]))
	}
	t.Logf("every export completed %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	m := waitFinal(t, func() *api.Manifest { return manifestAt(t, alive[0], accepted.ID) }, 5*time.Minute)
	sameChunks(t, alive[1], m, want[0], filepath.Join(refData, "exports", wantIDs[0]))
	events.check(t, append(slices.Clone(ids), accepted.ID))
	wantList = slices.Sorted(slices.Values(append(slices.Clone(ids), accepted.ID)))

	// The same answers from every node left.
	for _, id := range ids {
		a, b := manifestAt(t, alive[0], id), manifestAt(t, alive[1], id)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("export %s:\n%s says %s\n%s says %s", id, alive[0].name, ja, alive[1].name, jb)
		}
	}
	if a, b := listIDs(alive[0]), listIDs(alive[1]); !slices.Equal(a, b) || !slices.Equal(a, wantList) {
		t.Fatalf("lists differ: %v and %v", a, b)
	}
	sameDownloads(t, alive, got[0])
	sameDownloads(t, alive, got[5])

	controlElsewhere(t, alive, s3)
}

// progressLog is every progress event a subscriber got, by export.
type progressLog struct {
	mu   sync.Mutex
	byID map[string][]api.Event
}

func watchProgress(t testing.TB, nc *nats.Conn) *progressLog {
	t.Helper()
	l := &progressLog{byID: map[string][]api.Event{}}
	sub, err := nc.Subscribe("exports.progress.>", func(msg *nats.Msg) {
		var ev api.Event
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			return
		}
		l.mu.Lock()
		l.byID[ev.ExportID] = append(l.byID[ev.ExportID], ev)
		l.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return l
}

// check says each export completed once, and that its seq only grew,
// across the nodes that ran it.
func (l *progressLog) check(t *testing.T, ids []string) {
	t.Helper()
	time.Sleep(time.Second) // the last events of the last export
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		evs := l.byID[id]
		completed := 0
		for i, ev := range evs {
			if ev.Event == api.EventCompleted {
				completed++
			}
			if i > 0 && ev.Seq <= evs[i-1].Seq {
				t.Fatalf("export %s: %s seq %d after %s seq %d", id, ev.Event, ev.Seq, evs[i-1].Event, evs[i-1].Seq)
			}
		}
		if completed != 1 {
			t.Fatalf("export %s completed %d times", id, completed)
		}
	}
}

// checkMicroInfo asks the service's nodes for their info: each answers,
// with its own node name.
func checkMicroInfo(t testing.TB, nc *nats.Conn, nodes []*node) {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest("$SRV.INFO.exportd", inbox, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < len(nodes) {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("micro info: %d answers (%v): %v", len(seen), seen, err)
		}
		var info struct {
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(msg.Data, &info); err != nil {
			t.Fatal(err)
		}
		if info.Metadata["storage"] != "s3" {
			t.Fatalf("micro info metadata %v", info.Metadata)
		}
		seen[info.Metadata["node"]] = true
	}
	for _, n := range nodes {
		if !seen[n.name] {
			t.Fatalf("micro info: answers from %v, none from %s", seen, n.name)
		}
	}
}

// sameDownloads checks that every node serves m's chunks and /data alike,
// Range and If-Range included.
func sameDownloads(t testing.TB, nodes []*node, m *api.Manifest) {
	t.Helper()
	var whole []byte
	for _, c := range m.Chunks {
		_, _, body := fetch(t, http.MethodGet, nodes[0].url(fmt.Sprintf("/exports/%s/chunks/%d", m.ID, c.Index)), nil)
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Fatalf("chunk %d of %s as %s serves it does not have its SHA-256", c.Index, m.ID, nodes[0].name)
		}
		whole = append(whole, body...)
	}
	var etag string
	for _, n := range nodes {
		code, h, body := fetch(t, http.MethodGet, n.url("/exports/"+m.ID+"/data"), nil)
		if code != http.StatusOK || !bytes.Equal(body, whole) {
			t.Fatalf("/data of %s on %s: %d, %d bytes, want the %d bytes of its chunks", m.ID, n.name, code, len(body), len(whole))
		}
		if etag == "" {
			etag = h.Get("ETag")
		} else if h.Get("ETag") != etag {
			t.Fatalf("/data of %s: ETag %s on %s, %s on the other", m.ID, h.Get("ETag"), n.name, etag)
		}
		lo, hi := int64(len(whole)/3), int64(len(whole)/3+4096)
		code, _, body = fetch(t, http.MethodGet, n.url("/exports/"+m.ID+"/data"), http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", lo, hi)}})
		if code != http.StatusPartialContent || !bytes.Equal(body, whole[lo:hi+1]) {
			t.Fatalf("/data of %s on %s, bytes %d-%d: %d, %d bytes", m.ID, n.name, lo, hi, code, len(body))
		}
		code, _, body = fetch(t, http.MethodGet, n.url("/exports/"+m.ID+"/data"), http.Header{"Range": {"bytes=100-199"}, "If-Range": {etag}})
		if code != http.StatusPartialContent || !bytes.Equal(body, whole[100:200]) {
			t.Fatalf("/data of %s on %s with a matching If-Range: %d", m.ID, n.name, code)
		}
		code, _, body = fetch(t, http.MethodGet, n.url("/exports/"+m.ID+"/data"), http.Header{"Range": {"bytes=100-199"}, "If-Range": {`"stale"`}})
		if code != http.StatusOK || len(body) != len(whole) {
			t.Fatalf("/data of %s on %s with a stale If-Range: %d, %d bytes", m.ID, n.name, code, len(body))
		}
		c := m.Chunks[1]
		code, _, body = fetch(t, http.MethodGet, n.url(fmt.Sprintf("/exports/%s/chunks/1", m.ID)), http.Header{"Range": {"bytes=-50"}})
		if code != http.StatusPartialContent || len(body) != 50 || !bytes.Equal(body, whole[m.Chunks[0].Bytes+c.Bytes-50:m.Chunks[0].Bytes+c.Bytes]) {
			t.Fatalf("chunk 1 of %s on %s, the last 50 bytes: %d, %d bytes", m.ID, n.name, code, len(body))
		}
	}
}

// controlElsewhere cancels, resumes and deletes an export through a node
// that does not run it.
func controlElsewhere(t testing.TB, nodes []*node, s3 *s3test.Server) {
	t.Helper()
	req := fmt.Sprintf(`{"database": "app", "collection": %q, "format": "ndjson", "compression": "zstd", "chunkRecords": 500}`, clusterColl)
	id := startAt(t, nodes[0], req)
	// Wait for it to run somewhere, with a chunk recorded.
	var owner, other *node
	deadline := time.Now().Add(2 * time.Minute)
	for owner == nil {
		for i, n := range nodes {
			if slices.Contains(running(t, n), id) && len(manifestAt(t, n, id).Chunks) > 0 {
				owner, other = n, nodes[1-i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s never ran", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, _, body := send(t, http.MethodPost, other.url("/exports/"+id+"/cancel"), nil)
	if code != http.StatusOK {
		t.Fatalf("cancel through %s: %d %s", other.name, code, body)
	}
	for slices.Contains(running(t, owner), id) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still runs %s after a cancel through %s", owner.name, id, other.name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := manifestAt(t, owner, id); m.State != api.StateCancelled {
		t.Fatalf("after a cancel through %s: %s", other.name, m.State)
	}
	code, _, body = send(t, http.MethodPost, other.url("/exports/"+id+"/resume"), nil)
	if code != http.StatusOK {
		t.Fatalf("resume through %s: %d %s", other.name, code, body)
	}
	if m := waitFinal(t, func() *api.Manifest { return manifestAt(t, owner, id) }, 3*time.Minute); m.State != api.StateCompleted || m.Records != clusterTasks {
		t.Fatalf("resumed export: %s, %d records (%s)", m.State, m.Records, m.Error)
	}
	code, _, body = send(t, http.MethodDelete, other.url("/exports/"+id), nil)
	if code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("delete through %s: %d %s", other.name, code, body)
	}
	for _, n := range nodes {
		if code, _, _ := fetch(t, http.MethodGet, n.url("/exports/"+id), nil); code != http.StatusNotFound {
			t.Fatalf("GET of a deleted export on %s: %d", n.name, code)
		}
		if code, _, _ := fetch(t, http.MethodGet, n.url("/exports/"+id+"/chunks/0"), nil); code != http.StatusNotFound {
			t.Fatalf("chunk of a deleted export on %s: %d", n.name, code)
		}
	}
	store, err := objstore.New(context.Background(), s3.Config("exports"))
	if err != nil {
		t.Fatal(err)
	}
	if left, err := store.List(context.Background(), id); err != nil || len(left) != 0 {
		t.Fatalf("objects of a deleted export: %v %v", left, err)
	}
}

// startAt starts an export through node n's HTTP API and returns its id.
func startAt(t testing.TB, n *node, req string) string {
	t.Helper()
	code, _, body := send(t, http.MethodPost, n.url("/exports"), []byte(req))
	if code != http.StatusAccepted && code != http.StatusOK {
		t.Fatalf("POST /exports to %s: %d %s", n.name, code, body)
	}
	var m api.Manifest
	if err := json.Unmarshal(body, &m); err != nil || m.ID == "" {
		t.Fatalf("POST /exports to %s: %s (%v)", n.name, body, err)
	}
	return m.ID
}

// send is fetch with a body and the API token, for the routes that
// change exports.
func send(t testing.TB, method, url string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// startExport sends exports.start and returns the export's id.
func startExport(t testing.TB, nc *nats.Conn, req string) string {
	t.Helper()
	msg, err := nc.Request("exports.start", []byte(req), 30*time.Second)
	if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "" {
		t.Fatalf("start %s: %v %s", req, err, msg.Data)
	}
	var rep struct{ ID string }
	if err := json.Unmarshal(msg.Data, &rep); err != nil || rep.ID == "" {
		t.Fatalf("start reply %s: %v", msg.Data, err)
	}
	return rep.ID
}

// waitFinal polls get until the export is final or timeout passes.
func waitFinal(t testing.TB, get func() *api.Manifest, timeout time.Duration) *api.Manifest {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := get()
		switch m.State {
		case api.StateCompleted, api.StateFailed, api.StateCancelled:
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still %s after %s", m.ID, m.State, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
