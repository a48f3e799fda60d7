package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// partBytes is how much compressed output the compressor gathers before
// handing it to the writer.
const partBytes = 256 << 10

// A compressor that has to wait for its input gathers it and compresses it
// in bursts. When the source is slower than the stages (a server that
// sends a batch every few hundred milliseconds), the compressor's tables
// and window leave the CPU cache between two batches, and refilling them
// from memory costs about as much as compressing a batch of tasks; a burst
// pays that once per few MiB instead of once per batch. While the stages
// keep it busy (the next job is already waiting), it compresses as it
// goes, so that the encoders run meanwhile. The output is the same either
// way: a frame does not depend on how its input is split into writes. Each
// burst is a few times the tables: zstd's default level has 1.25 MiB of
// them (and reaches back up to 8 MiB), gzip's level 6 0.4 MiB (and 32
// KiB). (exportd's CPU per task exporting 100,000 tasks as csv from
// devmongo: zstd 4.5 µs without bursts, 3.4 with 2 MiB, 3.1 with 8 MiB;
// gzip 3.6 µs, 3.5 with 2 MiB, 3.3 with 8 MiB but 12 MiB more RSS, as its
// heap is below the memory limit.)
const (
	zstdBurst = 8 << 20
	gzipBurst = 2 << 20
)

// partsBuffered is how many parts may wait for the writer: 2 MiB of
// compressed output, which lets the stages before it go on while the
// writer fsyncs a sealed chunk.
const partsBuffered = 8

// part is compressed bytes of one chunk. The last part of a chunk has seal
// set, with the chunk's description (the writer fills in the file's size
// and digest).
type part struct {
	chunk int
	data  []byte
	seal  *api.Chunk
	final bool
}

var partPool = sync.Pool{New: func() any { return &part{data: make([]byte, 0, partBytes+64<<10)} }}

// frame compresses one chunk into one zstd frame or gzip member (or copies
// it, without compression).
type frame interface {
	io.Writer
	// Reset starts a new frame that writes to w.
	Reset(w io.Writer)
	// Close ends the frame.
	Close() error
}

type plain struct{ w io.Writer }

func (p *plain) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p *plain) Reset(w io.Writer)           { p.w = w }
func (p *plain) Close() error                { return nil }

// zstdFrame adapts the zstd encoder, whose Reset has no error.
type zstdFrame struct{ *zstd.Encoder }

// newFrame returns the frame of compression c at level, and the size of
// the bursts to feed it (0: write through).
func newFrame(c request.Compression, level int) (frame, int, error) {
	switch c {
	case request.Zstd, "":
		lvl := zstd.SpeedDefault
		if level != 0 {
			lvl = zstd.EncoderLevelFromZstd(level)
		}
		// One goroutine: the frame's bytes must not depend on the machine,
		// and the pipeline's parallelism is in the encoder pool.
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, 0, err
		}
		return zstdFrame{enc}, zstdBurst, nil
	case request.Gzip:
		if level == 0 {
			level = gzip.DefaultCompression
		}
		w, err := gzip.NewWriterLevel(io.Discard, level)
		return w, gzipBurst, err
	case request.None:
		// Nothing to keep in the cache: a burst would only copy.
		return &plain{}, 0, nil
	}
	return nil, 0, fmt.Errorf("%w: unknown compression %q", ErrConfig, c)
}

// compressor restores record order, cuts chunks and compresses them.
type compressor struct {
	cfg   *Config
	ext   string // the chunk files' extension
	frame frame
	keys  *keyMaker
	// bounds say where a chunk ends (chunker's rule).
	bounds chunker.Bounds
	sink   sink
	// burst gathers the open chunk's encoded bytes until it is full, then
	// they are compressed; nil without compression.
	burst []byte

	open     bool
	cur      api.Chunk
	index    int // next chunk's index
	produced int // chunks this run
}

func newCompressor(cfg *Config, ext string) (*compressor, error) {
	p := cfg.Plan
	f, burst, err := newFrame(p.Compression, cfg.Level)
	if err != nil {
		return nil, err
	}
	c := &compressor{cfg: cfg, ext: ext, frame: f, keys: newKeyMaker(p.SortKeys), index: cfg.Start.Chunk,
		bounds: chunker.Bounds{Records: p.ChunkRecords, Bytes: p.ChunkBytes}}
	if burst > 0 {
		c.burst = make([]byte, 0, burst)
	}
	return c, nil
}

func (c *compressor) run(ctx context.Context, ordered <-chan *job, parts chan<- *part) error {
	defer close(parts)
	c.sink = sink{ctx: ctx, out: parts}
	var next *job // a job taken while the previous one was cut
	for {
		j, ok, err := next, true, error(nil)
		if j == nil {
			j, ok, err = recv(ctx, ordered)
		}
		next = nil
		if err != nil {
			return err
		}
		if !ok {
			// The reader stopped without reaching the end: it failed and
			// its error is cancelling the run. Never finish the export.
			<-ctx.Done()
			return context.Cause(ctx)
		}
		if j.end {
			return c.finish()
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if j.err != nil {
			return j.err
		}
		err = c.cut(j)
		c.cfg.Stats.Records.Add(int64(len(j.encEnds)))
		j.release()
		if err != nil {
			return err
		}
		// A burst pays for a source slower than the stages. When the next
		// job is already waiting, the stages keep the compressor busy and
		// its tables in the cache: compress what is gathered now, so that
		// the encoders go on meanwhile instead of waiting on a full burst.
		select {
		case n, more := <-ordered:
			if !more {
				<-ctx.Done() // the reader failed, as above
				return context.Cause(ctx)
			}
			next = n
			if err := c.flush(); err != nil {
				return err
			}
		default:
		}
	}
}

// cut sends a job's records to the chunks they belong to.
func (c *compressor) cut(j *job) error {
	start := 0 // start of the run of records not yet written
	pos := 0   // end of the previous record
	for i, end := range j.encEnds {
		size := int64(end - pos)
		if c.open && c.bounds.Overflows(c.cur.Records, c.cur.RawBytes, size) {
			if err := c.write(j.enc[start:pos]); err != nil {
				return err
			}
			start = pos
			if i > 0 { // else the previous job already set it
				c.cur.LastKey = c.keys.key(j.raw.doc(i - 1))
			}
			if err := c.seal(false); err != nil {
				return err
			}
		}
		if !c.open {
			if err := c.begin(); err != nil {
				return err
			}
		}
		if c.cur.Records == 0 {
			c.cur.FirstKey = c.keys.key(j.raw.doc(i))
		}
		c.cur.Records++
		c.cur.RawBytes += size
		pos = end
		if c.bounds.Full(c.cur.Records, c.cur.RawBytes) {
			if err := c.write(j.enc[start:pos]); err != nil {
				return err
			}
			start = pos
			c.cur.LastKey = c.keys.key(j.raw.doc(i))
			if err := c.seal(false); err != nil {
				return err
			}
		}
	}
	if c.open && start < pos {
		if err := c.write(j.enc[start:pos]); err != nil {
			return err
		}
		c.cur.LastKey = c.keys.key(j.raw.doc(len(j.encEnds) - 1))
	}
	return nil
}

// begin opens the next chunk; the first chunk of an export starts with
// the format's header.
func (c *compressor) begin() error {
	c.open = true
	c.cur = api.Chunk{Index: c.index, Name: chunker.Name(c.index, c.ext)}
	c.sink.chunk = c.index
	c.frame.Reset(&c.sink)
	if c.index == 0 {
		head := c.cfg.Encoder.Header()
		c.cur.RawBytes += int64(len(head))
		return c.write(head)
	}
	return nil
}

// write adds b to the open chunk: to the burst, which is compressed when
// full, or straight to the frame without compression.
func (c *compressor) write(b []byte) error {
	if c.burst == nil {
		return c.compress(b)
	}
	for len(b) > 0 {
		k := min(len(b), cap(c.burst)-len(c.burst))
		c.burst = append(c.burst, b[:k]...)
		b = b[k:]
		if len(c.burst) == cap(c.burst) {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush compresses the burst.
func (c *compressor) flush() error {
	err := c.compress(c.burst)
	c.burst = c.burst[:0]
	return err
}

func (c *compressor) compress(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := c.frame.Write(b); err != nil {
		return fmt.Errorf("compress chunk %d: %w", c.cur.Index, err)
	}
	return nil
}

// seal ends the open chunk's frame and hands its last part to the writer.
func (c *compressor) seal(final bool) error {
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.frame.Close(); err != nil {
		return fmt.Errorf("compress chunk %d: %w", c.cur.Index, err)
	}
	meta := c.cur
	if meta.FirstKey == nil {
		meta.FirstKey, meta.LastKey = json.RawMessage("null"), json.RawMessage("null")
	}
	if err := c.sink.flush(&meta, final); err != nil {
		return err
	}
	c.open = false
	c.index++
	c.produced++
	return nil
}

// finish closes the export after the last record: the open chunk gets the
// footer; with no open chunk, a chunk is still written when the format has
// a footer or the export would otherwise have no chunk at all.
func (c *compressor) finish() error {
	foot := c.cfg.Encoder.Footer()
	if !c.open {
		if len(foot) == 0 && !(c.index == 0 && c.produced == 0) {
			return nil
		}
		if err := c.begin(); err != nil {
			return err
		}
	}
	c.cur.RawBytes += int64(len(foot))
	if err := c.write(foot); err != nil {
		return err
	}
	return c.seal(true)
}

// sink gathers compressed bytes into parts for the writer.
type sink struct {
	ctx   context.Context
	out   chan<- *part
	chunk int
	cur   *part
}

func (s *sink) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if s.cur == nil {
			s.cur = partPool.Get().(*part)
			s.cur.chunk, s.cur.data, s.cur.seal = s.chunk, s.cur.data[:0], nil
		}
		room := partBytes - len(s.cur.data)
		if room <= 0 {
			if err := s.flush(nil, false); err != nil {
				return 0, err
			}
			continue
		}
		k := min(room, len(b))
		s.cur.data = append(s.cur.data, b[:k]...)
		b = b[k:]
	}
	return n, nil
}

// flush sends the current part; seal marks it as the chunk's last, final
// as the export's last.
func (s *sink) flush(seal *api.Chunk, final bool) error {
	if s.cur == nil {
		s.cur = partPool.Get().(*part)
		s.cur.data = s.cur.data[:0]
	}
	p := s.cur
	s.cur = nil
	p.chunk, p.seal, p.final = s.chunk, seal, final
	return send(s.ctx, s.out, p)
}
