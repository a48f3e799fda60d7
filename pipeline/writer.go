package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
)

// writer writes compressed parts into chunk files, seals each chunk and
// commits it.
type writer struct {
	cfg    *Config
	ext    string // the chunk files' extension
	log    *slog.Logger
	file   *chunker.File
	sealed []api.Chunk
}

func (w *writer) run(ctx context.Context, parts <-chan *part) (err error) {
	defer func() {
		if w.file != nil {
			err = errors.Join(err, w.file.Abort())
		}
	}()
	for {
		p, ok, err := recv(ctx, parts)
		if err != nil || !ok {
			return err
		}
		if err := w.write(ctx, p); err != nil {
			return err
		}
		partPool.Put(p)
	}
}

func (w *writer) write(ctx context.Context, p *part) error {
	if w.file == nil {
		f, err := chunker.Create(w.cfg.Dir, chunker.Name(p.chunk, w.ext), w.cfg.Hooks)
		if err != nil {
			return fmt.Errorf("write chunk %d: %w", p.chunk, err)
		}
		w.file = f
	}
	if _, err := w.file.Write(p.data); err != nil {
		return fmt.Errorf("write chunk %d: %w", p.chunk, err)
	}
	if p.seal == nil {
		return nil
	}
	f := w.file
	w.file = nil
	size, sum, err := f.Seal()
	if err != nil {
		return fmt.Errorf("seal chunk %d: %w", p.chunk, err)
	}
	c := *p.seal
	c.Bytes, c.SHA256 = size, sum
	if w.cfg.Commit != nil {
		if err := w.cfg.Commit(ctx, c, p.final); err != nil {
			return fmt.Errorf("commit chunk %d: %w", p.chunk, err)
		}
	}
	w.sealed = append(w.sealed, c)
	st := w.cfg.Stats
	st.Sealed.Add(c.Records)
	st.RawBytes.Add(c.RawBytes)
	st.Bytes.Add(c.Bytes)
	st.Chunks.Add(1)
	w.log.Debug("chunk sealed", "chunk", c.Index, "records", c.Records, "bytes", c.Bytes)
	return nil
}
