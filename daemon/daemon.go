package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/internal/loopback"
	"github.com/exportd/exportd/objstore"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/runner"
	"github.com/exportd/exportd/source"
	"github.com/exportd/exportd/transport/httpapi"
	"github.com/exportd/exportd/transport/natsapi"
	"github.com/exportd/exportd/transport/progress"
	"github.com/exportd/exportd/web"
)

// Version is reported by the NATS service.
const Version = "0.1.0"

// Run serves until ctx ends, then shuts down in order: stop taking
// requests, stop running exports at a checkpoint (they resume at the next
// start), flush progress events, close connections. ready, when not nil,
// is told the addresses once everything listens.
func Run(ctx context.Context, cfg Config, log *slog.Logger, ready func(Addrs)) (err error) {
	if err := cfg.Validate(); err != nil {
		return err
	}
	profiles, err := loadProfiles(cfg.ProfilesDir, log)
	if err != nil {
		return err
	}
	var objects *objstore.Store
	if cfg.Storage != "" {
		oc, err := objstore.ConfigFromEnv(cfg.Storage)
		if err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		if objects, err = objstore.New(ctx, oc); err != nil {
			return fmt.Errorf("storage: %w", err)
		}
		log.Info("chunks kept in object storage", "storage", oc.String())
	}

	client, err := source.Connect(ctx, cfg.MongoURI, cfg.ServerSelectionTimeout)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, client.Disconnect(context.WithoutCancel(ctx))) }()

	natsURL := cfg.NATS.URL
	if natsURL == "" {
		ns, err := embeddedNATS(cfg.NATS, jetStreamDir(cfg))
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		natsURL = ns.ClientURL()
		log.Info("embedded NATS server", "url", natsURL)
	}
	nc, err := connectNATS(natsURL, cfg.NATS, log)
	if err != nil {
		return err
	}
	defer nc.Close()

	// The HTTP listener comes first: a node is named after its port.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close() // once served, the server has closed it already
	var (
		store checkpoint.Records
		node  *clusterNode
	)
	if cfg.Cluster.Enabled {
		if node, err = joinCluster(ctx, cfg, nc, ln.Addr(), log); err != nil {
			return err
		}
		store = node.cfg.Store
		log = log.With("node", node.cfg.Node)
		log.Info("cluster node", "bucket", cfg.Cluster.Bucket, "work", cfg.Cluster.WorkStream, "replicas", cfg.Cluster.Replicas, "leaseTtl", cfg.Cluster.LeaseTTL)
	} else {
		local, err := checkpoint.Open(filepath.Join(cfg.DataDir, checkpoint.FileName))
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, local.Close()) }()
		store = local
	}

	events := httpapi.NewMemoryLog(0, 0) // what the HTTP event streams replay: the progress subjects, as NATS subscribers see them
	release := events.Hold()             // a cluster's past first, then what is heard meanwhile
	sub, err := events.FollowNATS(nc, cfg.NATS.Prefix)
	if err != nil {
		release()
		return fmt.Errorf("subscribe to progress events: %w", err)
	}
	defer sub.Unsubscribe()
	node.replayProgress(ctx, events, cfg.NATS.Prefix, log)
	release()

	pub := progress.NewPublisher(nc, cfg.NATS.Prefix, log.With("component", "progress"), node.publisherOptions()...)
	defer func() {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		err = errors.Join(err, pub.Close(fctx))
	}()

	run, err := runner.New(runner.Config{
		Env: &export.Env{
			Store: store, Client: client, Workers: cfg.Workers, Retries: cfg.Retries,
			Backoff: 500 * time.Millisecond, MaxBackoff: 15 * time.Second,
		},
		DataDir: cfg.DataDir, MaxConcurrent: cfg.MaxConcurrent, QueueSize: cfg.QueueSize,
		Allow: cfg.Allow, Profiles: profiles, Retention: cfg.Retention, Grace: cfg.ShutdownGrace,
		Events: pub.Publish, Forget: pub.Forget, CountTotal: cfg.CountTotal, Logger: log.With("component", "runner"),
		Cluster: node.runner(), Objects: optional(objects),
	})
	if err != nil {
		return err
	}

	var secret []byte
	if cfg.DownloadSecret != "" {
		secret = []byte(cfg.DownloadSecret)
	}
	h, err := httpapi.New(httpapi.Config{
		Exports: run, Secret: secret, TokenTTL: cfg.TokenTTL, APIToken: cfg.APIToken, PublicMetrics: cfg.PublicMetrics,
		Logger: log.With("component", "http"),
		Events: events, MaxEventStreams: cfg.MaxEventStreams, Prefix: cfg.NATS.Prefix, PublicURL: cfg.PublicURL, Console: web.Handler(),
		Files: files(objects),
	})
	if err != nil {
		return err
	}
	m := h.Metrics()
	run.SetMetrics(runner.Metrics{QueueDepth: m.SetQueueDepth, Exported: m.AddExported, SealLatency: m.ObserveSeal, Finished: m.ExportFinished, Owned: m.SetOwned})
	warnExposed(cfg, ln.Addr().String(), log)
	public := cfg.PublicURL
	if public == "" {
		public = "http://" + ln.Addr().String()
	}
	srv := h.HTTPServer()
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()

	svc, err := natsapi.New(natsapi.Config{
		Conn: nc, Exports: run, Prefix: cfg.NATS.Prefix, Version: Version, Last: pub.Last, Logger: log.With("component", "nats"),
		Metadata: node.metadata(cfg),
		URLs: func(id string) (string, string) {
			now := time.Now()
			return public + h.SignURL("/exports/"+id, now), public + h.SignURL("/exports/"+id+"/data", now)
		},
	})
	if err != nil {
		return errors.Join(err, srv.Close())
	}

	rctx, stopRunner := context.WithCancel(context.WithoutCancel(ctx))
	runDone := make(chan error, 1)
	go func() { runDone <- run.Run(rctx) }()
	log.Info("exportd serving", "http", ln.Addr().String(), "nats", nc.ConnectedUrlRedacted(), "data", cfg.DataDir)
	if ready != nil {
		ready(Addrs{HTTP: ln.Addr().String(), NATS: natsURL, Public: public})
	}

	select {
	case <-ctx.Done():
	case err := <-httpDone:
		stopRunner()
		<-runDone
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down")
	var errs []error
	errs = append(errs, svc.Stop())
	stopRunner()
	errs = append(errs, <-runDone)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	errs = append(errs, srv.Shutdown(sctx))
	return errors.Join(errs...)
}

// Addrs are where a running daemon listens.
type Addrs struct {
	HTTP, NATS, Public string
}

// embeddedMaxPayload is the embedded server's largest message: room for a
// large manifest or list reply. Requests are held to
// request.MaxRequestBytes by the service itself, with an error that says so.
const embeddedMaxPayload = 8 << 20

// embeddedNATS starts the NATS server of a daemon given no nats.url. With
// a token or an nkey configured, it requires that of every client, the
// daemon's own included.
func embeddedNATS(c NATSConfig, jetStream string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("nats.listen: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{Host: host, Port: port, NoSigs: true, NoLog: true, MaxPayload: embeddedMaxPayload}
	if jetStream != "" {
		opts.JetStream, opts.StoreDir = true, jetStream
	}
	switch {
	case c.Token != "":
		opts.Authorization = c.Token
	case c.NKeyFile != "":
		pub, err := nkeyPublic(c.NKeyFile)
		if err != nil {
			return nil, err
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server did not start on %s", c.Listen)
	}
	return ns, nil
}

// nkeyPublic reads a user seed file (as nats.NkeyOptionFromSeed does) and
// returns its public key.
func nkeyPublic(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nats.nkeyFile: %w", err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return "", fmt.Errorf("nats.nkeyFile %s: %w", path, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// loadProfiles loads the request profiles of dir and logs which it
// loaded. A directory that does not exist is an error that names it,
// unless it is DefaultProfilesDir, which may be missing: then there are no
// profiles, and the log says so.
func loadProfiles(dir string, log *slog.Logger) (map[string]*request.Profile, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("profilesDir %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && dir == DefaultProfilesDir:
		log.Info("no request profiles: the default profiles directory does not exist", "profilesDir", abs)
		return map[string]*request.Profile{}, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("profilesDir %s: no such directory", abs)
	case err != nil:
		return nil, fmt.Errorf("profilesDir: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("profilesDir %s: not a directory", abs)
	}
	profiles, err := request.LoadProfiles(abs)
	if err != nil {
		return nil, fmt.Errorf("profilesDir: %w", err)
	}
	names := slices.Sorted(maps.Keys(profiles))
	log.Info("request profiles loaded", "profilesDir", abs, "count", len(names), "profiles", strings.Join(names, ","))
	return profiles, nil
}

// warnExposed logs what a daemon offers beyond loopback without asking for
// credentials.
func warnExposed(cfg Config, httpAddr string, log *slog.Logger) {
	if cfg.NATS.URL == "" && !loopback.Addr(cfg.NATS.Listen) && cfg.NATS.Token == "" && cfg.NATS.NKeyFile == "" {
		log.Warn("the embedded NATS server listens beyond loopback without authentication: anyone who reaches it can start, cancel and delete exports (set nats.token or nats.nkeyFile)", "listen", cfg.NATS.Listen)
	}
	if !loopback.Addr(httpAddr) && cfg.DownloadSecret == "" {
		log.Warn("the HTTP server listens beyond loopback without a download secret: anyone who reaches it can list and download every export (set downloadSecret)", "listen", httpAddr)
	}
}

func connectNATS(url string, c NATSConfig, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("exportd"),
		nats.MaxReconnects(-1), // exports go on while NATS is away
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() { // the daemon closed it: a shutdown, not a fault
				log.Debug("NATS connection closed")
				return
			}
			log.Warn("NATS disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkeyFile: %w", err)
		}
		opts = append(opts, o)
	}
	if c.Token != "" {
		opts = append(opts, nats.Token(c.Token))
	}
	if c.TLSCert != "" || c.TLSKey != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	return nc, nil
}
