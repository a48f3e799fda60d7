package source

import (
	"context"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// Cursor is a pipeline.Source over a MongoDB find cursor. The zero Cursor
// yields no document.
type Cursor struct {
	cur *mongo.Cursor
}

var _ pipeline.Source = (*Cursor)(nil)

// Find opens the cursor of plan p on coll: its filter, projection and
// sort (which always ends with _id, so the order is total), in batches of
// p.BatchSize. With a last key (see After), the cursor starts just after
// that record: a seek, not a skip. unstorable is passed to After.
//
// Find is FindAfter with no record exported yet: for a plan with a Limit,
// a resumed export must use FindAfter.
func Find(ctx context.Context, coll *mongo.Collection, p *request.Plan, last bson.Raw, unstorable TypeSet) (*Cursor, error) {
	return FindAfter(ctx, coll, p, last, 0, unstorable)
}

// FindAfter is Find for an export that has already exported done records,
// the last of them with the sort key last. The plan's Skip applies only
// at the start (without a last key: after one, the seek has passed the
// skipped records already), and its Limit counts the done records, so a
// resumed export reads exactly the records an uninterrupted one would
// have read next. When the limit is reached the cursor is empty.
func FindAfter(ctx context.Context, coll *mongo.Collection, p *request.Plan, last bson.Raw, done int64, unstorable TypeSet) (*Cursor, error) {
	if p.Limit > 0 && done >= p.Limit {
		return &Cursor{}, nil // a limit of 0 would mean none to the server
	}
	filter := p.Filter
	if filter == nil {
		filter = bson.D{}
	}
	if last != nil {
		cond, err := After(p.SortKeys, last, unstorable)
		if err != nil {
			return nil, err
		}
		if len(filter) == 0 {
			filter = cond
		} else {
			filter = bson.D{{Key: "$and", Value: bson.A{filter, cond}}}
		}
	}
	opts := options.Find().
		SetSort(p.Sort).
		SetBatchSize(p.BatchSize).
		SetAllowDiskUse(true)
	if p.Projection != nil {
		opts.SetProjection(p.Projection)
	}
	if p.Skip > 0 && last == nil {
		opts.SetSkip(p.Skip)
	}
	if p.Limit > 0 {
		opts.SetLimit(p.Limit - done)
	}
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	return &Cursor{cur: cur}, nil
}

// Next returns the next document, or io.EOF at the end. The driver reads
// each batch of the cursor into a buffer of its own and a document is a
// slice of it, so the document stays valid after later calls, as
// pipeline.Source requires (TestCursorDocumentsOutliveBatch checks this).
func (c *Cursor) Next(ctx context.Context) (bson.Raw, error) {
	if c.cur == nil {
		return nil, io.EOF
	}
	if c.cur.Next(ctx) {
		return c.cur.Current, nil
	}
	if err := c.cur.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

// Close releases the server-side cursor.
func (c *Cursor) Close(ctx context.Context) error {
	if c.cur == nil {
		return nil
	}
	return c.cur.Close(ctx)
}
