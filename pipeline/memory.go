package pipeline

import (
	"context"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Slice is a Source over documents held in memory, for benchmarks and
// tests of the stages without a database.
type Slice struct {
	docs []bson.Raw
	i    int
}

// NewSlice returns a Source that yields docs in order. The run keeps
// the documents without copying them: they must not change while it runs.
func NewSlice(docs []bson.Raw) *Slice { return &Slice{docs: docs} }

// Next returns the next document, or io.EOF after the last.
func (s *Slice) Next(ctx context.Context) (bson.Raw, error) {
	if s.i >= len(s.docs) {
		return nil, io.EOF
	}
	if s.i&1023 == 0 && ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	d := s.docs[s.i]
	s.i++
	return d, nil
}
