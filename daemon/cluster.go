package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/objstore"
	"github.com/exportd/exportd/runner"
	"github.com/exportd/exportd/transport/httpapi"
	"github.com/exportd/exportd/transport/progress"
)

// clusterNode is what a daemon in cluster mode shares with the others:
// the records, the work queue and the kept progress events. A nil one is
// a single daemon's, whose methods give the single daemon's settings.
type clusterNode struct {
	cfg      runner.Cluster
	progress *cluster.Progress
}

// joinWait bounds how long a node waits at start-up for JetStream to
// answer: a cluster that starts with its nodes elects its meta leader
// within seconds.
const joinWait = time.Minute

// joinCluster is openCluster, tried again until JetStream answers or
// joinWait has passed.
func joinCluster(ctx context.Context, cfg Config, nc *nats.Conn, addr net.Addr, log *slog.Logger) (*clusterNode, error) {
	deadline := time.Now().Add(joinWait)
	for {
		n, err := openCluster(ctx, cfg, nc, addr)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return n, err
		}
		log.Warn("waiting for JetStream", "err", err)
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

// openCluster makes (or joins) the bucket and streams cfg names on nc's
// JetStream, for a node listening for HTTP on addr.
func openCluster(ctx context.Context, cfg Config, nc *nats.Conn, addr net.Addr) (*clusterNode, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	jc := cfg.Cluster.jetstream(cfg.NATS.Prefix)
	store, err := cluster.OpenStore(ctx, js, jc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w (JetStream must be on in the NATS servers; a cluster of them answers once it has elected its leader)", err)
	}
	queue, err := cluster.OpenQueue(ctx, js, jc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	prog, err := cluster.OpenProgress(ctx, js, jc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	name := cfg.Cluster.Node
	if name == "" {
		name = defaultNode(addr)
	}
	return &clusterNode{cfg: runner.Cluster{Store: store, Queue: queue, Node: name}, progress: prog}, nil
}

// historyTimeout bounds the lookup of an export's last progress event:
// the cluster package's request timeout, which a leader's election fits.
const historyTimeout = 15 * time.Second

// notToken is what a host name may hold that a node name may not.
var notToken = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// defaultNode names a node after its host and HTTP port, which tell the
// nodes of one machine apart and stay the same across restarts.
func defaultNode(addr net.Addr) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "exportd"
	}
	port := "0"
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = fmt.Sprint(ta.Port)
	}
	return notToken.ReplaceAllString(host, "-") + "-" + port
}

// jetStreamDir is where the embedded NATS server keeps JetStream: only a
// cluster node needs it.
func jetStreamDir(cfg Config) string {
	if !cfg.Cluster.Enabled {
		return ""
	}
	return filepath.Join(cfg.DataDir, "jetstream")
}

func (n *clusterNode) runner() *runner.Cluster {
	if n == nil {
		return nil
	}
	return &n.cfg
}

// publisherOptions continue each export's progress events after the last
// one the cluster kept, published by whichever node.
func (n *clusterNode) publisherOptions() []progress.PublisherOption {
	if n == nil {
		return nil
	}
	// A stream leader's election, when a NATS server is lost, fits in the
	// lookup: the export's events wait for it rather than start at 1.
	return []progress.PublisherOption{progress.WithHistory(n.progress, cluster.ErrNoEvent), progress.WithHistoryTimeout(historyTimeout)}
}

// metadata is what `nats micro info` shows of this node.
func (n *clusterNode) metadata(cfg Config) map[string]string {
	md := map[string]string{"storage": "local"}
	if cfg.Storage != "" {
		md["storage"] = "s3"
	}
	if n != nil {
		md["node"] = n.cfg.Node
		md["cluster"] = cfg.Cluster.Bucket
	}
	return md
}

// optional is objects as the runner takes it: nil without storage.
func optional(objects *objstore.Store) runner.Objects {
	if objects == nil {
		return nil
	}
	return objects
}

// files is where the HTTP server finds the chunks: nil for the local
// directories.
func files(objects *objstore.Store) httpapi.Files {
	if objects == nil {
		return nil
	}
	return httpapi.ObjectFiles(objects)
}

// replayEvents bounds what a node reads of the progress stream when it
// starts: the event log's worth of a hundred exports, a few MB; and
// replayTimeout how long it may take.
const (
	replayEvents  = 100 * httpapi.DefaultLogEvents
	replayTimeout = 15 * time.Second
)

// replayProgress fills the event log with the newest events the cluster's
// progress stream holds, so that this node's event streams replay what
// happened before it started, with the ids every node gives. A failure is
// a warning: the log then starts with what the node hears. A single node
// (n nil) has no such past.
func (n *clusterNode) replayProgress(ctx context.Context, events *httpapi.MemoryLog, prefix string, log *slog.Logger) {
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, replayTimeout)
	defer cancel()
	count := 0
	err := n.progress.Tail(ctx, replayEvents, func(subject string, data []byte) {
		events.Fill(prefix, subject, data)
		count++
	})
	if err != nil {
		log.Warn("progress history not replayed: the event streams start with what this node hears", "err", err)
		return
	}
	log.Info("progress history replayed", "events", count)
}
