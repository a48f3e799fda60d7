package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/chunker"
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

// bareCursor reads the whole collection in exportd's order (_id, batches
// of 1,000) and does nothing with the documents: the source's ceiling.
func bareCursor(ctx context.Context, coll *mongo.Collection, size int64) (Run, error) {
	r := Run{Tool: ToolCursor, Size: size, Format: "read only",
		Command: `db.tasks.find({}).sort({_id: 1}).batchSize(1000), in the benchmark's process`}
	start := time.Now()
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
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

// manifestSums is what a finished export's manifest says of it.
type manifestSums struct{ records, bytes int64 }

func readManifest(dir string) (manifestSums, error) {
	m, err := chunker.ReadManifest(dir)
	if err != nil {
		return manifestSums{}, err
	}
	return manifestSums{records: m.Records, bytes: m.Bytes}, nil
}
