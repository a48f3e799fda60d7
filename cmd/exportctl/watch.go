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
		fmt.Fprintf(w, "export %s is already %s: %s in %s\n", id, m.State, count(m.Records, "record"), count(int64(len(m.Chunks)), "chunk"))
		return err
	}
	p := &progressView{w: w, id: id}
	var spin <-chan time.Time // nil, never ready, unless w is a terminal
	if f, ok := w.(*os.File); ok {
		p.tty, _ = terminal(f)
		if p.tty {
			p.width = func() int { _, cols := terminal(f); return cols }
			t := time.NewTicker(spinEvery)
			defer t.Stop()
			spin = t.C
		}
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
		case <-spin:
			p.tick()
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
