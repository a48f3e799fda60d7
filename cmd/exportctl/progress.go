package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
)

const (
	// lineEvery is how often a progress line is printed when stderr is
	// not a terminal.
	lineEvery = 5 * time.Second
	// spinEvery is how often the line on a terminal is redrawn between
	// events, to turn the spinner.
	spinEvery = 200 * time.Millisecond
	// barWidth is the bar's width inside its brackets; on a terminal too
	// narrow for it, it shrinks down to minBar, then goes. It does not
	// follow the counters' width otherwise: a bar that changes its length
	// as the counters do looks jumpy.
	barWidth, minBar = 20, 10
)

// spinner is drawn, a frame per redraw, while no total is known.
var spinner = [...]string{"|", "/", "-", `\`}

// progressView draws progress: on a terminal, a line redrawn in place
// (a bar when a total is known, else a spinner); elsewhere a line on each
// change of phase and every lineEvery.
type progressView struct {
	w  io.Writer
	id string
	// tty says w is a terminal; width, when set, gives its columns (0:
	// unknown), asked at each redraw so that a resized terminal is
	// followed.
	tty   bool
	width func() int
	drawn bool
	phase string
	last  time.Time
	ev    api.Event // the last shown
	frame int
}

// show draws ev.
func (p *progressView) show(ev api.Event) {
	p.ev = ev
	phase := phaseOf(ev.Event)
	switch {
	case p.tty:
		p.draw()
	case phase != p.phase || time.Since(p.last) >= lineEvery:
		fmt.Fprintf(p.w, "export %s: %s %s\n", p.id, phase, statusText(ev))
		p.last = time.Now()
	}
	p.phase = phase
}

// tick turns the spinner: it redraws the line on a terminal while no
// total is known (a bar has no frame to turn).
func (p *progressView) tick() {
	if p.tty && p.drawn && (p.ev.Total == nil || *p.ev.Total <= 0) {
		p.frame++
		p.draw()
	}
}

func (p *progressView) draw() {
	width := 0
	if p.width != nil {
		width = p.width()
	}
	fmt.Fprintf(p.w, "\r\033[K%s", barLine(p.ev, p.frame, width))
	p.drawn = true
}

// done replaces the bar with the export's outcome.
func (p *progressView) done(state api.State, records int64, chunks int, bytes int64) {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "export %s %s: %s in %s, %s\n", p.id, state, count(records, "record"), count(int64(chunks), "chunk"), humanBytes(bytes))
}

// phaseOf is what an event's name says of the export: running for the
// events of a running export, else the name without "export-" (queued,
// fetching, resumed, finalizing), or a state as the manifest gives it.
func phaseOf(event string) string {
	if event == api.EventFileGeneration || event == api.EventProcessing {
		return "running"
	}
	return strings.TrimPrefix(event, "export-")
}

// barLine is the line drawn on a terminal of width columns (0: unknown)
// for ev: with a total,
//
//	[########------------] 42% 10,400/~24,800 records 3.1k/s ETA ~0:05 4 chunks 12.3 MiB
//
// ("~" marks an estimated total, and what follows from it); without one,
// spinner frame frame, the phase and the same counters. A known width
// narrower than the line shrinks the bar down to minBar, drops it when
// even that does not fit, and then drops counters from the end, so that
// the line stays one column short of the edge and never wraps (a wrapped
// line cannot be redrawn in place).
func barLine(ev api.Event, frame, width int) string {
	parts := statusParts(ev)
	if ev.Total == nil || *ev.Total <= 0 {
		return fit(append([]string{spinner[frame%len(spinner)], phaseOf(ev.Event)}, parts...), width)
	}
	bar := barWidth
	if width > 0 {
		bar = min(barWidth, width-1-len(strings.Join(parts, " "))-3)
		if bar < minBar {
			return fit(parts, width)
		}
	}
	filled := int(float64(bar) * percentOf(ev) / 100)
	return fit(append([]string{"[" + strings.Repeat("#", filled) + strings.Repeat("-", bar-filled) + "]"}, parts...), width)
}

// statusText is the counters of ev, as one line.
func statusText(ev api.Event) string { return strings.Join(statusParts(ev), " ") }

// statusParts is the counters of ev: its percent, records (of the total),
// rate, ETA, chunks and bytes, each when known.
func statusParts(ev api.Event) []string {
	var parts []string
	total := ev.Total != nil && *ev.Total > 0
	est := ""
	if total && ev.TotalEstimated {
		est = "~"
	}
	if total {
		parts = append(parts, fmt.Sprintf("%s%d%%", est, int(percentOf(ev))))
		parts = append(parts, plural(*ev.Total, group(ev.Records)+"/"+est+group(*ev.Total), "record"))
	} else {
		parts = append(parts, plural(ev.Records, group(ev.Records), "record"))
	}
	if ev.Rate > 0 {
		parts = append(parts, rate(ev.Rate))
	}
	if total && ev.Rate > 0 && ev.Records < *ev.Total {
		left := time.Duration(float64(*ev.Total-ev.Records) / ev.Rate * float64(time.Second))
		parts = append(parts, "ETA "+est+clock(left))
	}
	parts = append(parts, plural(int64(ev.Chunks), group(int64(ev.Chunks)), "chunk"))
	if ev.Bytes > 0 {
		parts = append(parts, humanBytes(ev.Bytes))
	}
	return parts
}

// percentOf is ev's percent of its total: the event's own (the daemon's,
// which keeps an estimate below 100 until the end), else computed, at most
// 99 for an estimate and 100 otherwise.
func percentOf(ev api.Event) float64 {
	if ev.Percent != nil {
		return max(0, min(100, *ev.Percent))
	}
	if ev.Total == nil || *ev.Total <= 0 {
		return 0
	}
	pct := min(100, 100*float64(ev.Records)/float64(*ev.Total))
	if ev.TotalEstimated {
		pct = min(99, pct)
	}
	return pct
}

// fit joins parts with spaces into at most width-1 columns (every
// character of a line is one column wide), leaving out whole parts from
// the end, and cutting the first if even it alone is too long; width 0
// takes every part.
func fit(parts []string, width int) string {
	line := strings.Join(parts, " ")
	if width <= 1 || len(line) <= width-1 {
		return line
	}
	line = parts[0]
	for _, p := range parts[1:] {
		if len(line)+1+len(p) > width-1 {
			break
		}
		line += " " + p
	}
	return line[:min(len(line), width-1)]
}

// plural is count, then noun, with an s unless n is 1: "1 chunk",
// "2 chunks", "10/20 records".
func plural(n int64, count, noun string) string {
	if n == 1 {
		return count + " " + noun
	}
	return count + " " + noun + "s"
}

// count is n in digits, then noun, singular or plural: "1 chunk",
// "5000 records" (no commas: the end's line is read by scripts too).
func count(n int64, noun string) string {
	return plural(n, strconv.FormatInt(n, 10), noun)
}

// group writes n with a comma between thousands: 10,400.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// rate says r records per second in at most four characters before
// "/s": 850/s, 3.1k/s, 31k/s, 1.2M/s.
func rate(r float64) string {
	switch {
	case r < 999.5:
		return fmt.Sprintf("%.0f/s", r)
	case r < 9950:
		return fmt.Sprintf("%.1fk/s", r/1e3)
	case r < 999.5e3:
		return fmt.Sprintf("%.0fk/s", r/1e3)
	case r < 9950e3:
		return fmt.Sprintf("%.1fM/s", r/1e6)
	default:
		return fmt.Sprintf("%.0fM/s", r/1e6)
	}
}

// clock says d as m:ss, or h:mm:ss from an hour on, rounded up to the
// second (an ETA of 0:00 would say that it is over).
func clock(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// humanBytes says n bytes with a binary unit.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / 1024
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		if v < 1024 || unit == "GiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
		v /= 1024
	}
	return ""
}
