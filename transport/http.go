package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
)

// DefaultTokenTTL is how long a signed download URL stays valid when
// HTTPConfig.TokenTTL is zero.
const DefaultTokenTTL = time.Hour

// minSecretLen is the shortest download secret NewHTTP accepts: a shorter
// HMAC key could be guessed.
const minSecretLen = 16

// HTTPConfig configures NewHTTP.
type HTTPConfig struct {
	// Exports is the job runner; the server uses Status, List and Dir.
	Exports Exports
	// Secret is the key that signs download URLs. When it is nil, downloads
	// need no token; otherwise it must be at least 16 bytes.
	Secret []byte
	// TokenTTL is the lifetime of a signed download URL (default 1h).
	TokenTTL time.Duration
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
	// Registry is where the metrics are registered; nil means a new
	// registry that also holds the Go and process collectors.
	Registry *prometheus.Registry
}

// HTTP is the daemon's HTTP server: the export list and manifests, chunk
// and whole-export downloads, health and metrics. It is safe for
// concurrent use.
type HTTP struct {
	exports  Exports
	secret   []byte
	tokenTTL time.Duration
	logger   *slog.Logger
	registry *prometheus.Registry
	metrics  *Metrics
	mux      *http.ServeMux
}

// NewHTTP checks cfg, registers the metrics and builds the routes.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if cfg.Exports == nil {
		return nil, errors.New("http: Exports is nil")
	}
	if cfg.Secret != nil && len(cfg.Secret) < minSecretLen {
		return nil, fmt.Errorf("http: download secret must be at least %d bytes, got %d", minSecretLen, len(cfg.Secret))
	}
	if cfg.TokenTTL < 0 {
		return nil, fmt.Errorf("http: token TTL must not be negative, got %s", cfg.TokenTTL)
	}
	h := &HTTP{
		exports:  cfg.Exports,
		secret:   cfg.Secret,
		tokenTTL: cfg.TokenTTL,
		logger:   cfg.Logger,
		registry: cfg.Registry,
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
func (h *HTTP) Handler() http.Handler { return h.mux }

// Metrics returns the metrics that the job runner reports to.
func (h *HTTP) Metrics() *Metrics { return h.metrics }

func (h *HTTP) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /exports", h.serveList)
	mux.HandleFunc("GET /exports/{id}", h.serveManifest)
	mux.HandleFunc("GET /exports/{id}/chunks/{n}", h.serveChunk)
	mux.HandleFunc("GET /exports/{id}/data", h.serveData)
	mux.HandleFunc("GET /healthz", h.serveHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
		// A store that cannot list exports still leaves the other metrics
		// worth scraping.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// httpListItem is one export in GET /exports, the same shape as a NATS
// exports.list entry.
type httpListItem struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Records   int64     `json:"records"`
	CreatedAt time.Time `json:"createdAt"`
}

func (h *HTTP) serveList(w http.ResponseWriter, r *http.Request) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", chunker.StateQueued, chunker.StateRunning, chunker.StateCompleted, chunker.StateFailed, chunker.StateCancelled:
	default:
		h.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("unknown state %q", state))
		return
	}
	ms, err := h.exports.List(state)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	items := make([]httpListItem, 0, len(ms))
	for _, m := range ms {
		items = append(items, httpListItem{ID: m.ID, State: m.State, Records: m.Records, CreatedAt: m.CreatedAt})
	}
	h.writeJSON(w, r, http.StatusOK, items)
}

func (h *HTTP) serveManifest(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	m, err := h.exports.Status(id)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	if m.Chunks == nil {
		m.Chunks = []chunker.Chunk{}
	}
	h.writeJSON(w, r, http.StatusOK, m)
}

func (h *HTTP) serveHealth(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// pathID returns the request's {id} if it has the form of an export id,
// else it answers 400. Nothing looks at an id before this check.
func (h *HTTP) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !checkpoint.ValidID(id) {
		h.writeError(w, r, http.StatusBadRequest, "malformed export id")
		return "", false
	}
	return id, true
}

// httpErrorBody is the JSON of every error answer.
type httpErrorBody struct {
	Error httpErrorDetail `json:"error"`
}

type httpErrorDetail struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeErr turns err into a status: the transport sentinels keep their
// meaning, anything else is a server error that is logged and not shown.
func (h *HTTP) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		h.writeError(w, r, http.StatusNotFound, "unknown export")
	case errors.Is(err, ErrState):
		h.writeError(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, ErrBusy):
		h.writeError(w, r, http.StatusServiceUnavailable, err.Error())
	default:
		h.logger.Error("http request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		h.writeError(w, r, http.StatusInternalServerError, "internal error")
	}
}

// writeError answers status with the JSON error body.
func (h *HTTP) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.writeJSON(w, r, status, httpErrorBody{Error: httpErrorDetail{Code: status, Message: msg}})
}

func (h *HTTP) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
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
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data) // the client went away; nothing to do
	}
}
