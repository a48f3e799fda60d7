package e2e

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// Kinds of bare cursor: the query of an export of every field, and that
// of csv, whose columns are a projection the server applies.
const (
	cursorAll = "all fields"
	cursorCSV = "csv fields"
)

// bareCursor runs the query exportd runs for an export of kind's fields
// (the same filter, sort, batch size and projection, compiled from the
// same request) and reads the whole result, doing nothing with the
// documents: the source's ceiling.
func bareCursor(ctx context.Context, coll *mongo.Collection, size int64, kind string) (Run, error) {
	req := request.Request{Database: coll.Database().Name(), Collection: coll.Name()}
	if kind == cursorCSV {
		req.Format, req.Fields = request.CSV, strings.Split(CSVFields, ",")
	}
	p, err := request.Compile(&req)
	if err != nil {
		return Run{}, err
	}
	r := Run{Tool: ToolCursor, Size: size, Format: kind,
		Command: fmt.Sprintf("db.%s.find(%s, %s).sort(%s).batchSize(%d), in the benchmark's process",
			coll.Name(), extJSON(p.Filter), extJSON(p.Projection), extJSON(p.Sort), p.BatchSize)}
	opts := options.Find().SetSort(p.Sort).SetBatchSize(p.BatchSize)
	if p.Projection != nil {
		opts.SetProjection(p.Projection)
	}
	filter := p.Filter
	if filter == nil {
		filter = bson.D{}
	}
	start := time.Now()
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return r, fmt.Errorf("bare cursor: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		r.Records++
		r.Out += int64(len(cur.Current))
	}
	r.Wall = time.Since(start)
	if err := cur.Err(); err != nil {
		return r, fmt.Errorf("bare cursor: %w", err)
	}
	if r.Records != size {
		return r, fmt.Errorf("bare cursor read %d documents, want %d", r.Records, size)
	}
	return r, nil
}

// extJSON shows a query document as the shell would; {} for none.
func extJSON(d bson.D) string {
	if d == nil {
		return "{}"
	}
	b, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return "?"
	}
	return string(b)
}

// manifestSums is what a finished export's manifest says of it.
type manifestSums struct{ records, bytes int64 }

func readManifest(dir string) (manifestSums, error) {
	m, err := chunker.ReadManifest(dir)
	if err != nil {
		return manifestSums{}, err
	}
	return manifestSums{records: m.Records, bytes: m.Bytes}, nil
}
