package devmongo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/sync/errgroup"
)

// DefaultBatchSize is the number of tasks per InsertMany when
// SeedOptions.BatchSize is 0. Embedded FerretDB writes every insert as SQLite
// transactions of 100 documents whatever the batch, and is CPU-bound: on a
// 2-core machine, batches of 500 to 5,000 seed 100,000 tasks at the same
// 9,000 to 12,000 docs/s, batches of 100 to 250 about 15% slower.
const DefaultBatchSize = 1000

// DefaultWorkers is the number of concurrent InsertMany calls when
// SeedOptions.Workers is 0. Two keep FerretDB busy while the driver sends the
// next batch, about 10% faster than one; more gain nothing, SQLite has one
// writer.
const DefaultWorkers = 2

// SeedOptions configures Seed. The zero value is ready to use.
type SeedOptions struct {
	// BatchSize is the number of tasks per unordered InsertMany; 0 means
	// DefaultBatchSize.
	BatchSize int

	// Workers is the number of InsertMany calls in flight; 0 means
	// DefaultWorkers, 1 means no background goroutines.
	Workers int

	// Progress, if set, is called after each batch with the number of tasks
	// inserted so far. Calls never overlap and the count never decreases.
	Progress func(inserted int64)
}

func (o *SeedOptions) applyDefaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
}

// Seed inserts tasks start to start+n-1 (see AppendTask) into coll, in
// unordered InsertMany batches, and returns how many the server acknowledged.
// Seeding a task that is already there fails with a duplicate key error for
// that task (the rest of its batch is inserted), so a range is seeded once.
// The first error stops Seed; batches then cut short in other workers may be
// partly inserted and not counted.
func Seed(ctx context.Context, coll *mongo.Collection, start, n int64, opts SeedOptions) (int64, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w: %d", ErrBadRange, n)
	}
	opts.applyDefaults()
	batchSize := int64(opts.BatchSize)

	var (
		next     atomic.Int64 // offset of the next batch to claim
		mu       sync.Mutex   // guards inserted and serialises Progress
		inserted int64
	)
	insert := func(ctx context.Context) error {
		var buf []byte
		docs := make([]bson.Raw, 0, batchSize)
		for {
			off := next.Add(batchSize) - batchSize
			if off >= n || ctx.Err() != nil {
				return ctx.Err()
			}
			first, count := start+off, min(batchSize, n-off)
			buf, docs = buf[:0], docs[:0]
			for i := first; i < first+count; i++ {
				end := len(buf)
				buf = AppendTask(buf, i)
				docs = append(docs, buf[end:len(buf):len(buf)])
			}
			res, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))

			mu.Lock()
			if res != nil {
				inserted += int64(len(res.InsertedIDs))
			}
			if err == nil && opts.Progress != nil {
				opts.Progress(inserted)
			}
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("insert tasks %d to %d: %w", first, first+count-1, err)
			}
		}
	}

	var err error
	if opts.Workers == 1 {
		err = insert(ctx)
	} else {
		g, gctx := errgroup.WithContext(ctx)
		for range opts.Workers {
			g.Go(func() error { return insert(gctx) })
		}
		err = g.Wait()
	}
	mu.Lock()
	defer mu.Unlock()
	return inserted, err
}
