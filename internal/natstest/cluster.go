package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// clusterWait bounds how long a cluster may take to elect its JetStream
// meta leader, at start and after a restart.
const clusterWait = 30 * time.Second

// Servers is a JetStream cluster of embedded NATS servers on loopback,
// each with its own store directory, that a test can kill and restart one
// by one. Its methods are for the test's goroutine.
type Servers struct {
	tb      testing.TB
	opts    []server.Options
	servers []*server.Server
}

// Cluster starts n NATS servers with JetStream, clustered over routes on
// loopback (n = 1: one server without a cluster), and returns once every
// one is ready and the meta leader sees all n. They are shut down when
// the test ends.
func Cluster(tb testing.TB, n int) *Servers {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("a cluster of %d servers", n)
	}
	ports := freePorts(tb, 2*n) // a client and a route port each
	c := &Servers{tb: tb, opts: make([]server.Options, n), servers: make([]*server.Server, n)}
	for i := range n {
		c.opts[i] = server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: ports[2*i], NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: tb.TempDir(), JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 1 << 30,
		}
		if n == 1 {
			continue
		}
		c.opts[i].Cluster = server.ClusterOpts{Name: "exportd-test", Host: "127.0.0.1", Port: ports[2*i+1]}
		for j := range n {
			if j != i {
				c.opts[i].Routes = append(c.opts[i].Routes, server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", ports[2*j+1]))...)
			}
		}
	}
	tb.Cleanup(func() {
		for i := range c.servers {
			c.Kill(i)
		}
	})
	for i := range n {
		c.start(i)
	}
	c.waitReady(n)
	return c
}

// Len is how many servers the cluster has, running or killed.
func (c *Servers) Len() int { return len(c.opts) }

// URL is server i's client URL.
func (c *Servers) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// URLs is every server's client URL, server i's first and then the
// others in order, comma-separated as nats.Connect takes them.
func (c *Servers) URLs(i int) string {
	urls := []string{c.URL(i)}
	for j := range c.opts {
		if j != i {
			urls = append(urls, c.URL(j))
		}
	}
	return strings.Join(urls, ",")
}

// Connect connects to server i, falling over to the others while it is
// down, and closes the connection when the test ends.
func (c *Servers) Connect(tb testing.TB, i int, opts ...nats.Option) *nats.Conn {
	tb.Helper()
	opts = append([]nats.Option{nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)
	nc, err := nats.Connect(c.URLs(i), opts...)
	if err != nil {
		tb.Fatalf("nats connect to %s: %v", c.URL(i), err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// Server is server i while it runs, nil while it is killed.
func (c *Servers) Server(i int) *server.Server { return c.servers[i] }

// Kill shuts server i down and waits until it is gone; killing a killed
// server does nothing. Its store directory stays for Restart.
func (c *Servers) Kill(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.servers[i] = nil
	}
}

// Restart starts killed server i again on its ports and store, and
// returns once the cluster has a meta leader that server i follows.
func (c *Servers) Restart(i int) {
	c.tb.Helper()
	if c.servers[i] != nil {
		c.tb.Fatalf("restart of server %d, which runs", i)
	}
	c.start(i)
	c.waitReady(len(c.servers))
}

func (c *Servers) start(i int) {
	c.tb.Helper()
	opts := c.opts[i] // NewServer keeps what it is given
	s, err := server.NewServer(&opts)
	if err != nil {
		c.tb.Fatalf("nats server %d: %v", i, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		c.tb.Fatalf("nats server %d on port %d is not ready", i, c.opts[i].Port)
	}
	c.servers[i] = s
}

// waitReady waits until every running server's JetStream is current and
// one of them leads the meta group with peers peers.
func (c *Servers) waitReady(peers int) {
	c.tb.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		ready, state := c.ready(peers)
		if ready {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("JetStream cluster not ready after %s: %s", clusterWait, state)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ready reports whether the cluster is ready, and if not, why.
func (c *Servers) ready(peers int) (bool, string) {
	leader := false
	for i, s := range c.servers {
		switch {
		case s == nil:
			continue
		case !s.JetStreamEnabled():
			return false, fmt.Sprintf("server %d has no JetStream yet", i)
		case !s.JetStreamIsCurrent():
			return false, fmt.Sprintf("server %d is behind the meta leader", i)
		case len(c.servers) > 1 && s.JetStreamIsLeader():
			if got := len(s.JetStreamClusterPeers()); got < peers {
				return false, fmt.Sprintf("the meta leader, server %d, sees %d of %d peers", i, got, peers)
			}
			leader = true
		}
	}
	if !leader && len(c.servers) > 1 {
		return false, "no meta leader"
	}
	return true, ""
}

// freePorts returns n loopback ports that were free a moment ago: all
// held open at once, so that they differ.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}
