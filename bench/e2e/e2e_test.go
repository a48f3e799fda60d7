package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
)

// buildBinaries builds exportd and devmongo into a temporary directory, as
// make build does into bin/.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := procs.CombinedOutput(exec.Command("go", "build", "-o", dir+"/",
		"github.com/exportd/exportd/cmd/exportd", "github.com/exportd/exportd/cmd/devmongo"))
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// Measure runs real processes against a real devmongo: every run exports
// the whole collection, the bare cursor brackets each size, and the resume
// restarts where the kill left the export.
func TestMeasure(t *testing.T) {
	bin := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	sizes := []int64{400, 1000}
	res, err := Measure(ctx, Config{Bin: bin, Sizes: sizes, Exports: []string{"ndjson/zstd", "csv/gzip"},
		Resume: true, Work: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("Measure: %v\n%s", err, log.String())
	}
	for _, size := range sizes {
		cursors := map[string]int{}
		for _, r := range res.Runs {
			if r.Size == size && r.Tool == ToolCursor {
				cursors[r.Format]++
				if r.Records != size || r.Wall <= 0 {
					t.Errorf("bare cursor at %d: %d records in %s", size, r.Records, r.Wall)
				}
			}
		}
		if cursors[cursorAll] != 2 || cursors[cursorCSV] != 2 {
			t.Errorf("bare cursor runs at %d: %v, want one of each kind before and one after", size, cursors)
		}
		if res.Cursor(size, "ndjson") <= 0 || res.Cursor(size, "csv") <= 0 {
			t.Errorf("no mean bare cursor time at %d", size)
		}
		for _, c := range []string{"ndjson/zstd", "csv/gzip"} {
			r, ok := res.Find(ToolExportd, size, c)
			if !ok {
				t.Fatalf("no exportd %s run at %d", c, size)
			}
			if r.Records != size || r.Wall <= 0 || r.CPU <= 0 || r.RSS < 1<<20 || r.Out <= 0 {
				t.Errorf("exportd %s at %d: %+v", c, size, r)
			}
			if !strings.Contains(r.Command, "--format "+strings.Split(c, "/")[0]) {
				t.Errorf("command %q", r.Command)
			}
		}
	}
	if len(res.Resumes) != 2 {
		t.Fatalf("%d resumes, want 2", len(res.Resumes))
	}
	for i, want := range []int64{100, 900} {
		r := res.Resumes[i]
		if r.Done != want || r.FirstRecord <= 0 || !strings.HasPrefix(r.Kill, fmt.Sprintf("EXPORTD_FAILPOINT=after-commit:%d exportd export ", i*8)) {
			t.Errorf("resume %d: %+v, want %d records done", i, r, want)
		}
	}
}

func TestMeasureRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"sizes not ascending": {Sizes: []int64{1000, 100}},
		"no sizes":            {},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Measure(context.Background(), cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Measure: %v, want ErrConfig", err)
			}
		})
	}
	m := &measurer{uri: "mongodb://127.0.0.1:1/"}
	if _, err := m.exportArgs("ndjson", "out"); !errors.Is(err, ErrConfig) {
		t.Errorf("export config without a compression: %v", err)
	}
	s := &seedNode{dir: t.TempDir()}
	for _, c := range []string{"xml", "csv/zstd", "ndjson"} {
		if _, err := s.run(context.Background(), "mongodb://127.0.0.1:1/", filepath.Join(t.TempDir(), "out"), 10, c); !errors.Is(err, ErrConfig) {
			t.Errorf("seed-node %q: %v, want ErrConfig", c, err)
		}
	}
}

func TestGenericLines(t *testing.T) {
	for _, tc := range []struct{ line string }{{"exported 1000 records (500/s)\rexported 2000 records in 1.5s"}} {
		m := exportedLine.FindAllStringSubmatch(tc.line, -1)
		if len(m) != 1 || m[0][1] != "2000" {
			t.Errorf("%q: %v", tc.line, m)
		}
	}
	for line, want := range map[string]string{
		"resuming export abc in /tmp/x y after 500 records in 1 chunk": "500",
		"resuming export abc in /tmp/x after 1 record in 3 chunks":     "1",
	} {
		if m := resumingLine.FindStringSubmatch(line); m == nil || m[1] != want {
			t.Errorf("%q: %v, want %s records", line, m, want)
		}
	}
}

func TestReadHWM(t *testing.T) {
	if n := readHWM("/proc/self/status"); n < 1<<20 {
		t.Errorf("VmHWM of this process: %d bytes", n)
	}
	if n := readHWM("/proc/self/no-such-file"); n != 0 {
		t.Errorf("VmHWM of nothing: %d", n)
	}
}
