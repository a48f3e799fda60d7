package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/pipeline"
)

// progress prints a live line on stderr: records, rate, percent and ETA
// where a total is known. On a terminal it redraws one line; elsewhere it
// prints a line every few seconds.
type progress struct {
	w      io.Writer
	stats  *pipeline.Stats
	base   int64 // records done before this run
	chunks int64 // chunks made before this run
	total  atomic.Int64
	// estimated says the total is an estimate: its percent stays below
	// 100 and is shown with a '~'.
	estimated atomic.Bool
	quiet     bool
	tty       bool
	begin     time.Time
	stopCh    chan struct{}
	wg        sync.WaitGroup
}

// newProgress counts from base records and chunks, what the export held
// before this run.
func newProgress(w *os.File, stats *pipeline.Stats, base, chunks int64, quiet bool) *progress {
	p := &progress{w: w, stats: stats, base: base, chunks: chunks, quiet: quiet, begin: time.Now(), stopCh: make(chan struct{})}
	p.total.Store(-1)
	if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
	}
	return p
}

// setTotal gives the records the export will hold, estimated or counted.
func (p *progress) setTotal(n int64, estimated bool) {
	p.estimated.Store(estimated)
	p.total.Store(n)
}

func (p *progress) elapsed() time.Duration { return time.Since(p.begin) }

// start begins printing; the returned func stops and waits.
func (p *progress) start() func() {
	if p.quiet {
		return func() {}
	}
	every := 5 * time.Second
	if p.tty {
		// A terminal shows where the export stands at once: a resumed
		// one's records and chunks while its cursor reopens.
		every = 250 * time.Millisecond
		p.print()
	}
	if p.base > 0 {
		p.wg.Go(p.firstRecord)
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print()
			case <-p.stopCh:
				if p.tty {
					fmt.Fprint(p.w, "\r\033[K")
				}
				return
			}
		}
	})
	return func() { close(p.stopCh); p.wg.Wait() }
}

// firstRecord says, once the first record of a resumed export has been
// read, how long the resume took to get going: the cursor's reopening
// after the last sealed chunk is the part of a resume that depends on the
// server and on where the export stopped.
func (p *progress) firstRecord() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	say := func() bool {
		if p.stats.Records.Load() == 0 {
			return false
		}
		clear := ""
		if p.tty {
			clear = "\r\033[K" // the progress line; the next tick draws it again
		}
		fmt.Fprintf(p.w, "%sfirst new record read %s after connecting\n", clear, time.Since(p.begin).Round(time.Millisecond))
		return true
	}
	for {
		select {
		case <-t.C:
			if say() {
				return
			}
		case <-p.stopCh:
			say() // a short resume can end between two looks
			return
		}
	}
}

func (p *progress) print() {
	done := p.base + p.stats.Records.Load()
	var rate float64
	if secs := time.Since(p.begin).Seconds(); secs > 0 {
		rate = float64(p.stats.Records.Load()) / secs
	}
	line := fmt.Sprintf("%s  %s/s  %s", api.Count(done, "record"), human(rate), api.Count(p.chunks+p.stats.Chunks.Load(), "chunk"))
	if total := p.total.Load(); total > 0 {
		pct := min(100, 100*float64(done)/float64(total))
		mark := ""
		if p.estimated.Load() {
			pct, mark = min(pct, 99), "~"
		}
		line += fmt.Sprintf("  %s%.1f%%", mark, pct)
		if rate > 0 && done < total {
			eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
			line += "  ETA " + eta.String()
		}
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func human(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func printSummary(w io.Writer, dir string, m *api.Manifest, took time.Duration) {
	var raw int64
	for _, c := range m.Chunks {
		raw += c.RawBytes
	}
	line := fmt.Sprintf("exported %s in %s to %s (%s raw, %s written)",
		api.Count(m.Records, "record"), api.Count(len(m.Chunks), "chunk"), dir, bytesHuman(raw), bytesHuman(m.Bytes))
	if took > 0 {
		line += fmt.Sprintf(" in %s, %s records/s", took.Round(time.Millisecond), human(float64(m.Records)/took.Seconds()))
	}
	fmt.Fprintln(w, line)
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
