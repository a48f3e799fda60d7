package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// exportConfig is everything exportd export runs with.
type exportConfig struct {
	URI     string
	Out     string
	Request request.Request
	// RequestFile, when set, replaces the request flags.
	RequestFile   string
	Workers       int
	Level         int
	Retries       int
	SelectTimeout time.Duration
	Quiet         bool
	Count         bool
	// ProfilesDir holds the request profiles a --request file may name.
	ProfilesDir string
	// Profiles are pprof files to write (--cpuprofile, --memprofile).
	Profiles profiles
}

func parseExportFlags(args []string) (*exportConfig, error) {
	var cfg exportConfig
	var filter, sort, fields, format, compression, jsonFormat string
	var chunkRecords, chunkBytes, batchSize int64
	fs := flag.NewFlagSet("exportd export", flag.ContinueOnError)
	fs.StringVar(&cfg.URI, "uri", "mongodb://127.0.0.1:27017/", "MongoDB connection string")
	fs.StringVar(&cfg.Request.Database, "db", "", "database")
	fs.StringVar(&cfg.Request.Collection, "collection", "", "collection")
	fs.StringVar(&filter, "filter", "", "query, in Extended JSON")
	fs.StringVar(&sort, "sort", "", `sort document, in Extended JSON (default {"_id": 1}; _id always breaks ties)`)
	fs.StringVar(&fields, "fields", "", "comma-separated field paths to export (default all; csv needs them)")
	fs.StringVar(&format, "format", "", "ndjson, json or csv (default ndjson)")
	fs.StringVar(&compression, "compression", "", "zstd, gzip or none (default zstd)")
	fs.StringVar(&jsonFormat, "json-format", "", "relaxed or canonical Extended JSON (default relaxed)")
	fs.Int64Var(&chunkRecords, "chunk-records", 0, "records per chunk at most (default 100000)")
	fs.Int64Var(&chunkBytes, "chunk-bytes", 0, "uncompressed bytes per chunk at most (default 64 MiB)")
	fs.Int64Var(&batchSize, "batch-size", 0, "cursor batch size (default 1000)")
	fs.StringVar(&cfg.Out, "out", "", "output directory (required)")
	fs.StringVar(&cfg.RequestFile, "request", "", "read the export request from this JSON file instead of flags")
	fs.IntVar(&cfg.Workers, "workers", 0, "encoder goroutines (0 = one per CPU)")
	fs.IntVar(&cfg.Level, "level", 0, "compression level (0 = default: zstd 3, gzip 6)")
	fs.IntVar(&cfg.Retries, "retries", 8, "retries in a row for failures a new cursor can cure")
	fs.DurationVar(&cfg.SelectTimeout, "server-selection-timeout", 10*time.Second, "how long to wait for the server")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no progress line")
	fs.BoolVar(&cfg.Count, "count", true, "show a total and ETA when the collection's count is cheap (unfiltered)")
	fs.StringVar(&cfg.ProfilesDir, "profiles", "configs/profiles", "directory of the request profiles a --request file may name")
	fs.StringVar(&cfg.Profiles.CPU, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&cfg.Profiles.Mem, "memprofile", "", "write an allocation profile to this file when the run ends (go tool pprof)")
	if err := parseFlags(fs, args, "usage: exportd export --uri URI --db DB --collection C --out DIR [flags]\n   or: exportd export --uri URI --request FILE --out DIR"); err != nil {
		return nil, err
	}
	if cfg.Out == "" {
		return nil, fmt.Errorf("%w: --out is required", errUsage)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.RequestFile != "" {
		for _, name := range []string{"db", "collection", "filter", "sort", "fields", "format", "compression", "json-format", "chunk-records", "chunk-bytes", "batch-size"} {
			if set[name] {
				return nil, fmt.Errorf("%w: --%s cannot be combined with --request", errUsage, name)
			}
		}
		return &cfg, nil
	}
	r := &cfg.Request
	r.Format, r.Compression, r.JSONFormat = request.Format(format), request.Compression(compression), jsonFormat
	r.ChunkRecords, r.ChunkBytes, r.BatchSize = chunkRecords, chunkBytes, batchSize
	if set["chunk-records"] && chunkRecords == 0 {
		r.ChunkRecords = -1 // let the request say 0 is out of range
	}
	if filter != "" {
		r.Filter = json.RawMessage(filter)
	}
	if sort != "" {
		r.Sort = json.RawMessage(sort)
	}
	if fields != "" {
		r.Fields = strings.Split(fields, ",")
		for i := range r.Fields {
			r.Fields[i] = strings.TrimSpace(r.Fields[i])
		}
	}
	return &cfg, nil
}

// exportMemoryLimit is the soft heap limit of a foreground export when
// GOMEMLIMIT does not set one: the pipeline's own memory is bounded (about
// 30 MiB of buffers and compressor state), so the collector may work a
// little harder near it instead of letting the heap double between
// collections.
const exportMemoryLimit = 48 << 20

func runExport(ctx context.Context, args []string) (err error) {
	cfg, err := parseExportFlags(args)
	if err != nil {
		return err
	}
	stopProfiles, err := cfg.Profiles.start()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfiles()) }()
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(exportMemoryLimit)
	}
	// The request is kept as given (a file's JSON compacted, or the flags'
	// request), before its profile is applied, as the daemon keeps it.
	req := &cfg.Request
	var reqJSON json.RawMessage
	if cfg.RequestFile != "" {
		data, err := os.ReadFile(cfg.RequestFile)
		if err != nil {
			return fmt.Errorf("%w: --request: %v", errUsage, err)
		}
		if req, err = request.Decode(data); err != nil {
			return err
		}
		reqJSON = data // compacted when it is stored
	}
	var profiles map[string]*request.Profile
	if req.Profile != "" {
		if profiles, err = request.LoadProfiles(cfg.ProfilesDir); err != nil {
			return err
		}
	}
	given := *req // Resolve applies the profile to req
	plan, err := request.Resolve(req, profiles)
	if err != nil {
		return err
	}
	if reqJSON == nil {
		if reqJSON, err = json.Marshal(&given); err != nil {
			return err
		}
	}
	return exportTo(ctx, cfg, reqJSON, plan)
}

func exportTo(ctx context.Context, cfg *exportConfig, reqJSON json.RawMessage, plan *request.Plan) (err error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	local, err := export.OpenLocal(cfg.Out, reqJSON, plan)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, local.Store.Close()) }()
	e, err := local.Store.Get(local.ID)
	if err != nil {
		return err
	}
	if e.State == api.StateCompleted {
		fmt.Fprintf(os.Stderr, "export %s in %s is already complete: %d records in %d chunks\n", e.ID, cfg.Out, e.Records, e.Chunks)
		return nil
	}
	if local.Resumed {
		fmt.Fprintf(os.Stderr, "resuming export %s in %s after %d records in %d chunks\n", e.ID, cfg.Out, e.Records, e.Chunks)
	}

	client, err := source.Connect(ctx, cfg.URI, cfg.SelectTimeout)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, client.Disconnect(context.WithoutCancel(ctx))) }()

	stats := new(pipeline.Stats)
	prog := newProgress(os.Stderr, stats, e.Records, cfg.Quiet)
	if cfg.Count && !cfg.Quiet {
		go func() {
			if n, ok, err := source.Total(ctx, client, plan); err == nil && ok {
				prog.setTotal(n)
			}
		}()
	}
	stopProgress := prog.start()
	env := &export.Env{
		Store: local.Store, Client: client, Workers: cfg.Workers, Level: cfg.Level,
		Retries: cfg.Retries, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Logger: logger,
	}
	installFailpoints(env)
	runErr := export.Run(ctx, env, local.ID, cfg.Out, stats)
	stopProgress()
	if runErr != nil {
		if ctx.Err() != nil {
			if err := local.Interrupted(context.Cause(ctx)); err != nil {
				return errors.Join(runErr, err)
			}
			return fmt.Errorf("%w: run the same command again to resume the export in %s", errInterrupted, cfg.Out)
		}
		return runErr
	}
	m, err := local.Store.Manifest(local.ID)
	if err != nil {
		return err
	}
	printSummary(os.Stderr, cfg.Out, m, prog.elapsed())
	return nil
}
