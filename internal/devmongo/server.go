package devmongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/loopback"
)

// DefaultAddr is the address Start listens on when Options.Addr is empty:
// MongoDB's port, on loopback only.
const DefaultAddr = "127.0.0.1:27017"

// Options configures Start.
type Options struct {
	// Addr is the TCP address to listen on. Empty means DefaultAddr; port 0
	// picks a free port. There is no authentication, so an address that is not
	// loopback is allowed but logged as a warning.
	Addr string

	// Dir holds the SQLite files, one per database. It is required and is
	// created if missing. Data in it survives a restart.
	Dir string

	// Logger receives devmongo's records and FerretDB's. Nil means a text
	// handler on standard error.
	Logger *slog.Logger

	// LogLevel is the lowest level of FerretDB's records that reach Logger.
	// Nil means slog.LevelWarn: FerretDB logs every connection at Info. Below
	// slog.LevelError, FerretDB's dumps of failed commands are always dropped
	// (see ferretdbHandler).
	LogLevel slog.Leveler
}

// applyDefaults fills the empty fields of o, with the reason for each default.
func (o *Options) applyDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr // what a developer's tools expect, and never exposed
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn // keep warnings and errors, drop per-connection chatter
	}
}

// readyTimeout bounds Start's readiness ping when its context has no deadline.
// FerretDB answers in milliseconds; ten seconds only covers a loaded CI machine.
const readyTimeout = 10 * time.Second

// newMu serialises ferretdb.New, which writes a package-level variable of
// FerretDB (its version's package name) and so races with itself when tests
// start servers in parallel.
var newMu sync.Mutex

// Server is a running FerretDB with the SQLite handler. Its methods are safe
// for concurrent use.
type Server struct {
	uri  string
	addr string

	stop    context.CancelFunc
	stopped chan struct{} // closed when the goroutine running FerretDB returns
	runErr  error         // set before stopped is closed
	once    sync.Once
}

// Start starts FerretDB on opts.Addr with its data in opts.Dir and returns once
// it answers a ping. ctx bounds the start only: the server runs until Close.
// On error nothing is left running.
func Start(ctx context.Context, opts Options) (*Server, error) {
	opts.applyDefaults()
	if opts.Dir == "" {
		return nil, ErrNoDir
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devmongo: data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("devmongo: data directory: %w", err)
	}
	logger := opts.Logger.With("component", "devmongo")
	if !loopback.Addr(opts.Addr) {
		logger.Warn("listening on an address that is not loopback; the server has no authentication",
			"addr", opts.Addr)
	}

	addr, err := probeAddr(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("devmongo: listen on %s: %w", opts.Addr, err)
	}

	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		Logger: slog.New(ferretdbHandler{
			level: opts.LogLevel,
			next:  opts.Logger.Handler(),
		}).With("component", "ferretdb"),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL(dir),
	})
	newMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("devmongo: start FerretDB on %s: %w", opts.Addr, err)
	}

	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{
		uri:     f.MongoDBURI(), // the listener exists already: New listens, Run accepts
		stop:    stop,
		stopped: make(chan struct{}),
	}
	go func() {
		defer close(s.stopped)
		s.runErr = f.Run(runCtx)
	}()

	u, err := url.Parse(s.uri)
	if err == nil {
		s.addr = u.Host
		err = ping(ctx, s.uri)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("%w at %s: %w", ErrNotReady, s.uri, err), s.Close())
	}
	logger.Debug("FerretDB ready", "uri", s.uri, "dir", dir)
	return s, nil
}

// URI returns the server's MongoDB connection string, mongodb://HOST:PORT/.
func (s *Server) URI() string { return s.uri }

// Addr returns the address the server listens on, HOST:PORT, with the port
// chosen by the system if Options.Addr asked for port 0.
func (s *Server) Addr() string { return s.addr }

// Close stops the server and waits until FerretDB has closed its listener, its
// connections and its SQLite databases. Clients still connected are given up
// to FerretDB's grace period (3 s) to leave, so disconnect them first. Close
// can be called any number of times; every call returns the same error.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.stop()
		<-s.stopped
	})
	return s.runErr
}

// probeAddr checks that addr can be listened on and returns it with the port
// that the system picks if addr asks for port 0. ferretdb.New leaks its SQLite
// backend when it cannot listen, and FerretDB's leak detector then panics the
// whole process at a later garbage collection: probing first turns a busy or
// bad address into a plain error. Only a port taken by another process in the
// microseconds between the probe and FerretDB's listen escapes it.
func probeAddr(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	probed := l.Addr().String()
	return probed, l.Close()
}

// sqliteURL returns FerretDB's SQLite URI for the directory dir, which must be
// absolute. FerretDB requires the trailing slash.
func sqliteURL(dir string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/", OmitHost: true}
	return u.String()
}

// ping connects to uri and runs a ping command, to know that FerretDB both
// accepts connections and answers commands.
func ping(ctx context.Context, uri string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetDirect(true))
	if err != nil {
		return err
	}
	err = client.Ping(ctx, nil)
	return errors.Join(err, client.Disconnect(context.WithoutCancel(ctx)))
}

// ferretdbHandler passes on the records of next that are at least level,
// except FerretDB's dumps of failed commands' responses below slog.LevelError:
// the client receives those errors anyway, and one fails on every Disconnect
// of the Go driver, whose endSessions command FerretDB 1.24 does not know.
//
// It applies attributes and groups to next only when a record gets through.
// FerretDB calls Logger.With with every SQL statement's arguments, the
// inserted documents included, and slog's built-in handlers format attributes
// in WithAttrs: passed on eagerly, that formatting took a quarter of the CPU
// time of seeding, for Debug records that were then dropped.
type ferretdbHandler struct {
	level slog.Leveler
	next  slog.Handler
	with  []handlerOp // applied to next, in order, when a record is handled
}

// handlerOp is one WithGroup (group != "") or WithAttrs call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

func (h ferretdbHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.next.Enabled(ctx, l)
}

func (h ferretdbHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError &&
		(strings.HasPrefix(r.Message, "Response header:") || strings.HasPrefix(r.Message, "Response message:")) {
		return nil
	}
	next := h.next
	for _, op := range h.with {
		if op.group != "" {
			next = next.WithGroup(op.group)
		} else {
			next = next.WithAttrs(op.attrs)
		}
	}
	return next.Handle(ctx, r)
}

func (h ferretdbHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h.with = append(slices.Clip(h.with), handlerOp{attrs: attrs})
	return h
}

func (h ferretdbHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h.with = append(slices.Clip(h.with), handlerOp{group: name})
	return h
}
