package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// DefaultTokenTTL is how long a signed download URL stays valid when
// Config.TokenTTL is zero.
const DefaultTokenTTL = time.Hour

// minSecretLen is the shortest download secret or API token New
// accepts: a shorter one could be guessed.
const minSecretLen = 16

// MaxHeaderBytes is the most bytes of request line and headers that the
// server from HTTP.Server reads; a request with more gets 431. net/http
// allows 4 KiB on top of it for its buffer. No client of exportd sends a
// tenth of it; the limit keeps a hostile one from making the server hold
// net/http's default of 1 MiB per connection.
const MaxHeaderBytes = 64 << 10

// The timeouts of the server from HTTP.Server. There is no write timeout:
// a download of a large export over a slow link may take hours.
const (
	// readHeaderTimeout bounds a request's line and headers, so that a
	// client that sends them a byte at a time cannot hold a connection.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a keep-alive connection that waits this long
	// for its next request.
	idleTimeout = 2 * time.Minute
)

// Config configures New.
type Config struct {
	// Exports is the job runner; the server uses Status, List, and Dir
	// when Files is nil.
	Exports api.Exports
	// Files is where the chunk files of the exports are, which the chunk
	// and /data downloads send; nil means the export directories that
	// Exports.Dir names. ObjectFiles serves them from an object store.
	Files Files
	// Secret is the key that signs download URLs; it must be at least 16
	// bytes. When it is set, every route but /healthz needs a credential:
	// a signed URL for that very path (SignURL) or the APIToken as a
	// bearer; /metrics is also open when PublicMetrics is true. When it is
	// nil, no route needs a credential.
	Secret []byte
	// APIToken, when not empty, is accepted on every route as
	// "Authorization: Bearer <APIToken>" (compared in constant time); it
	// must be at least 16 bytes. It is what opens the list, the manifests
	// and the downloads to a client that holds no signed URL. Without a
	// Secret it is accepted but not required.
	APIToken string
	// PublicMetrics leaves /metrics open when a Secret closes the other
	// routes, for a scraper that sends no bearer token.
	PublicMetrics bool
	// TokenTTL is the lifetime of a signed download URL (default 1h).
	TokenTTL time.Duration
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
	// Registry is where the metrics are registered; nil means a new
	// registry that also holds the Go and process collectors.
	Registry *prometheus.Registry
	// Events is the progress events that GET /events and
	// /exports/{id}/events replay and follow (MemoryLog.FollowNATS feeds
	// one from NATS); nil means an empty log, so that the streams give the
	// exports' state and nothing more.
	Events EventLog
	// MaxEventStreams bounds the event streams open at once (0:
	// DefaultMaxEventStreams); one more is answered 503.
	MaxEventStreams int
	// Prefix is the NATS subject prefix, for the progressSubject of
	// POST /exports's reply; empty means api.DefaultPrefix.
	Prefix string
	// PublicURL is how clients reach the server, for the URLs in replies;
	// empty means the scheme and Host of each request.
	PublicURL string
	// Console, when not nil, serves GET / and GET /console/… (the web
	// console's page and assets), without a credential: the page holds no
	// data, it asks for the API token.
	Console http.Handler
}

// Server is the daemon's HTTP server: the export list and manifests, chunk
// and whole-export downloads, health and metrics. It is safe for
// concurrent use.
type Server struct {
	exports       api.Exports
	files         Files
	secret        []byte
	apiToken      string
	publicMetrics bool
	tokenTTL      time.Duration
	logger        *slog.Logger
	registry      *prometheus.Registry
	metrics       *Metrics
	mux           *http.ServeMux
	events        EventLog
	prefix        string
	publicURL     string
	console       http.Handler
	crossOrigin   *http.CrossOriginProtection
	streams       chan struct{} // one element per open event stream
	heartbeat     time.Duration
	shutdown      chan struct{} // closed when an http.Server of HTTPServer shuts down
	shutdownOnce  sync.Once
}

// New checks cfg, registers the metrics and builds the routes.
func New(cfg Config) (*Server, error) {
	if cfg.Exports == nil {
		return nil, errors.New("http: Exports is nil")
	}
	if cfg.Secret != nil && len(cfg.Secret) < minSecretLen {
		return nil, fmt.Errorf("http: download secret must be at least %d bytes, got %d", minSecretLen, len(cfg.Secret))
	}
	if cfg.APIToken != "" && len(cfg.APIToken) < minSecretLen {
		return nil, fmt.Errorf("http: API token must be at least %d bytes, got %d", minSecretLen, len(cfg.APIToken))
	}
	if cfg.MaxEventStreams < 0 {
		return nil, fmt.Errorf("http: max event streams must not be negative, got %d", cfg.MaxEventStreams)
	}
	if cfg.TokenTTL < 0 {
		return nil, fmt.Errorf("http: token TTL must not be negative, got %s", cfg.TokenTTL)
	}
	h := &Server{
		exports:       cfg.Exports,
		files:         cfg.Files,
		secret:        cfg.Secret,
		apiToken:      cfg.APIToken,
		publicMetrics: cfg.PublicMetrics,
		tokenTTL:      cfg.TokenTTL,
		logger:        cfg.Logger,
		registry:      cfg.Registry,
		events:        cfg.Events,
		prefix:        cfg.Prefix,
		publicURL:     strings.TrimSuffix(cfg.PublicURL, "/"),
		console:       cfg.Console,
		crossOrigin:   http.NewCrossOriginProtection(),
		streams:       make(chan struct{}, cmp.Or(cfg.MaxEventStreams, DefaultMaxEventStreams)),
		heartbeat:     heartbeatInterval,
		shutdown:      make(chan struct{}),
	}
	if h.files == nil {
		h.files = dirFiles{h.exports} // where the runner writes them
	}
	if h.events == nil {
		h.events = NewMemoryLog(0, 0)
	}
	if h.tokenTTL == 0 {
		h.tokenTTL = DefaultTokenTTL // long enough to start a large download, short enough that a leaked URL dies soon
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	if h.registry == nil {
		h.registry = prometheus.NewRegistry()
		if err := h.registry.Register(collectors.NewGoCollector()); err != nil {
			return nil, err
		}
		if err := h.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, err
		}
	}
	m, err := newMetrics(h.registry, h.exports)
	if err != nil {
		return nil, err
	}
	h.metrics = m
	h.mux = h.routes()
	return h, nil
}

// Handler returns the server's routes. GET patterns also answer HEAD.
func (h *Server) Handler() http.Handler { return h.mux }

// HTTPServer returns a new http.Server for Handler with the limits that a
// server facing untrusted clients needs: MaxHeaderBytes (431 beyond it),
// a 10 s bound on reading a request's headers, a 2 min idle timeout for
// keep-alive connections, and no write timeout (downloads may be long).
// What net/http itself logs (trouble with a connection, a handler's
// misuse of the ResponseWriter) goes to the logger at debug level, a
// handler's panic, which net/http recovers, at error level. The caller
// sets Addr or calls Serve. Its Shutdown ends the event streams, which
// would otherwise keep it waiting.
func (h *Server) HTTPServer() *http.Server {
	srv := &http.Server{
		Handler:           h.mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(serverLog{h.logger}, "", 0),
	}
	srv.RegisterOnShutdown(func() { h.shutdownOnce.Do(func() { close(h.shutdown) }) })
	return srv
}

// serverLog is the io.Writer behind http.Server.ErrorLog: one line per
// Write, as log.Logger makes them.
type serverLog struct{ logger *slog.Logger }

func (l serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelDebug // what clients do to connections is theirs, not the server's
	if strings.Contains(msg, "panic serving") {
		level = slog.LevelError // a handler's bug, which net/http recovered
	}
	l.logger.Log(context.Background(), level, msg) // net/http gives no request to log it with
	return len(p), nil
}

// Metrics returns the metrics that the job runner reports to.
func (h *Server) Metrics() *Metrics { return h.metrics }

func (h *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /exports", h.guard(h.serveList))
	mux.Handle("GET /exports/{id}", h.guard(h.serveManifest))
	mux.Handle("GET /exports/{id}/chunks/{n}", h.guard(h.serveChunk))
	mux.Handle("GET /exports/{id}/data", h.guard(h.serveData))
	mux.Handle("GET /exports/{id}/links", h.guard(h.serveLinks))
	mux.Handle("GET /exports/{id}/events", h.guard(h.serveExportEvents))
	mux.Handle("GET /events", h.guard(h.serveEvents))
	mux.Handle("POST /exports", h.control(h.serveStart))
	mux.Handle("POST /exports/{id}/cancel", h.control(h.serveCancel))
	mux.Handle("POST /exports/{id}/resume", h.control(h.serveResume))
	mux.Handle("DELETE /exports/{id}", h.control(h.serveDelete))
	if h.console != nil {
		mux.Handle("GET /{$}", h.console)
		mux.Handle("GET /console/", h.console)
	}
	mux.HandleFunc("GET /healthz", h.serveHealth)
	mux.HandleFunc("/", h.serveNoRoute)
	metrics := promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
		// A store that cannot list exports still leaves the other metrics
		// worth scraping.
		ErrorHandling: promhttp.ContinueOnError,
	})
	if h.publicMetrics {
		mux.Handle("GET /metrics", metrics)
	} else {
		mux.Handle("GET /metrics", h.guard(metrics.ServeHTTP))
	}
	return mux
}

func (h *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		h.writeError(w, r, http.StatusBadRequest, "malformed query")
		return
	}
	state, err := api.ParseState(q.Get("state"))
	if err != nil {
		h.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ms, err := h.exports.List(state)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	items := make([]api.ListItem, 0, len(ms))
	for _, m := range ms {
		items = append(items, m.Item())
	}
	h.writeJSON(w, r, http.StatusOK, items)
}

func (h *Server) serveManifest(w http.ResponseWriter, r *http.Request) {
	if m, ok := h.pathManifest(w, r); ok {
		h.writeManifest(w, r, m)
	}
}

// pathManifest is the manifest of the path's export, or the refusal
// answered.
func (h *Server) pathManifest(w http.ResponseWriter, r *http.Request) (*api.Manifest, bool) {
	id, ok := h.pathID(w, r)
	if !ok {
		return nil, false
	}
	m, err := h.exports.Status(id)
	if err != nil {
		h.writeErr(w, r, err)
		return nil, false
	}
	return m, true
}

// writeManifest answers m, with "chunks": [] rather than null.
func (h *Server) writeManifest(w http.ResponseWriter, r *http.Request, m *api.Manifest) {
	out := *m // the runner's manifest stays as it is
	if out.Chunks == nil {
		out.Chunks = []api.Chunk{}
	}
	h.writeJSON(w, r, http.StatusOK, &out)
}

// serveNoRoute answers what no route takes, with the JSON error body: 405
// (and Allow) for a method that the path's routes do not take, else 404.
// Neither needs a credential: the routes are no secret.
func (h *Server) serveNoRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := *r
		probe.Method = method
		if _, pattern := h.mux.Handler(&probe); pattern != "/" { // a route takes the path
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.writeError(w, r, http.StatusMethodNotAllowed, "method not allowed: the route answers "+strings.Join(allow, ", "))
		return
	}
	h.writeError(w, r, http.StatusNotFound, "no such route")
}

func (h *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// pathID returns the request's {id} if it has the form of an export id,
// else it answers 400. Nothing looks at an id before this check.
func (h *Server) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !checkpoint.ValidID(id) {
		h.writeError(w, r, http.StatusBadRequest, "malformed export id")
		return "", false
	}
	return id, true
}

// The most of an error's message and field that a reply carries, as over
// NATS.
const (
	maxMessage = 1024
	maxField   = 256
)

// writeErr turns err into a status: a bad request is 400 with the field
// it names, the api sentinels keep their meaning, anything else is a
// server error that is logged and not shown.
func (h *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *request.FieldError
	switch {
	case errors.As(err, &fe):
		status := http.StatusBadRequest
		if errors.Is(err, api.ErrForbidden) { // the request's own namespace
			status = http.StatusForbidden
		}
		h.writeJSON(w, r, status, api.ErrorBody{Error: api.ErrorDetail{
			Code: status, Message: api.Clip(fe.Error(), maxMessage), Field: api.Clip(fe.Field, maxField),
		}})
	case errors.Is(err, request.ErrInvalid):
		h.writeError(w, r, http.StatusBadRequest, api.Clip(err.Error(), maxMessage))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away, or Start took too long: try again.
		h.writeError(w, r, http.StatusServiceUnavailable, "exportd is busy or stopping: "+err.Error())
	case errors.Is(err, api.ErrNotFound):
		// err says "unknown export: <id>", as the NATS service's 404 does;
		// the id is one the route checked (26 base32 characters).
		h.writeError(w, r, http.StatusNotFound, api.Clip(err.Error(), maxMessage))
	case errors.Is(err, api.ErrForbidden):
		// Not err's text: it names the namespace that the allow-list keeps out.
		h.writeError(w, r, http.StatusForbidden, "the export's namespace is outside the allow-list")
	case errors.Is(err, api.ErrState):
		h.writeError(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, api.ErrBusy):
		h.writeError(w, r, http.StatusServiceUnavailable, err.Error())
	default:
		h.logger.Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		h.writeError(w, r, http.StatusInternalServerError, "internal error")
	}
}

// writeError answers status with the JSON error body.
func (h *Server) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.writeJSON(w, r, status, api.ErrorBody{Error: api.ErrorDetail{Code: status, Message: msg}})
}

func (h *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		h.logger.Error("encode http response", "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":500,"message":"internal error"}}`)
	}
	data = append(data, '\n')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(len(data))) // HEAD tells the length that GET sends
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data) // the client went away; nothing to do
	}
}
