package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// Env is what every export run shares: where state lives and how to reach
// the database.
type Env struct {
	Store  checkpoint.Records
	Client *mongo.Client
	// Workers is the encoder pool size (0 = GOMAXPROCS).
	Workers int
	// Level is the compression level (0 = the compressor's default).
	Level int
	// Retries is how many failures in a row a run survives when a retry
	// can cure them; Backoff is the first wait, doubled each time up to
	// MaxBackoff.
	Retries    int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Hooks and AfterCommit stop the process at chosen points (crash tests).
	Hooks       chunker.Hooks
	AfterCommit func(c api.Chunk)
	// OnChunk is told of each recorded chunk (progress events).
	OnChunk func(c api.Chunk)
	// Objects, when set, keeps the chunks and manifests in an object store
	// (see Record.Objects); the export's directory then holds only the
	// chunk being written.
	Objects Objects
	// Source, when not nil, yields the documents of plan p after last in
	// place of a MongoDB cursor: benchmarks run whole exports over
	// documents held in memory with it.
	Source func(ctx context.Context, p *request.Plan, last bson.Raw) (pipeline.Source, error)
	Logger *slog.Logger
}

// Run takes export id from where its checkpoint stands to completion. dir
// holds its chunks and manifest. stats, when not nil, is updated live.
//
// Run records completed or failed itself. When ctx ends first it returns
// ctx's cause and leaves the state as it was (running): the caller knows
// whether that was a cancel or a shutdown, and records it.
func Run(ctx context.Context, env *Env, id, dir string, stats *pipeline.Stats) error {
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("export", id)
	e, err := env.Store.Get(id)
	if err != nil {
		return err
	}
	rec := Record{Store: env.Store, ID: id, Dir: dir, Objects: env.Objects, AfterCommit: env.AfterCommit}.Cached()
	if e.State == api.StateCompleted {
		_, err := rec.Save(ctx)
		return err
	}
	if err := recoverDir(env.Store, id, dir, env.Objects == nil, log); err != nil {
		// A recorded chunk gone from the disk: resuming cannot make the
		// export whole again.
		return fail(ctx, rec, err)
	}
	if _, err := rec.SetState(ctx, api.StateRunning, "", time.Now().UTC()); err != nil {
		return err
	}
	enc, err := format.New(&e.Plan, format.Info{GeneratedAt: e.CreatedAt})
	if err != nil {
		return fail(ctx, rec, err)
	}

	failures := 0
	backoff := env.Backoff
	for {
		progressed, err := attempt(ctx, env, rec, enc, stats, log)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if progressed {
			failures, backoff = 0, env.Backoff
		}
		failures++
		if errors.Is(err, checkpoint.ErrState) || errors.Is(err, checkpoint.ErrNotFound) {
			// The record was finished or deleted under the run (a cancel
			// or delete by another process): it is not this run's to fail.
			return err
		}
		if !Retryable(err) {
			return fail(ctx, rec, err)
		}
		if failures > env.Retries {
			return fail(ctx, rec, fmt.Errorf("%w after %s: %w", ErrRetriesExhausted, api.Count(failures, "attempt"), err))
		}
		log.Warn("export interrupted, retrying", "attempt", failures, "wait", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		backoff = min(2*backoff, env.MaxBackoff)
	}
}

// attempt runs the pipeline once from the checkpoint. progressed says
// whether it recorded any chunk.
func attempt(ctx context.Context, env *Env, rec Record, enc *format.Encoder, stats *pipeline.Stats, log *slog.Logger) (progressed bool, err error) {
	id := rec.ID
	e, err := env.Store.Get(id)
	if err != nil {
		return false, err
	}
	p := &e.Plan
	var last bson.Raw
	if len(e.LastKey) > 0 && string(e.LastKey) != "null" {
		if err := bson.UnmarshalExtJSON(e.LastKey, true, &last); err != nil {
			return false, fmt.Errorf("%w: export %s last key: %v", checkpoint.ErrCorrupt, id, err)
		}
	}
	var unstorable source.TypeSet
	if last != nil {
		if unstorable, err = source.Unstorable(ctx, env.Client); err != nil {
			return false, err
		}
	}
	var src pipeline.Source
	if env.Source != nil {
		if src, err = env.Source(ctx, p, last); err != nil {
			return false, fmt.Errorf("open source: %w", err)
		}
	} else {
		coll := env.Client.Database(p.Database).Collection(p.Collection)
		cur, err := source.FindAfter(ctx, coll, p, last, e.Records, unstorable)
		if err != nil {
			return false, fmt.Errorf("open cursor: %w", err)
		}
		defer func() {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = cur.Close(closeCtx) // the cursor's server side times out on its own
		}()
		src = cur
	}
	if e.Records > 0 {
		log.Info("resuming", "chunk", e.Chunks, "records", e.Records)
	}
	if stats != nil {
		// What an earlier attempt encoded past its last chunk is read
		// again: counted once.
		stats.Records.Store(stats.Sealed.Load())
	}
	commits := 0
	_, err = pipeline.Run(ctx, pipeline.Config{
		Source:  src,
		Plan:    p,
		Encoder: enc,
		Level:   env.Level,
		Workers: env.Workers,
		Dir:     rec.Dir,
		Start:   pipeline.Position{Chunk: e.Chunks, Record: e.Records},
		Hooks:   env.Hooks,
		Stats:   stats,
		Logger:  log,
		Commit: func(ctx context.Context, c api.Chunk, final bool) error {
			// The chunk is durable; record it even if ctx is ending (an
			// upload first takes at most commitTimeout).
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
			defer cancel()
			if err := rec.Commit(cctx, c, final, time.Now().UTC()); err != nil {
				return err
			}
			commits++
			if env.OnChunk != nil {
				env.OnChunk(c)
			}
			return nil
		},
	})
	if err != nil {
		return commits > 0, err
	}
	// The pipeline ended without a final chunk when the last record
	// closed a chunk and the format has no footer.
	if _, err := rec.SetState(ctx, api.StateCompleted, "", time.Now().UTC()); err != nil && !errors.Is(err, checkpoint.ErrState) {
		return commits > 0, err
	}
	return commits > 0, nil
}

// commitTimeout bounds the record of one chunk, its upload included, once
// the chunk is sealed: it goes on when the run is being stopped.
const commitTimeout = 2 * time.Minute

// fail records err as the export's failure and returns it.
func fail(ctx context.Context, rec Record, err error) error {
	msg := err.Error()
	if errors.Is(err, syscall.ENOSPC) {
		msg += " (free some space, then resume the export)"
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	_, serr := rec.SetState(sctx, api.StateFailed, msg, time.Now().UTC())
	return errors.Join(err, serr)
}

// Recover makes dir agree with the checkpoint of export id: temporary
// files go, chunk files that were sealed but never recorded go (the run
// that resumes writes them again, identically), and every recorded chunk
// must be there with its recorded size.
func Recover(s checkpoint.Records, id, dir string, log *slog.Logger) error {
	return recoverDir(s, id, dir, true, log)
}

// recoverDir is Recover; with local false the chunks live in an object
// store, and dir is only where they are written: every chunk file goes,
// recorded ones (uploaded already) as well.
func recoverDir(s checkpoint.Records, id, dir string, local bool, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	chunks, err := s.Chunks(id)
	if err != nil {
		return err
	}
	removed, err := chunker.RemoveTemps(dir)
	if err != nil {
		return fmt.Errorf("recover %s: %w", dir, err)
	}
	recorded := make(map[string]api.Chunk, len(chunks))
	for _, c := range chunks {
		recorded[c.Name] = c
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		name := ent.Name()
		if !strings.HasPrefix(name, "chunk-") || !ent.Type().IsRegular() {
			continue
		}
		if _, ok := recorded[name]; ok && local {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("recover %s: %w", dir, err)
		}
		removed = append(removed, name)
	}
	if len(removed) > 0 {
		if err := chunker.SyncDir(dir); err != nil {
			return err
		}
		log.Info("removed unrecorded files", "files", removed)
	}
	if !local {
		return nil
	}
	for _, c := range chunks {
		fi, err := os.Stat(filepath.Join(dir, c.Name))
		if err != nil || fi.Size() != c.Bytes {
			return fmt.Errorf("%w: %s", ErrMissingChunk, c.Name)
		}
	}
	return nil
}
