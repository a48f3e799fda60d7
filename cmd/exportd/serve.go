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
// --config file, then the environment, then the flags given. A flag's
// default in -h is the built-in one; a flag not given changes nothing, so
// that the file and the environment keep their say.
func parseServeFlags(args []string, getenv func(string) string) (daemon.Config, error) {
	def := daemon.Default()
	fs := flag.NewFlagSet("exportd serve", flag.ContinueOnError)
	file := fs.String("config", "", "YAML configuration file (see configs/exportd.yaml); relative paths in it are relative to its directory")
	data := fs.String("data", def.DataDir, "data directory: exportd.db and exports/ (or EXPORTD_DATA)")
	uri := fs.String("mongo-uri", "", "MongoDB connection string (or EXPORTD_MONGO_URI)")
	httpAddr := fs.String("http-addr", def.HTTPAddr, "HTTP address")
	natsURL := fs.String("nats-url", "", "NATS server to use (or EXPORTD_NATS_URL; default: an embedded one)")
	natsListen := fs.String("nats-listen", def.NATS.Listen, "address of the embedded NATS server")
	maxConc := fs.Int("max-concurrent", def.MaxConcurrent, "exports running at once")
	queue := fs.Int("queue-size", def.QueueSize, "exports waiting at most")
	logLevel := fs.String("log-level", def.LogLevel, "debug, info, warn or error")
	storage := fs.String("storage", "", "keep chunks in S3: s3://bucket/prefix (or EXPORTD_STORAGE; endpoint and credentials from the AWS environment)")
	clustered := fs.Bool("cluster", false, "one node of several on the NATS server's JetStream (needs --storage)")
	node := fs.String("node", "", "this node's name in the cluster (default: <hostname>-<HTTP port>)")
	if err := parseFlags(fs, args, "usage: exportd serve [--config FILE] --data DIR --mongo-uri URI [flags]\n\nThe flags given override the environment (EXPORTD_*), which overrides the\n--config file, which overrides the built-in defaults shown here.\n"); err != nil {
		return def, err
	}
	cfg := def
	if *file != "" {
		if err := cfg.LoadFile(*file); err != nil {
			return cfg, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	cfg.LoadEnv(getenv)
	fs.Visit(func(f *flag.Flag) { // only the flags given
		switch f.Name {
		case "data":
			cfg.DataDir = *data
		case "mongo-uri":
			cfg.MongoURI = *uri
		case "http-addr":
			cfg.HTTPAddr = *httpAddr
		case "nats-url":
			cfg.NATS.URL = *natsURL
		case "nats-listen":
			cfg.NATS.Listen = *natsListen
		case "max-concurrent":
			cfg.MaxConcurrent = *maxConc
		case "queue-size":
			cfg.QueueSize = *queue
		case "log-level":
			cfg.LogLevel = *logLevel
		case "storage":
			cfg.Storage = *storage
		case "cluster":
			cfg.Cluster.Enabled = *clustered
		case "node":
			cfg.Cluster.Node = *node
		}
	})
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
