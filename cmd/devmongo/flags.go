package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/exportd/exportd/internal/devmongo"
)

// config is a parsed command line.
type config struct {
	command string // "serve" or "seed"
	serve   serveConfig
	seed    seedConfig
	stderr  io.Writer // progress, logs and the serve URI
}

// serveConfig holds the flags of devmongo serve.
type serveConfig struct {
	addr     string     // TCP address to listen on
	dir      string     // data directory, created if missing
	logLevel slog.Level // lowest level of FerretDB's records to print
}

// seedConfig holds the flags of devmongo seed.
type seedConfig struct {
	n          int64  // number of tasks
	start      int64  // number of the first task
	uri        string // server to seed
	db         string
	collection string
	drop       bool // drop the collection first
	batchSize  int  // 0 = devmongo.DefaultBatchSize
	workers    int  // 0 = devmongo.DefaultWorkers
}

var commandUsage = map[string]string{
	"serve": "devmongo serve [-addr 127.0.0.1:27017] [-dir devmongo-data] [-log-level warn]",
	"seed":  "devmongo seed -n N [-uri URI] [-db app] [-collection tasks] [-start K] [-drop]",
}

var usage = `Usage:
  ` + commandUsage["serve"] + `
  ` + commandUsage["seed"] + `

devmongo runs a development MongoDB-compatible server (FerretDB with SQLite,
embedded) and fills it with exportd's synthetic tasks.
Run 'devmongo COMMAND -h' for the flags of a command.
`

// errUsage marks errors that are the user's: the exit code is 2.
var errUsage = errors.New("bad usage")

// parseArgs parses the command line (without the program name). It prints
// usage to stderr and returns flag.ErrHelp when asked for help, and returns an
// error for any other problem with the command line.
func parseArgs(args []string, stderr io.Writer) (config, error) {
	cfg := config{stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cfg, fmt.Errorf("%w: no command", errUsage)
	}
	cfg.command = args[0]

	fs := flag.NewFlagSet("devmongo "+cfg.command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  %s\n\nFlags:\n", commandUsage[cfg.command])
		fs.PrintDefaults()
	}
	switch cfg.command {
	case "serve":
		fs.StringVar(&cfg.serve.addr, "addr", devmongo.DefaultAddr,
			"TCP `address` to listen on; port 0 picks a free one. A non-loopback address is allowed, with a warning: there is no authentication")
		fs.StringVar(&cfg.serve.dir, "dir", "devmongo-data", "`directory` of the SQLite files, created if missing; data survives restarts")
		fs.TextVar(&cfg.serve.logLevel, "log-level", slog.LevelWarn, "lowest `level` of FerretDB's logs to print: debug, info, warn or error")
	case "seed":
		fs.Int64Var(&cfg.seed.n, "n", 0, "number of tasks to insert (required)")
		fs.Int64Var(&cfg.seed.start, "start", 0, "number of the first task: tasks `K` to K+N-1 are inserted")
		fs.StringVar(&cfg.seed.uri, "uri", "mongodb://"+devmongo.DefaultAddr+"/", "MongoDB connection string")
		fs.StringVar(&cfg.seed.db, "db", "app", "database `name`")
		fs.StringVar(&cfg.seed.collection, "collection", "tasks", "collection `name`")
		fs.BoolVar(&cfg.seed.drop, "drop", false, "drop the collection before seeding")
		fs.IntVar(&cfg.seed.batchSize, "batch", 0, fmt.Sprintf("tasks per InsertMany; 0 means %d", devmongo.DefaultBatchSize))
		fs.IntVar(&cfg.seed.workers, "workers", 0, fmt.Sprintf("InsertMany calls in flight; 0 means %d", devmongo.DefaultWorkers))
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return cfg, flag.ErrHelp
	default:
		fmt.Fprint(stderr, usage)
		return cfg, fmt.Errorf("%w: unknown command %q", errUsage, cfg.command)
	}

	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %s: %w", errUsage, cfg.command, err)
	}
	if cfg.command == "seed" {
		nSet := false
		fs.Visit(func(f *flag.Flag) { nSet = nSet || f.Name == "n" })
		if !nSet {
			cfg.seed.n = -1 // required: validate rejects it
		}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cfg, fmt.Errorf("%w: %s: unexpected argument %q", errUsage, cfg.command, fs.Arg(0))
	}
	if err := cfg.validate(); err != nil {
		fs.Usage()
		return cfg, fmt.Errorf("%w: %s: %w", errUsage, cfg.command, err)
	}
	return cfg, nil
}

// validate says which flag is wrong.
func (c config) validate() error {
	switch c.command {
	case "serve":
		if c.serve.addr == "" {
			return errors.New("-addr must not be empty")
		}
		if c.serve.dir == "" {
			return errors.New("-dir must not be empty")
		}
	case "seed":
		if c.seed.n < 0 {
			return errors.New("-n is required and must be at least 0")
		}
		if c.seed.start > math.MaxInt64-c.seed.n {
			return errors.New("-start plus -n overflows int64")
		}
		if c.seed.uri == "" || c.seed.db == "" || c.seed.collection == "" {
			return errors.New("-uri, -db and -collection must not be empty")
		}
		if c.seed.batchSize < 0 || c.seed.workers < 0 {
			return errors.New("-batch and -workers must be at least 0")
		}
	}
	return nil
}
