//go:build linux

package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/internal/ptytest"
)

// On a terminal, a resumed export's progress line counts what was done
// before the resume from its first drawing: records and chunks ("400
// records … 2 chunks", not "… 0 chunks"), and the note of the first new
// record gets a line of its own.
func TestProgressResumedOnTerminal(t *testing.T) {
	coll := smallCollection(t)
	out := filepath.Join(t.TempDir(), "t.ndjson")
	args := []string{"export", "--uri", withDB(database(t), "app"), "-c", coll, "--limit", "1000", "--chunk-records", "200",
		"--sort", `{"dueDate": 1}`, "-o", out}
	r := runExportd(t, []string{failpointEnv + "=after-commit:1"}, append(args, "--quiet")...)
	r.wantCode(t, 128+int(syscall.SIGKILL))

	ptm, tty := ptytest.Open(t, 0)
	cmd := exec.Command(exportdBinary(t), args...)
	cmd.Stderr = tty
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child has it: reads of ptm end when the child does
	screen := ptytest.Read(ptm)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("resume: %v", err)
	}
	s := screen.Wait(t, time.Minute)
	t.Logf("terminal: %q", s)
	draws := strings.Split(s, "\r\033[K")
	if len(draws) < 3 || !strings.HasPrefix(draws[0], "resuming export ") || !strings.Contains(draws[0], "after 400 records in 2 chunks") {
		t.Fatalf("before the first drawing: %q", draws[0])
	}
	if !strings.HasPrefix(draws[1], "400 records  0/s  2 chunks") {
		t.Fatalf("first drawing %q, want 400 records and 2 chunks", draws[1])
	}
	line := regexp.MustCompile(`^(\d+) records  [\d.kM]+/s  (\d+) chunks`)
	notes := 0
	for _, d := range draws[1:] {
		if strings.HasPrefix(d, "first new record read ") {
			notes++
			continue
		}
		if d == "" || strings.HasPrefix(d, "exported ") {
			continue
		}
		m := line.FindStringSubmatch(d)
		if m == nil || strings.ContainsAny(d, "\r\n") {
			t.Fatalf("a drawing %q", d)
		}
		if n, _ := strconv.Atoi(m[1]); n < 400 || n > 1000 {
			t.Fatalf("a drawing counts %d records: %q", n, d)
		}
		if c, _ := strconv.Atoi(m[2]); c < 2 {
			t.Fatalf("a drawing counts %d chunks: %q", c, d)
		}
	}
	if notes != 1 || !strings.Contains(s, "exported 1000 records in 5 chunks to "+out) {
		t.Fatalf("%d first-record notes; screen %q", notes, s)
	}
}
