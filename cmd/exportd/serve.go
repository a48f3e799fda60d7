package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/exportd/exportd/daemon"
)

// parseServeFlags builds the daemon's configuration: defaults, then the
// --config file, then the environment, then the other flags.
func parseServeFlags(args []string, getenv func(string) string) (daemon.Config, error) {
	cfg := daemon.Default()
	fs := flag.NewFlagSet("exportd serve", flag.ContinueOnError)
	file := fs.String("config", "", "YAML configuration file (see configs/exportd.yaml)")
	data := fs.String("data", "", "data directory: exportd.db and exports/")
	uri := fs.String("mongo-uri", "", "MongoDB connection string (or EXPORTD_MONGO_URI)")
	httpAddr := fs.String("http-addr", "", "HTTP address (default 127.0.0.1:8080)")
	natsURL := fs.String("nats-url", "", "NATS server to use (default: an embedded one)")
	natsListen := fs.String("nats-listen", "", "address of the embedded NATS server (default 127.0.0.1:4222)")
	maxConc := fs.Int("max-concurrent", 0, "exports running at once (default 2)")
	queue := fs.Int("queue-size", -1, "exports waiting at most (default 100)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	storage := fs.String("storage", "", "keep chunks in S3: s3://bucket/prefix (or EXPORTD_STORAGE; endpoint and credentials from the AWS environment)")
	clustered := fs.Bool("cluster", false, "one node of several on the NATS server's JetStream (needs --storage)")
	node := fs.String("node", "", "this node's name in the cluster (default <hostname>-<HTTP port>)")
	if err := parseFlags(fs, args, "usage: exportd serve [--config FILE] --data DIR --mongo-uri URI [flags]"); err != nil {
		return cfg, err
	}
	if *file != "" {
		if err := cfg.LoadFile(*file); err != nil {
			return cfg, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	cfg.LoadEnv(getenv)
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&cfg.DataDir, *data)
	str(&cfg.MongoURI, *uri)
	str(&cfg.HTTPAddr, *httpAddr)
	str(&cfg.NATS.URL, *natsURL)
	str(&cfg.NATS.Listen, *natsListen)
	str(&cfg.LogLevel, *logLevel)
	str(&cfg.Storage, *storage)
	str(&cfg.Cluster.Node, *node)
	if *clustered {
		cfg.Cluster.Enabled = true
	}
	if *maxConc != 0 {
		cfg.MaxConcurrent = *maxConc
	}
	if *queue >= 0 {
		cfg.QueueSize = *queue
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	return cfg, nil
}

func runServe(ctx context.Context, args []string) error {
	cfg, err := parseServeFlags(args, os.Getenv)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("%w: logLevel: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return daemon.Run(ctx, cfg, log, nil)
}
