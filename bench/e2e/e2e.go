// Package e2e measures exportd end to end against devmongo, each figure
// beside the one it is judged against, in the same run: `exportd export`
// next to a bare driver cursor reading the same documents (the source's
// ceiling) and next to the Node.js design it replaces (the seed-node
// baseline), all as separate processes whose wall time, CPU (user+sys)
// and peak RSS come from the kernel's accounting (wait4's rusage). It also
// times a resume at 10% and at 90% of the largest collection.
//
// The machine is shared, so wall times drift: the bare cursor is read
// before and after each size's runs, and exportd's wall time is given as a
// ratio to their mean.
package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/procs"
)

// Config is one measurement run.
type Config struct {
	// Bin holds the exportd and devmongo binaries.
	Bin string
	// SeedNode is the seed-node baseline's directory (index.js and its
	// lock file); empty skips the baseline.
	SeedNode string
	// Sizes are the collection sizes, ascending: the collection grows from
	// one to the next.
	Sizes []int64
	// Exports are exportd's format/compression pairs, e.g. "csv/zstd".
	Exports []string
	// Baselines are the seed-node's: "csv", "json", "csv/gzip", "json/gzip".
	Baselines []string
	// Resume times a resume at 10% and 90% of the largest size.
	Resume bool
	// Work is the work directory; empty makes a temporary one, removed
	// after.
	Work string
	// Log receives what is going on.
	Log io.Writer
}

// Tool names what a Run ran.
const (
	ToolExportd  = "exportd"
	ToolSeedNode = "seed-node"
	ToolCursor   = "cursor"
)

// Run is one measured process, or the in-process bare cursor.
type Run struct {
	Tool                string
	Size                int64
	Format, Compression string
	// Wall is the process's wall time; CPU its user+sys time; RSS its peak
	// resident set in bytes (the bare cursor has only a wall time).
	Wall, CPU time.Duration
	RSS       int64
	// Out is the bytes written; Records those the tool reports.
	Out, Records int64
	// Command is the command line.
	Command string
}

// Config names the run's format and compression as "format/compression".
func (r Run) Config() string {
	if r.Compression == "" {
		return r.Format
	}
	return r.Format + "/" + r.Compression
}

// Resume is a restart of an export killed at a fraction of the collection.
type Resume struct {
	// At is the fraction done when the export was killed.
	At float64
	// Done is how many records were committed then.
	Done int64
	// FirstRecord is the time from the restart's exec to its first new
	// record.
	FirstRecord time.Duration
	// Kill is the command line that ran the export until it was killed,
	// with its environment; Command is the restart's.
	Kill, Command string
}

// Results is what a run measured.
type Results struct {
	Runs    []Run
	Resumes []Resume
	// NodeVersion is `node --version`, when the baseline ran.
	NodeVersion string
}

// Cursor returns the mean wall time of the bare cursor that reads what an
// export in format reads, at size.
func (r *Results) Cursor(size int64, format string) time.Duration {
	kind := cursorAll
	if format == "csv" {
		kind = cursorCSV
	}
	var sum time.Duration
	n := 0
	for _, run := range r.Runs {
		if run.Tool == ToolCursor && run.Size == size && run.Format == kind {
			sum += run.Wall
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// Find returns the run of tool at size with config, if there is one.
func (r *Results) Find(tool string, size int64, config string) (Run, bool) {
	for _, run := range r.Runs {
		if run.Tool == tool && run.Size == size && run.Config() == config {
			return run, true
		}
	}
	return Run{}, false
}

// CSVFields are the columns both tools write for csv: the seed design's.
const CSVFields = "_id,title,status,priority,assignee.name,assignee.email,tags,createdAt,dueDate,completedAt,estimatedHours"

// Measure runs everything cfg asks for.
func Measure(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if len(cfg.Sizes) == 0 || !slices.IsSorted(cfg.Sizes) {
		return nil, fmt.Errorf("%w: sizes %v must be given ascending", ErrConfig, cfg.Sizes)
	}
	work := cfg.Work
	if work == "" {
		d, err := os.MkdirTemp("", "exportd-e2e-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		work = d
	}
	res := &Results{}
	var node *seedNode
	if cfg.SeedNode != "" && len(cfg.Baselines) > 0 {
		var err error
		if node, err = installSeedNode(ctx, cfg.SeedNode, filepath.Join(work, "seed-node"), cfg.Log); err != nil {
			return nil, err
		}
		res.NodeVersion = node.version
	}
	db, err := devmongo.Launch(filepath.Join(cfg.Bin, "devmongo"), filepath.Join(work, "db"), "", 2*time.Minute)
	if err != nil {
		return nil, err
	}
	defer db.Stop()
	client, err := mongo.Connect(options.Client().ApplyURI(db.URI))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	coll := client.Database("app").Collection("tasks")

	m := &measurer{cfg: cfg, uri: db.URI, work: work, node: node, res: res}
	seeded := int64(0)
	for _, size := range cfg.Sizes {
		fmt.Fprintf(cfg.Log, "seeding tasks %d to %d\n", seeded, size-1)
		start := time.Now()
		if _, err := devmongo.Seed(ctx, coll, seeded, size-seeded, devmongo.SeedOptions{}); err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		fmt.Fprintf(cfg.Log, "seeded in %s\n", time.Since(start).Round(time.Second))
		seeded = size
		if len(cfg.Exports) == 0 && len(cfg.Baselines) == 0 {
			continue
		}
		if err := m.size(ctx, coll, size); err != nil {
			return res, err
		}
	}
	if cfg.Resume {
		for _, at := range []float64{0.1, 0.9} {
			r, err := m.resume(ctx, cfg.Sizes[len(cfg.Sizes)-1], at)
			if err != nil {
				return res, err
			}
			fmt.Fprintf(cfg.Log, "resume at %.0f%%: first new record after %s\n", at*100, r.FirstRecord.Round(time.Millisecond))
			res.Resumes = append(res.Resumes, r)
		}
	}
	return res, nil
}

// measurer runs the tools on one devmongo.
type measurer struct {
	cfg  Config
	uri  string
	work string
	node *seedNode
	res  *Results
}

// size measures every tool on a collection of size tasks: the bare cursor
// first and last, the tools in between.
func (m *measurer) size(ctx context.Context, coll *mongo.Collection, size int64) error {
	kinds := []string{cursorAll}
	if slices.ContainsFunc(m.cfg.Exports, func(c string) bool { return strings.HasPrefix(c, "csv/") }) {
		kinds = append(kinds, cursorCSV)
	}
	cursor := func() error {
		for _, kind := range kinds {
			r, err := bareCursor(ctx, coll, size, kind)
			if err != nil {
				return err
			}
			m.res.Runs = append(m.res.Runs, r)
			fmt.Fprintf(m.cfg.Log, "%d bare cursor, %s: %s\n", size, kind, r.Wall.Round(time.Millisecond))
		}
		return nil
	}
	if err := cursor(); err != nil {
		return err
	}
	for _, c := range m.cfg.Exports {
		r, err := m.exportd(ctx, size, c)
		if err != nil {
			return err
		}
		m.add(r)
	}
	for _, c := range m.cfg.Baselines {
		if m.node == nil {
			break
		}
		r, err := m.node.run(ctx, m.uri, filepath.Join(m.work, "seed-out"), size, c)
		if err != nil {
			return err
		}
		m.add(r)
	}
	return cursor()
}

func (m *measurer) add(r Run) {
	m.res.Runs = append(m.res.Runs, r)
	fmt.Fprintf(m.cfg.Log, "%d %s %s: wall %s, cpu %s, rss %.1f MiB, %.1f MiB out\n", r.Size, r.Tool, r.Config(),
		r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), float64(r.RSS)/(1<<20), float64(r.Out)/(1<<20))
}

// exportArgs is exportd's command line for config into out.
func (m *measurer) exportArgs(config, out string) ([]string, error) {
	format, comp, ok := strings.Cut(config, "/")
	if !ok {
		return nil, fmt.Errorf("%w: export %q is not format/compression", ErrConfig, config)
	}
	args := []string{"export", "--uri", m.uri, "--db", "app", "--collection", "tasks",
		"--format", format, "--compression", comp, "--out", out}
	if format == "csv" {
		args = append(args, "--fields", CSVFields)
	}
	return args, nil
}

// exportd runs one export into a fresh directory and removes it after.
func (m *measurer) exportd(ctx context.Context, size int64, config string) (Run, error) {
	out := filepath.Join(m.work, "exportd-out")
	if err := os.RemoveAll(out); err != nil {
		return Run{}, err
	}
	defer os.RemoveAll(out)
	args, err := m.exportArgs(config, out)
	if err != nil {
		return Run{}, err
	}
	args = append(args, "--quiet")
	format, comp, _ := strings.Cut(config, "/")
	r := Run{Tool: ToolExportd, Size: size, Format: format, Compression: comp}
	cmd := exec.CommandContext(ctx, filepath.Join(m.cfg.Bin, "exportd"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := measureProcess(cmd, &r); err != nil {
		return r, fmt.Errorf("exportd %s: %w\n%s", config, err, stderr.String())
	}
	man, err := readManifest(out)
	if err != nil {
		return r, err
	}
	r.Records, r.Out = man.records, man.bytes
	if r.Records != size {
		return r, fmt.Errorf("exportd %s exported %d records of %d", config, r.Records, size)
	}
	return r, nil
}

// measureProcess runs cmd, filling r's wall time, CPU, peak RSS and
// command line.
//
// The peak RSS is the process's VmHWM, read from /proc while it runs: the
// rusage's ru_maxrss cannot serve, because Go starts a process with vfork,
// and Linux counts in a child's ru_maxrss the high-water mark of the
// parent's memory it ran on until exec (this benchmark's own, about 40 MiB).
func measureProcess(cmd *exec.Cmd, r *Run) error {
	r.Command = commandLine(cmd)
	start := time.Now()
	if err := procs.Start(cmd); err != nil {
		return err
	}
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- watchHWM(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	r.Wall = time.Since(start)
	close(stop)
	r.RSS = <-peak
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err == nil && r.RSS == 0 {
		return fmt.Errorf("%s: no peak RSS could be read from /proc", r.Command)
	}
	return err
}

// hwmPoll is how often watchHWM reads VmHWM. The mark only grows, so a
// poll that misses the last moments of a process misses only growth in
// them.
const hwmPoll = 10 * time.Millisecond

// watchHWM returns the largest VmHWM (peak resident set, bytes) read from
// /proc/pid/status until stop is closed.
func watchHWM(pid int, stop <-chan struct{}) int64 {
	name := fmt.Sprintf("/proc/%d/status", pid)
	var peak int64
	t := time.NewTicker(hwmPoll)
	defer t.Stop()
	for {
		if v := readHWM(name); v > peak {
			peak = v
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// readHWM reads VmHWM from a /proc status file; 0 when it is not there (a
// process gone, or a zombie).
func readHWM(name string) int64 {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0
	}
	_, rest, ok := strings.Cut(string(b), "\nVmHWM:")
	if !ok {
		return 0
	}
	kib, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	n, err := strconv.ParseInt(kib, 10, 64)
	if err != nil {
		return 0
	}
	return n << 10
}

// commandLine shows cmd the way a shell would take it, with the binary's
// base name and the temporary paths as they were.
func commandLine(cmd *exec.Cmd) string {
	args := append([]string{filepath.Base(cmd.Path)}, cmd.Args[1:]...)
	for i, a := range args {
		if strings.ContainsAny(a, " {}\"$,") {
			args[i] = "'" + a + "'"
		}
	}
	return strings.Join(args, " ")
}

// resume kills an export with SIGKILL right after it commits the chunk
// that ends at fraction at of the collection, restarts it, and times the
// restart's first new record.
func (m *measurer) resume(ctx context.Context, size int64, at float64) (Resume, error) {
	const chunks = 10
	out := filepath.Join(m.work, "resume-out")
	if err := os.RemoveAll(out); err != nil {
		return Resume{}, err
	}
	defer os.RemoveAll(out)
	args, err := m.exportArgs("ndjson/zstd", out)
	if err != nil {
		return Resume{}, err
	}
	args = append(args, "--chunk-records", fmt.Sprint(size/chunks))
	bin := filepath.Join(m.cfg.Bin, "exportd")
	stop := int(at*chunks+0.5) - 1
	fmt.Fprintf(m.cfg.Log, "resume: exporting until chunk %d is committed\n", stop)
	crash := exec.CommandContext(ctx, bin, append(args, "--quiet")...)
	failpoint := fmt.Sprintf("EXPORTD_FAILPOINT=after-commit:%d", stop)
	crash.Env = append(os.Environ(), failpoint)
	r := Resume{At: at, Kill: failpoint + " " + commandLine(crash)}
	var ee *exec.ExitError
	if out, err := procs.CombinedOutput(crash); !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return r, fmt.Errorf("export to be killed at chunk %d ended with %v\n%s", stop, err, out)
	}
	restart := exec.CommandContext(ctx, bin, args...)
	r.Command = commandLine(restart)
	stderr, err := restart.StderrPipe()
	if err != nil {
		return r, err
	}
	start := time.Now()
	if err := procs.Start(restart); err != nil {
		return r, err
	}
	defer func() { _ = restart.Process.Kill(); _ = restart.Wait() }()
	lines, err := waitLine(stderr, firstRecordLine)
	if err != nil {
		return r, fmt.Errorf("restarted export: %w", err)
	}
	r.FirstRecord = time.Since(start)
	fmt.Fprintf(m.cfg.Log, "restart: %s\n", strings.Join(lines, "; "))
	// The manifest is rewritten after each commit, so a kill between the
	// two leaves it one chunk behind: the checkpoint, which the restart
	// reports, is what counts.
	for _, l := range lines {
		if m := resumingLine.FindStringSubmatch(l); m != nil {
			r.Done, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	if want := int64(stop+1) * (size / chunks); r.Done != want {
		return r, fmt.Errorf("the restart resumed after %d records, want %d", r.Done, want)
	}
	// Stop it as a user would; it stays resumable.
	_ = restart.Process.Signal(os.Interrupt)
	return r, nil
}

var (
	firstRecordLine = regexp.MustCompile(`^first new record read`)
	resumingLine    = regexp.MustCompile(`^resuming export \S+ in .* after (\d+) records? in \d+ chunks?`)
)

// waitLine reads r until a line matches re, then drains r in the
// background. It returns the lines read, the matching one last.
func waitLine(r io.Reader, re *regexp.Regexp) ([]string, error) {
	sc := bufio.NewScanner(r)
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if re.MatchString(sc.Text()) {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return seen, nil
		}
	}
	return seen, fmt.Errorf("no line matching %q in its output:\n%s", re, strings.Join(seen, "\n"))
}
