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

// Cursor is a pipeline.Source over a MongoDB find cursor.
type Cursor struct {
	cur *mongo.Cursor
}

var _ pipeline.Source = (*Cursor)(nil)

// Find opens the cursor of plan p on coll: its filter, projection and
// sort (which always ends with _id, so the order is total), in batches of
// p.BatchSize. With a last key (see After), the cursor starts just after
// that record: a seek, not a skip. unstorable is passed to After.
func Find(ctx context.Context, coll *mongo.Collection, p *request.Plan, last bson.Raw, unstorable TypeSet) (*Cursor, error) {
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
	if c.cur.Next(ctx) {
		return c.cur.Current, nil
	}
	if err := c.cur.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

// Close releases the server-side cursor.
func (c *Cursor) Close(ctx context.Context) error { return c.cur.Close(ctx) }
