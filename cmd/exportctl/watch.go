package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/nats-io/nats.go"
)

var (
	// errFailed and errCancelled are how a watched export ended when it
	// did not complete.
	errFailed    = errors.New("failed")
	errCancelled = errors.New("was cancelled")
)

const (
	// watchQuiet is how long watch waits without an event before it asks
	// for the state: a final event lost in a reconnect must not leave it
	// waiting for ever.
	watchQuiet = 10 * time.Second
	// lineEvery is how often a progress line is printed when stderr is
	// not a terminal.
	lineEvery = 5 * time.Second
)

// watch follows export id until it ends: nil when it completed, else an
// error wrapping errFailed or errCancelled. Progress goes to w.
func (c *client) watch(ctx context.Context, id string, w io.Writer) error {
	// Subscribe before asking for the state, so that no event falls between.
	events := make(chan *nats.Msg, 1024)
	sub, err := c.nc.ChanSubscribe(api.ProgressSubject(c.prefix, id), events)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer sub.Unsubscribe()
	m, err := c.status(ctx, id)
	if err != nil {
		return err
	}
	if done, err := ended(id, m.State, m.Error); done {
		fmt.Fprintf(w, "export %s is already %s: %d records in %d chunks\n", id, m.State, m.Records, len(m.Chunks))
		return err
	}
	p := &progressView{w: w, id: id}
	if f, ok := w.(*os.File); ok {
		fi, err := f.Stat()
		p.tty = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	p.show(api.Event{Event: string(m.State), Records: m.Records, Bytes: m.Bytes, Chunks: len(m.Chunks)})
	quiet := time.NewTimer(watchQuiet)
	defer quiet.Stop()
	var seq int64
	for {
		ask := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg := <-events:
			var ev api.Event
			if json.Unmarshal(msg.Data, &ev) != nil {
				continue
			}
			quiet.Reset(watchQuiet)
			ask = seq > 0 && ev.Seq > seq+1 // events were lost: the state may be further on
			seq = ev.Seq
			state := api.State(strings.TrimPrefix(ev.Event, "export-"))
			if done, err := ended(id, state, ev.Error); done {
				p.done(state, ev.Records, ev.Chunks, ev.Bytes)
				return err
			}
			p.show(ev)
		case <-c.reconnected:
			ask = true
		case <-quiet.C:
			quiet.Reset(watchQuiet)
			ask = true
		}
		if !ask {
			continue
		}
		m, err := c.status(ctx, id)
		var se *serviceError
		if errors.As(err, &se) && se.Code == 404 {
			return err // deleted meanwhile
		} else if err != nil {
			continue // NATS is away: the reconnect asks again
		}
		if done, err := ended(id, m.State, m.Error); done {
			p.done(m.State, m.Records, len(m.Chunks), m.Bytes)
			return err
		}
	}
}

// ended reports whether state is final, and the error it means.
func ended(id string, state api.State, msg string) (bool, error) {
	switch state {
	case api.StateCompleted:
		return true, nil
	case api.StateFailed:
		return true, fmt.Errorf("export %s %w: %s", id, errFailed, msg)
	case api.StateCancelled:
		return true, fmt.Errorf("export %s %w", id, errCancelled)
	}
	return false, nil
}

// progressView draws progress: a bar redrawn in place on a terminal, else
// a line on each change of phase and every lineEvery.
type progressView struct {
	w          io.Writer
	id         string
	tty, drawn bool
	phase      string
	last       time.Time
}

func (p *progressView) show(ev api.Event) {
	phase := strings.TrimPrefix(ev.Event, "export-")
	if ev.Event == api.EventFileGeneration || ev.Event == api.EventProcessing {
		phase = "running"
	}
	line := fmt.Sprintf("%s  %d records", phase, ev.Records)
	if ev.Total != nil && *ev.Total > 0 {
		pct := min(100, 100*float64(ev.Records)/float64(*ev.Total))
		n := int(pct / 5)
		line = fmt.Sprintf("[%s%s] %5.1f%%  %d/%d records", strings.Repeat("=", n), strings.Repeat(" ", 20-n), pct, ev.Records, *ev.Total)
	}
	line += fmt.Sprintf("  %.0f rec/s  %d chunks  %s", ev.Rate, ev.Chunks, humanBytes(ev.Bytes))
	if ev.Total != nil && ev.Rate > 0 && ev.Records < *ev.Total {
		line += "  ETA " + time.Duration(float64(*ev.Total-ev.Records)/ev.Rate*1e9).Round(time.Second).String()
	}
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
	case phase != p.phase || time.Since(p.last) >= lineEvery:
		fmt.Fprintf(p.w, "export %s: %s\n", p.id, line)
		p.last = time.Now()
	}
	p.phase = phase
}

// done replaces the bar with the export's outcome.
func (p *progressView) done(state api.State, records int64, chunks int, bytes int64) {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "export %s %s: %d records in %d chunks, %s\n", p.id, state, records, chunks, humanBytes(bytes))
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
