package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Source yields raw documents in export order: package source's Cursor
// from MongoDB, or Slice from memory.
type Source interface {
	// Next returns the next document, or io.EOF itself (not wrapped) after
	// the last one: a driver error that wraps io.EOF (a connection closed
	// mid-read) is a failure, not the end. The returned bytes must stay
	// valid and unchanged after later calls: the reader keeps them, without
	// a copy, until their batch is encoded and cut into chunks.
	Next(ctx context.Context) (bson.Raw, error)
}

// batchBytes bounds a rawBatch's documents, so that a batch of very large
// documents cannot hold more memory than a batch of tasks.
const batchBytes = 4 << 20

// rawBatch holds consecutive documents of the source: the source's own
// bytes, which it keeps alive (a cursor's batch), not copies.
type rawBatch struct {
	// first is the export-wide index of the first document.
	first int64
	docs  []bson.Raw
	bytes int // the documents' total size
}

func (b *rawBatch) len() int { return len(b.docs) }

func (b *rawBatch) doc(i int) bson.Raw { return b.docs[i] }

// job is one batch on its way through the encoders. The reader puts it on
// the ordered channel before the work channel; an encoder closes done when
// enc and encEnds are filled or err is set.
type job struct {
	// end marks the job that follows the last batch: the source is
	// exhausted. Without it, a closed ordered channel means the reader
	// failed, and the export must not be finished.
	end     bool
	raw     *rawBatch
	enc     []byte
	encEnds []int
	err     error
	done    chan struct{}
}

var batchPool = sync.Pool{New: func() any { return &rawBatch{} }}
var encPool = sync.Pool{New: func() any { return &job{} }}

func newJob(raw *rawBatch) *job {
	j := encPool.Get().(*job)
	j.raw, j.err, j.done = raw, nil, make(chan struct{})
	j.enc, j.encEnds = j.enc[:0], j.encEnds[:0]
	return j
}

// release returns the job's buffers to their pools.
func (j *job) release() {
	raw := j.raw
	clear(raw.docs) // a pooled batch must not keep the source's buffers alive
	raw.docs, raw.bytes = raw.docs[:0], 0
	batchPool.Put(raw)
	j.raw = nil
	encPool.Put(j)
}

// reader gathers documents from the source into batches.
type reader struct {
	src       Source
	batchSize int
	next      int64 // export-wide index of the next document
}

func (r *reader) run(ctx context.Context, work, ordered chan<- *job) error {
	defer close(work)
	defer close(ordered)
	for {
		b := batchPool.Get().(*rawBatch)
		b.first = r.next
		eof, err := r.fill(ctx, b)
		if err != nil {
			return fmt.Errorf("read record %d: %w", r.next, err)
		}
		if b.len() > 0 {
			j := newJob(b)
			if err := send(ctx, ordered, j); err != nil {
				return err
			}
			if err := send(ctx, work, j); err != nil {
				return err
			}
		} else {
			batchPool.Put(b)
		}
		if eof {
			return send(ctx, ordered, &job{end: true})
		}
	}
}

// fill adds documents to b until it is full or the source ends.
func (r *reader) fill(ctx context.Context, b *rawBatch) (eof bool, err error) {
	for b.len() < r.batchSize && b.bytes < batchBytes {
		doc, err := r.src.Next(ctx)
		if err == io.EOF { //nolint:errorlint // io.EOF itself: a lost connection's error wraps io.EOF too
			return true, nil
		}
		if err != nil {
			return false, err
		}
		b.docs = append(b.docs, doc)
		b.bytes += len(doc)
		r.next++
	}
	return false, nil
}

// send puts v on ch unless ctx ends first. A cancelled ctx wins even when
// ch has room, so that a stage stops at once.
func send[T any](ctx context.Context, ch chan<- T, v T) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// recv takes a value from ch; ok is false once ch is closed and drained. A
// cancelled ctx wins even when ch holds values.
func recv[T any](ctx context.Context, ch <-chan T) (v T, ok bool, err error) {
	if ctx.Err() != nil {
		return v, false, context.Cause(ctx)
	}
	select {
	case v, ok = <-ch:
		return v, ok, nil
	case <-ctx.Done():
		return v, false, context.Cause(ctx)
	}
}
