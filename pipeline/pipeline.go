package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/request"
)

// Config is one run of the pipeline.
type Config struct {
	// Source yields the documents in export order.
	Source Source
	// Plan is the export's compiled request. The pipeline reads of it what
	// the chunks depend on: Compression, ChunkRecords and ChunkBytes (the
	// bounds of each chunk, in uncompressed bytes), BatchSize (how many
	// documents an encoder job holds), SortKeys (the key recorded for each
	// chunk's first and last record), and Format with Compression for the
	// chunk files' extension.
	Plan *request.Plan
	// Encoder turns documents into output bytes.
	Encoder *format.Encoder
	// Level is the compression level; 0 is the compressor's default (zstd
	// default, gzip 6).
	Level int
	// Workers is the encoder pool's size: 0 means GOMAXPROCS, 1 means one
	// encoder goroutine.
	Workers int
	// Dir receives the chunk files.
	Dir string
	// Start is where this run begins: the next chunk's index and the
	// export-wide index of the next record. Zero for a new export.
	Start Position
	// Commit is called with each chunk after its file is sealed, in order;
	// final is set for the chunk that ends the export (it holds the
	// format's footer). An error stops the run.
	Commit func(ctx context.Context, c api.Chunk, final bool) error
	// Hooks are passed to every chunk file (failpoints for crash tests).
	Hooks chunker.Hooks
	// Stats, when not nil, is updated as the run goes.
	Stats *Stats
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Position is a point in an export between two chunks.
type Position struct {
	Chunk  int   `json:"chunk"`
	Record int64 `json:"record"`
}

// Stats are live counters of a run, safe to read while it runs.
type Stats struct {
	// Records is how many records have been encoded and handed to the
	// compressor; Sealed counts those in sealed chunks.
	Records, Sealed atomic.Int64
	// RawBytes and Bytes count sealed chunks' sizes before and after
	// compression; Chunks counts sealed chunks.
	RawBytes, Bytes, Chunks atomic.Int64
}

// Result sums up a run.
type Result struct {
	// Chunks are the chunks this run sealed, in order.
	Chunks []api.Chunk
	// Next is where a following run would begin.
	Next Position
}

// Run streams the Source into chunk files until the Source ends, a stage
// fails or ctx is cancelled. Every chunk it reports was sealed and
// committed.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	g, ctx := errgroup.WithContext(ctx)
	work := make(chan *job, workers)
	ordered := make(chan *job, workers)
	parts := make(chan *part, partsBuffered)

	p := cfg.Plan
	ext := request.Ext(p.Format, p.Compression)
	r := &reader{src: cfg.Source, batchSize: int(p.BatchSize), next: cfg.Start.Record}
	g.Go(func() error { return r.run(ctx, work, ordered) })
	var sortPaths [][]string
	for _, k := range p.SortKeys {
		if k.Path != "_id" {
			sortPaths = append(sortPaths, strings.Split(k.Path, "."))
		}
	}
	for range workers {
		e := &encoder{enc: cfg.Encoder, sortPaths: sortPaths}
		g.Go(func() error { return e.run(ctx, work) })
	}
	c, err := newCompressor(&cfg, ext)
	if err != nil {
		return Result{}, err
	}
	g.Go(func() error { return c.run(ctx, ordered, parts) })
	w := &writer{cfg: &cfg, ext: ext, log: log.With("stage", "writer")}
	g.Go(func() error { return w.run(ctx, parts) })

	err = g.Wait()
	res := Result{Chunks: w.sealed, Next: cfg.Start}
	if n := len(w.sealed); n > 0 {
		last := w.sealed[n-1]
		res.Next = Position{Chunk: last.Index + 1, Record: cfg.Start.Record + sumRecords(w.sealed)}
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

func sumRecords(cs []api.Chunk) int64 {
	var n int64
	for _, c := range cs {
		n += c.Records
	}
	return n
}

func (cfg *Config) check() error {
	var errs []error
	if cfg.Source == nil {
		errs = append(errs, errors.New("no source"))
	}
	if cfg.Encoder == nil {
		errs = append(errs, errors.New("no encoder"))
	}
	if p := cfg.Plan; p == nil {
		errs = append(errs, errors.New("no plan"))
	} else {
		if p.ChunkRecords < 1 || p.ChunkBytes < 1 {
			errs = append(errs, fmt.Errorf("chunk bounds %d records, %d bytes", p.ChunkRecords, p.ChunkBytes))
		}
		if p.BatchSize < 1 {
			errs = append(errs, fmt.Errorf("batch size %d", p.BatchSize))
		}
	}
	if cfg.Dir == "" {
		errs = append(errs, errors.New("no chunk directory"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}
