package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// serviceError is an error reply of the exportd service: its micro error
// code and the body's message, which starts with the field of a 400.
type serviceError struct {
	Op, Message string
	Code        int
}

func (e *serviceError) Error() string { return fmt.Sprintf("%s: %d %s", e.Op, e.Code, e.Message) }

// client talks to the exportd service over NATS.
type client struct {
	nc      *nats.Conn
	prefix  string
	timeout time.Duration
	// reconnected gets a value when the connection is back after a loss:
	// events published meanwhile are gone, the state must be asked for.
	reconnected chan struct{}
}

// run carries out cfg's command: results on stdout, messages and progress
// on stderr.
func run(ctx context.Context, cfg *config) error {
	c := &client{prefix: cfg.Prefix, timeout: cfg.Timeout, reconnected: make(chan struct{}, 1)}
	opts := []nats.Option{
		nats.Name("exportctl"),
		nats.Timeout(cfg.Timeout),
		nats.MaxReconnects(-1), // a long watch outlives a broker restart; the first connect fails fast
		nats.ReconnectHandler(func(*nats.Conn) {
			select {
			case c.reconnected <- struct{}{}:
			default:
			}
		}),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return fmt.Errorf("%w: --nkey: %v", errUsage, err)
		}
		opts = append(opts, o)
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", cfg.NATSURL, err)
	}
	defer nc.Close()
	c.nc = nc

	out := os.Stdout
	switch cfg.Command {
	case "start":
		return c.start(ctx, cfg, out)
	case "watch":
		return c.watch(ctx, cfg.ID, os.Stderr)
	case "get":
		return c.get(ctx, cfg, cfg.ID, cfg.DataURL, os.Stderr)
	case "list":
		return c.list(ctx, cfg, out)
	case "status", "cancel", "resume", "delete":
		var m struct{ ID, State string }
		raw, err := c.call(ctx, cfg.Command, object("id", cfg.ID), &m)
		switch {
		case err != nil:
			return err
		case cfg.JSON || cfg.Command == "status":
			return printJSON(out, raw)
		case cfg.Command == "delete":
			m.State = "deleted"
		}
		_, err = fmt.Fprintln(out, m.ID, m.State)
		return err
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cfg.Command)
}

// call sends data to <prefix>.<op>, decodes the reply into out (when not
// nil) and returns it raw too. Error replies become a *serviceError.
func (c *client) call(ctx context.Context, op string, data []byte, out any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	subject := c.prefix + "." + op
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%s: no exportd service answers on %s (is exportd serve running, with this --prefix?)", op, subject)
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("%s: no reply within %s", op, c.timeout)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
		se := &serviceError{Op: op, Message: msg.Header.Get(micro.ErrorHeader)}
		se.Code, _ = strconv.Atoi(code)
		var body struct{ Error struct{ Message string } }
		if json.Unmarshal(msg.Data, &body) == nil && body.Error.Message != "" {
			se.Message = body.Error.Message
		}
		return nil, se
	}
	if out != nil {
		if err := json.Unmarshal(msg.Data, out); err != nil {
			return nil, fmt.Errorf("%s: reply: %w", op, err)
		}
	}
	return msg.Data, nil
}

// status returns export id's manifest.
func (c *client) status(ctx context.Context, id string) (*api.Manifest, error) {
	var m api.Manifest
	_, err := c.call(ctx, "status", object("id", id), &m)
	return &m, err
}

// start starts an export and prints its id (with --json, the reply); with
// --wait it then watches the export and downloads it.
func (c *client) start(ctx context.Context, cfg *config, out io.Writer) error {
	body, err := requestBody(cfg, os.Stdin)
	if err != nil {
		return err
	}
	var rep struct{ ID, DataURL string }
	raw, err := c.call(ctx, "start", body, &rep)
	if err != nil {
		return err
	}
	if cfg.JSON {
		err = printJSON(out, raw)
	} else {
		_, err = fmt.Fprintln(out, rep.ID)
	}
	if err != nil || !cfg.Wait {
		return err
	}
	if err := c.watch(ctx, rep.ID, os.Stderr); err != nil {
		return err
	}
	return c.get(ctx, cfg, rep.ID, rep.DataURL, os.Stderr)
}

// list prints the exports as a table, or the reply with --json.
func (c *client) list(ctx context.Context, cfg *config, out io.Writer) error {
	var items []struct {
		ID, State string
		Records   int64
		CreatedAt time.Time
	}
	raw, err := c.call(ctx, "list", object("state", cfg.State), &items)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return printJSON(out, raw)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tRECORDS\tCREATED")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", it.ID, it.State, it.Records, it.CreatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

// object is the JSON {"key": value}.
func object(key, value string) []byte {
	data, _ := json.Marshal(map[string]string{key: value}) // strings: cannot fail
	return data
}

// printJSON writes a reply indented.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("reply is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
