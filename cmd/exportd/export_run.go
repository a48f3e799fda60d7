package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/export"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// errBrokenPipe means standard output was closed under the export (a
// reader such as head went away); it exits 141, as a shell shows a
// process killed by SIGPIPE, without a message.
var errBrokenPipe = errors.New("standard output closed")

// resumeHint ends the message of a failure that the same command can
// resume from its last recorded chunk.
const resumeHint = "run the same command again to resume"

// exportTo runs the export of plan into out. It makes nothing on disk
// before the server has answered and the namespace has been looked for,
// unless out holds the export already: that one is opened first, so that
// one of another request is refused and a complete one is done without a
// server, and a server that cannot be reached is said to be worth another
// try.
func exportTo(ctx context.Context, cfg *exportConfig, out output, uri string, reqJSON json.RawMessage, plan *request.Plan) (err error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var local *export.Local
	var scratch string // standard output's work directory
	defer func() {
		if local != nil {
			err = errors.Join(err, local.Store.Close())
		}
		if scratch != "" {
			err = errors.Join(err, os.RemoveAll(scratch))
		}
	}()
	if out.kind != toStdout && holdsExport(out.work) {
		if local, err = openLocal(out, reqJSON, plan); err != nil {
			return err
		}
		e, err := local.Store.Get(local.ID)
		if err != nil {
			return err
		}
		if e.State == api.StateCompleted {
			return completed(ctx, out, local, e)
		}
	}

	client, err := connectMongo(ctx, uri, cfg.SelectTimeout)
	if err != nil {
		if local != nil {
			return fmt.Errorf("%w; %s", err, resumeHint)
		}
		return err
	}
	defer func() { err = errors.Join(err, client.Disconnect(context.WithoutCancel(ctx))) }()
	missingMsg, missing := missingNamespace(ctx, client, plan.Database, plan.Collection)
	if missing && cfg.Strict {
		return &inputError{msg: missingMsg + ", and --strict makes that an error: nothing was written"}
	}

	if local == nil {
		if out.kind == toStdout {
			signal.Ignore(syscall.SIGPIPE) // a closed pipe is an error to stop on and clean up after, not death
			if scratch, err = os.MkdirTemp("", "exportd-stdout-"); err != nil {
				return err
			}
			out.work = scratch
		}
		if local, err = openLocal(out, reqJSON, plan); err != nil {
			return err
		}
	}
	e, err := local.Store.Get(local.ID)
	if err != nil {
		return err
	}

	var objects export.Objects
	var file *export.FileOutput
	switch out.kind {
	case toStdout:
		objects = export.NewStreamOutput(os.Stdout)
	case toFile:
		if file, err = openFile(out, local); err != nil {
			return err
		}
		defer func() {
			if file != nil {
				err = errors.Join(err, file.Close())
			}
		}()
		objects = file
	}
	if local.Resumed {
		where := "in " + out.work
		if out.kind == toFile {
			where = "into " + out.path
		}
		fmt.Fprintf(os.Stderr, "resuming export %s %s after %s in %s\n", e.ID, where, api.Count(e.Records, "record"), api.Count(e.Chunks, "chunk"))
	} else if out.kind == toFile {
		if fi, err := os.Stat(out.path); err == nil && fi.Mode().IsRegular() {
			fmt.Fprintf(os.Stderr, "%s exists: it is replaced once the export is complete\n", out.path)
		}
	}

	stats := new(pipeline.Stats)
	prog := newProgress(os.Stderr, stats, e.Records, int64(e.Chunks), cfg.Quiet)
	if cfg.Count && !cfg.Quiet && !missing {
		go func() {
			if c, ok, err := source.Estimate(ctx, client, plan); err == nil && ok {
				prog.setTotal(c.N, c.Estimated)
			}
		}()
	}
	stopProgress := prog.start()
	env := &export.Env{
		Store: local.Store, Client: client, Workers: cfg.Workers, Level: cfg.Level,
		Retries: cfg.Retries, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second,
		Objects: objects, Logger: logger,
	}
	installFailpoints(env)
	runErr := export.Run(ctx, env, local.ID, out.work, stats)
	stopProgress()
	if runErr != nil {
		return runFailure(ctx, out, local, runErr)
	}
	if out.kind == toFile {
		err = finishFile(out, &file, local.Store, local.ID, prog.elapsed())
	} else {
		var m *api.Manifest
		if m, err = local.Store.Manifest(local.ID); err == nil {
			to := out.path
			if out.kind == toStdout {
				to = "standard output"
			}
			printSummary(os.Stderr, to, m, prog.elapsed())
		}
	}
	if err == nil && missing {
		fmt.Fprintf(os.Stderr, "exportd: warning: %s: exported 0 records\n", missingMsg)
	}
	return err
}

// openLocal opens (or makes) the export of plan in out's work directory.
func openLocal(out output, reqJSON json.RawMessage, plan *request.Plan) (*export.Local, error) {
	local, err := export.OpenLocal(out.work, reqJSON, plan)
	if err != nil && out.kind == toFile && errors.Is(err, export.ErrForeignDir) {
		return nil, fmt.Errorf("%w (%s is the work directory of an unfinished export of another request into %s: finish that one, or remove %s to start over)", err, out.work, out.path, out.work)
	}
	return local, err
}

// openFile opens the file a single-file export grows in.
func openFile(out output, local *export.Local) (*export.FileOutput, error) {
	file, err := export.OpenFileOutput(partialPath(out), local.Store, local.ID, out.work)
	if errors.Is(err, export.ErrOutputDamaged) {
		return nil, fmt.Errorf("%w: remove %s to start over", err, out.work)
	}
	return file, err
}

// completed finishes what is left of a completed export: a single file
// is renamed into place (unless a crash after the rename left only its
// work directory); a directory gets its manifest.json rewritten from the
// checkpoint (a kill between the last commit and the manifest's rewrite
// left the one before) and is said to be complete.
func completed(ctx context.Context, out output, local *export.Local, e *checkpoint.Export) (err error) {
	switch out.kind {
	case toFile:
		if assembled(out, e) {
			return finishFile(out, nil, local.Store, local.ID, 0)
		}
		file, err := openFile(out, local)
		if err != nil {
			return err
		}
		defer func() {
			if file != nil {
				err = errors.Join(err, file.Close())
			}
		}()
		return finishFile(out, &file, local.Store, local.ID, 0)
	}
	if _, err := (export.Record{Store: local.Store, ID: local.ID, Dir: out.work}).Save(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "export %s in %s is already complete: %s in %s\n", e.ID, out.path, api.Count(e.Records, "record"), api.Count(e.Chunks, "chunk"))
	return nil
}

// runFailure is the error of a run that did not complete.
func runFailure(ctx context.Context, out output, local *export.Local, runErr error) error {
	if se, ok := errors.AsType[*export.StreamError](runErr); ok && errors.Is(se.Err, syscall.EPIPE) {
		return errBrokenPipe
	}
	if ctx.Err() != nil {
		if err := local.Interrupted(context.Cause(ctx)); err != nil {
			return errors.Join(runErr, err)
		}
		if out.kind == toStdout {
			return fmt.Errorf("%w: an export to standard output cannot resume, and what was written is incomplete", errInterrupted)
		}
		if out.kind == toFile {
			return fmt.Errorf("%w: run the same command again to resume the export into %s (its chunks so far are in %s)", errInterrupted, out.path, out.work)
		}
		return fmt.Errorf("%w: run the same command again to resume the export in %s", errInterrupted, out.work)
	}
	runErr = shortMongoErr(runErr)
	if out.kind != toStdout && (export.Retryable(runErr) || errors.Is(runErr, export.ErrRetriesExhausted)) {
		return fmt.Errorf("%w; %s", runErr, resumeHint)
	}
	return runErr
}

// holdsExport says whether dir holds an export's checkpoint.
func holdsExport(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, checkpoint.FileName))
	return err == nil
}

// partialPath is where a single-file export grows: in its work directory,
// under the file's name.
func partialPath(out output) string {
	return filepath.Join(out.work, filepath.Base(out.path)+".partial")
}

// assembled says whether a completed single-file export is in place
// already: its partial file is gone and the file has the chunks' size (a
// crash after the rename, before the work directory was removed).
func assembled(out output, e *checkpoint.Export) bool {
	if _, err := os.Stat(partialPath(out)); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	fi, err := os.Stat(out.path)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == e.Bytes
}

// finishFile renames a completed single-file export into place (unless
// it is there already: file nil), removes its work directory and prints
// the summary.
func finishFile(out output, file **export.FileOutput, s *checkpoint.Store, id string, took time.Duration) error {
	m, err := s.Manifest(id)
	if err != nil {
		return err
	}
	if file != nil {
		if err := (*file).Finish(out.path); err != nil {
			return err
		}
		*file = nil
	}
	if err := s.Close(); err != nil {
		return err
	}
	if err := os.RemoveAll(out.work); err != nil {
		return err
	}
	if err := chunker.SyncDir(filepath.Dir(out.path)); err != nil {
		return err
	}
	printSummary(os.Stderr, out.path, m, took)
	return nil
}
