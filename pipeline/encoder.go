package pipeline

import (
	"context"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/format"
)

// encoder is one worker of the encoder pool: it turns a job's raw documents
// into output bytes, recording where each record ends.
type encoder struct {
	enc *format.Encoder
	// sortPaths are the sort fields other than _id, checked on every
	// record (see ErrArraySortKey).
	sortPaths [][]string
}

func (e *encoder) run(ctx context.Context, work <-chan *job) error {
	for {
		j, ok, err := recv(ctx, work)
		if err != nil || !ok {
			return err
		}
		e.encode(j)
		close(j.done)
	}
}

func (e *encoder) encode(j *job) {
	raw := j.raw
	for i := range raw.len() {
		doc := raw.doc(i)
		err := checkSortValues(doc, e.sortPaths)
		if err == nil {
			j.enc, err = e.enc.Append(j.enc, doc, raw.first+int64(i))
		}
		if err != nil {
			j.err = fmt.Errorf("encode record %d: %w", raw.first+int64(i), err)
			return
		}
		j.encEnds = append(j.encEnds, len(j.enc))
	}
}

// checkSortValues fails on a record whose sort value is an array or lies
// under one: see ErrArraySortKey.
func checkSortValues(doc bson.Raw, paths [][]string) error {
	for _, p := range paths {
		cur := doc
		for i, seg := range p {
			v, err := cur.LookupErr(seg)
			if err != nil {
				break
			}
			if v.Type == bson.TypeArray {
				return fmt.Errorf("%w: %s", ErrArraySortKey, strings.Join(p[:i+1], "."))
			}
			d, ok := v.DocumentOK()
			if !ok {
				break
			}
			cur = d
		}
	}
	return nil
}
