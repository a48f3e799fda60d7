//go:build linux

package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/internal/procs"
	"github.com/exportd/exportd/internal/ptytest"
)

// On a terminal, watch draws the bar: the unfiltered export's total is
// the collection's metadata count, an estimate, so the bar says "~"; it
// ends with the outcome on a line of its own. The database is held back
// until watch has drawn its first line, so that watch sees every event.
// The export is sorted: devmongo reads the whole result before the first
// record, and the metadata count is in the events by then.
func TestWatchDrawsBarOnTerminal(t *testing.T) {
	d := startDaemon(t, "")
	d.mongo.close()
	id := d.start(t, "--chunk-records", "500", "--progress-every", "250", "--sort", `{"createdAt": 1}`)

	ptm, tty := ptytest.Open(t, 100)
	cmd := d.command("watch", id)
	cmd.Stdout, cmd.Stderr = tty, tty
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	tty.Close() // the child has it: reads of ptm end when the child does
	drawn := ptytest.Read(ptm)
	select {
	case <-drawn.First():
	case <-time.After(time.Minute):
		t.Fatal("watch drew nothing")
	}
	d.mongo.open()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v", err)
	}
	screen := drawn.Wait(t, time.Minute)
	t.Logf("terminal: %q", screen)

	// Every redraw starts at the line's start and clears it; none wraps a
	// 100-column terminal.
	draws := strings.Split(screen, "\r\033[K")
	bar := regexp.MustCompile(`^\[[#-]+\] ~\d+% [\d,]+/~5,000 records `)
	bars := 0
	for _, d := range draws[1 : len(draws)-1] {
		if len(d) >= 100 || strings.ContainsAny(d, "\r\n") {
			t.Fatalf("a redraw that wraps or breaks the line: %q", d)
		}
		if bar.MatchString(d) {
			bars++
		}
	}
	if bars == 0 {
		t.Fatalf("no bar with an estimated total of 5,000 records in %q", screen)
	}
	if last := draws[len(draws)-1]; !strings.HasPrefix(last, "export "+id+" completed: 5000 records in 10 chunks, ") {
		t.Fatalf("the last line: %q", last)
	}
}
