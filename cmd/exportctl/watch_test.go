package main

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/internal/procs"
)

// start, then watch: exit 0 once the export completes; a second watch finds
// it finished and says so.
func TestStartWatchCompletes(t *testing.T) {
	d := startDaemon(t, "")
	id := d.start(t, "--chunk-records", "500", "--progress-every", "100")
	r := d.mustCtl(t, "watch", id)
	if !strings.Contains(r.stderr, "export "+id+" completed: 5000 records in 10 chunks") &&
		!strings.Contains(r.stderr, "export "+id+" is already completed: 5000 records in 10 chunks") {
		t.Fatalf("watch: %s", r.stderr)
	}
	r = d.mustCtl(t, "watch", id)
	if !strings.Contains(r.stderr, "is already completed") {
		t.Fatalf("second watch: %s", r.stderr)
	}
}

// A watched export that is cancelled makes watch exit 1. The database is
// held back, so that the export is surely running when it is cancelled.
func TestWatchCancelledExits1(t *testing.T) {
	d := startDaemon(t, "")
	d.mongo.close()
	id := d.start(t, "--chunk-records", "100", "--batch-size", "50")

	cmd := d.command("watch", id)
	lines := watchLines(t, cmd, id)
	if r := d.mustCtl(t, "cancel", id); strings.TrimSpace(r.stdout) != id+" cancelled" {
		t.Fatalf("cancel: %q", r.stdout)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("watch of a cancelled export: exit %d (%v), want 1; stderr %q", code, err, rest)
	}
	if out := strings.Join(rest, "\n"); !strings.Contains(out, "export "+id+" was cancelled") {
		t.Fatalf("watch did not say the export was cancelled: %q", out)
	}
	if m := d.manifest(t, id); m.State != api.StateCancelled {
		t.Fatalf("state %s", m.State)
	}
	// Watching it now reports the end at once, and fails the same way.
	if r := d.ctl(t, "", "watch", id); r.code != 1 || !strings.Contains(r.stderr, "is already cancelled") {
		t.Fatalf("watch of a cancelled export: exit %d, %s", r.code, r.stderr)
	}
}

// watchLines starts exportctl watch with args and returns its stderr lines;
// the first has come when watchLines returns.
func watchLines(t *testing.T, cmd *exec.Cmd, id string) <-chan string {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := procs.Start(cmd); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func(r io.Reader) {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}(stderr)
	// The first line comes once watch has subscribed and asked for the
	// state.
	select {
	case l := <-lines:
		if !strings.Contains(l, "export "+id+":") {
			t.Fatalf("watch: %q", l)
		}
	case <-time.After(time.Minute):
		t.Fatal("watch printed nothing")
	}
	return lines
}

// An export that completes while watch has lost its NATS connection (and
// so the export-completed event) is found completed when the connection
// is back: watch exits 0.
func TestWatchCatchesUpAfterReconnect(t *testing.T) {
	d := startDaemon(t, "")
	d.mongo.close()
	id := d.start(t, "--chunk-records", "1000")
	u, err := url.Parse(d.addrs.NATS)
	if err != nil {
		t.Fatal(err)
	}
	broker := newTCPProxy(t, u.Host, newValve())
	cmd := d.command("watch", id, "--nats-url", "nats://"+broker.addr)
	lines := watchLines(t, cmd, id)

	broker.drop(true)
	d.mongo.open()
	waitFor(t, "the export to complete", func() bool { return d.state(t, id) == api.StateCompleted })
	broker.drop(false)
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch: %v, %q", err, rest)
	}
	if out := strings.Join(rest, "\n"); !strings.Contains(out, "export "+id+" completed: 5000 records in 5 chunks") {
		t.Fatalf("watch: %q", out)
	}
}

// The progress bar on a terminal, redrawn in place and replaced by the
// outcome; elsewhere lines: one per phase, none more within lineEvery.
func TestProgressView(t *testing.T) {
	total := int64(1000)
	ev := api.Event{Event: api.EventProcessing, Records: 250, Total: &total, Rate: 50, Chunks: 2, Bytes: 2048}
	var buf bytes.Buffer
	p := &progressView{w: &buf, id: "x", tty: true, width: func() int { return 0 }}
	p.show(ev)
	p.tick() // a bar: nothing to turn
	p.done("completed", 1000, 1, 8192)
	want := "\r\033[K[#####---------------] 25% 250/1,000 records 50/s ETA 0:15 2 chunks 2.0 KiB" +
		"\r\033[Kexport x completed: 1000 records in 1 chunk, 8.0 KiB\n"
	if buf.String() != want {
		t.Fatalf("terminal:\n%q\nwant\n%q", buf.String(), want)
	}

	// Without a total, each redraw turns the spinner.
	buf.Reset()
	p = &progressView{w: &buf, id: "x", tty: true}
	p.show(api.Event{Event: api.EventProcessing, Records: 1, Chunks: 0, Rate: 2})
	p.tick()
	want = "\r\033[K| running 1 record 2/s 0 chunks" + "\r\033[K/ running 1 record 2/s 0 chunks"
	if buf.String() != want {
		t.Fatalf("spinner:\n%q\nwant\n%q", buf.String(), want)
	}

	buf.Reset()
	p = &progressView{w: &buf, id: "x"}
	p.show(api.Event{Event: string(api.StateQueued)})
	p.show(ev)
	p.tick() // no terminal: nothing
	ev.Records = 300
	p.show(ev) // same phase, within lineEvery: no line
	p.show(api.Event{Event: api.EventFinalizing, Records: 1000})
	want = "export x: queued 0 records 0 chunks\n" +
		"export x: running 25% 250/1,000 records 50/s ETA 0:15 2 chunks 2.0 KiB\n" +
		"export x: finalizing 1,000 records 0 chunks\n"
	if buf.String() != want {
		t.Fatalf("lines:\n%s\nwant\n%s", buf.String(), want)
	}
}
