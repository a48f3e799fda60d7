package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// devmongoProcess is devmongo serving in a process of its own, so that
// its CPU is not the measured tools'.
type devmongoProcess struct {
	cmd *exec.Cmd
	uri string
}

func startDevmongo(ctx context.Context, bin, dir string) (*devmongoProcess, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "devmongo"), "serve", "-addr", "127.0.0.1:0", "-dir", dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devmongo: %w", err)
	}
	p := &devmongoProcess{cmd: cmd}
	lines, err := waitLine(stderr, servingLine)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("devmongo: %w", err)
	}
	p.uri = servingLine.FindStringSubmatch(lines[len(lines)-1])[1]
	return p, nil
}

func (p *devmongoProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

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
