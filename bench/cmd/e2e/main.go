// Command e2e measures exportd export end to end against devmongo: wall
// time, CPU seconds, peak RSS and output size at several collection sizes,
// next to a bare driver cursor that only reads the same documents (the
// source's ceiling). It prints a markdown table.
//
//	go run ./bench/cmd/e2e --sizes 100000,1000000 --bin bin
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
)

type config struct {
	bin     string
	sizes   []int64
	configs []string
	work    string
}

func main() {
	var cfg config
	var sizes, configs string
	flag.StringVar(&cfg.bin, "bin", "bin", "directory with the exportd and devmongo binaries")
	flag.StringVar(&sizes, "sizes", "100000,1000000", "collection sizes to export")
	flag.StringVar(&configs, "configs", "ndjson/zstd", "format/compression pairs, comma-separated")
	flag.StringVar(&cfg.work, "work", "", "work directory (default: a temporary one, removed after)")
	flag.Parse()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "e2e: bad size %q\n", s)
			os.Exit(2)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	cfg.configs = strings.Split(configs, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
}

type result struct {
	size        int64
	config      string
	wall, cpu   time.Duration
	rssKiB, out int64
	cursorWall  time.Duration
	records     int64
}

var servingLine = regexp.MustCompile(`serving (mongodb://\S+)`)

func run(ctx context.Context, cfg config) error {
	work := cfg.work
	if work == "" {
		d, err := os.MkdirTemp("", "exportd-e2e-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	db := exec.CommandContext(ctx, filepath.Join(cfg.bin, "devmongo"), "serve", "-addr", "127.0.0.1:0", "-dir", filepath.Join(work, "db"))
	stderr, err := db.StderrPipe()
	if err != nil {
		return err
	}
	if err := db.Start(); err != nil {
		return err
	}
	defer func() { _ = db.Process.Signal(syscall.SIGTERM); _ = db.Wait() }()
	uri, err := waitServing(stderr)
	if err != nil {
		return err
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return err
	}
	defer client.Disconnect(context.Background())
	coll := client.Database("app").Collection("tasks")

	var results []result
	seeded := int64(0)
	for _, size := range cfg.sizes {
		if size > seeded {
			fmt.Fprintf(os.Stderr, "seeding tasks %d to %d\n", seeded, size-1)
			if _, err := devmongo.Seed(ctx, coll, seeded, size-seeded, devmongo.SeedOptions{}); err != nil {
				return err
			}
			seeded = size
		}
		filter := bson.D{{Key: "seq", Value: bson.D{{Key: "$lt", Value: size}}}}
		cursorWall, n, err := bareCursor(ctx, coll, filter)
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("bare cursor read %d documents, want %d", n, size)
		}
		for _, c := range cfg.configs {
			fmtName, comp, _ := strings.Cut(c, "/")
			res, err := exportOnce(ctx, cfg, uri, work, size, fmtName, comp)
			if err != nil {
				return err
			}
			res.cursorWall = cursorWall
			results = append(results, res)
			fmt.Fprintf(os.Stderr, "%d %s: %s\n", size, c, res.wall)
		}
	}
	printTable(os.Stdout, results)
	return nil
}

func waitServing(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return m[1], nil
		}
	}
	return "", errors.New("devmongo did not start")
}

// bareCursor reads the documents in export order (_id) and nothing else.
func bareCursor(ctx context.Context, coll *mongo.Collection, filter bson.D) (time.Duration, int64, error) {
	start := time.Now()
	cur, err := coll.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return 0, 0, err
	}
	defer cur.Close(ctx)
	var n int64
	for cur.Next(ctx) {
		n++
	}
	return time.Since(start), n, cur.Err()
}

func exportOnce(ctx context.Context, cfg config, uri, work string, size int64, format, comp string) (result, error) {
	out := filepath.Join(work, fmt.Sprintf("out-%d-%s-%s", size, format, comp))
	args := []string{"export", "--uri", uri, "--db", "app", "--collection", "tasks", "--quiet",
		"--filter", fmt.Sprintf(`{"seq": {"$lt": {"$numberLong": "%d"}}}`, size),
		"--format", format, "--compression", comp, "--out", out}
	if format == "csv" {
		args = append(args, "--fields", "_id,title,description,status,priority,tags,assignee.name,assignee.email,createdAt,dueDate,completedAt,estimatedHours")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.bin, "exportd"), args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("exportd export: %w", err)
	}
	wall := time.Since(start)
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	res := result{size: size, config: format + "/" + comp, wall: wall,
		cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru != nil {
		res.rssKiB = ru.Maxrss
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return res, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "chunk-") {
			if fi, err := e.Info(); err == nil {
				res.out += fi.Size()
			}
		}
	}
	res.records = size
	defer os.RemoveAll(out)
	return res, nil
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| tasks | format/compression | wall s | bare cursor s | wall / cursor | CPU s (user+sys) | CPU µs/doc | peak RSS MiB | output MiB |")
	fmt.Fprintln(w, "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %s | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.1f |\n",
			r.size, r.config, r.wall.Seconds(), r.cursorWall.Seconds(), r.wall.Seconds()/r.cursorWall.Seconds(),
			r.cpu.Seconds(), float64(r.cpu.Microseconds())/float64(r.records), float64(r.rssKiB)/1024, float64(r.out)/(1<<20))
	}
}
