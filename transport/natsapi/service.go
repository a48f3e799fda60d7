package natsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// Name is the micro service's name, as `nats micro ls` shows it.
const Name = "exportd"

// startTimeout bounds one Start call: accepting a request writes the
// checkpoint and queues the job, it never waits for the export itself.
const startTimeout = 30 * time.Second

// flushTimeout bounds the wait for the server to confirm the
// endpoints' subscriptions.
const flushTimeout = 5 * time.Second

// Config configures the NATS service.
type Config struct {
	// Conn is the connection the service answers on; the caller owns it.
	Conn *nats.Conn
	// Exports runs the exports.
	Exports api.Exports
	// Prefix is the first part of every subject; empty means
	// DefaultPrefix ("exports").
	Prefix string
	// Version is the daemon's version. micro wants SemVer: a leading "v"
	// is dropped, and anything else that is not SemVer is announced as
	// 0.0.0-dev with the original in the "build" metadata.
	Version string
	// URLs builds the manifestUrl and dataUrl of a start reply (they may
	// carry signed tokens); nil gives empty strings.
	URLs func(id string) (manifestURL, dataURL string)
	// Last returns the newest progress event sent for an export, if known
	// (Publisher.Last); nil makes <prefix>.last answer from the manifest
	// alone.
	Last func(id string) (api.Event, bool)
	// Metadata is added to the service's own (its prefix and build): in
	// a cluster, the node's name and what it keeps its chunks in, so that
	// `nats micro info` tells the nodes apart.
	Metadata map[string]string
	// Logger receives server-side failures; nil discards.
	Logger *slog.Logger
}

// Service is the exportd micro service: <prefix>.start, .status,
// .list, .cancel, .resume, .delete and .last, found by micro discovery
// ($SRV.PING|INFO|STATS.exportd).
//
// Each endpoint is its own subscription, so a slow call (a Start that
// writes the checkpoint, a Delete that cancels first) delays only later
// calls of that endpoint, never the connection or the other endpoints; no
// handler waits for an export to run. With several daemons on one NATS,
// the endpoints share the micro queue group and each request goes to one.
//
// Errors carry micro's headers (Nats-Service-Error-Code: 400, 403, 404,
// 409, 503 or 500; Nats-Service-Error: the message) and the body
// {"error": {"code", "message", "field"}}, where field names the request
// field of a 400 and is left out otherwise. A 500 says only "internal
// error"; the cause goes to the log.
type Service struct {
	svc     micro.Service
	exports api.Exports
	prefix  string
	urls    func(string) (string, string)
	last    func(string) (api.Event, bool)
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
}

// New registers the service and its endpoints on cfg.Conn;
// when it returns, the server routes requests to them.
func New(cfg Config) (*Service, error) {
	if cfg.Conn == nil {
		return nil, errors.New("nats service: no connection")
	}
	if cfg.Exports == nil {
		return nil, errors.New("nats service: no exports")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = api.DefaultPrefix
	}
	for tok := range strings.SplitSeq(cfg.Prefix, ".") {
		if !api.ValidSubjectToken(tok) {
			return nil, fmt.Errorf("nats service: prefix %q is not a subject without wildcards", cfg.Prefix)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		exports: cfg.Exports,
		prefix:  cfg.Prefix,
		urls:    cfg.URLs,
		last:    cfg.Last,
		log:     cfg.Logger,
	}
	svc, err := s.addService(cfg.Conn, cfg.Version, cfg.Metadata)
	if err != nil {
		return nil, fmt.Errorf("nats service: %w", err)
	}
	s.svc = svc
	s.ctx, s.cancel = context.WithCancel(context.Background())

	group := svc.AddGroup(cfg.Prefix)
	for _, ep := range []struct {
		name, about string
		handle      func(context.Context, []byte) (any, error)
	}{
		{"start", "request: an export request; reply: {id, state, progressSubject, manifestUrl, dataUrl}", s.start},
		{"status", "request: {id}; reply: the manifest", s.status},
		{"list", "request: {} or {state}; reply: [{id, state, records, createdAt}]", s.list},
		{"cancel", "request: {id}; reply: the manifest", s.cancelExport},
		{"resume", "request: {id}; reply: the manifest", s.resume},
		{"delete", "request: {id}; reply: {id, deleted: true}", s.delete},
		{"last", "request: {id} or {}; reply: the newest progress event of that export, or of every export", s.lastEvent},
	} {
		err := group.AddEndpoint(ep.name, s.handler(ep.name, ep.handle),
			micro.WithEndpointSubject(ep.name),
			micro.WithEndpointMetadata(map[string]string{"description": ep.about, "format": "application/json"}))
		if err != nil {
			s.cancel()
			return nil, errors.Join(fmt.Errorf("nats service: endpoint %s: %w", ep.name, err), svc.Stop())
		}
	}
	// One round trip, so that the server knows the endpoints when this
	// returns. A connection that is down sends them when it is back.
	if err := cfg.Conn.FlushTimeout(flushTimeout); err != nil {
		s.log.Warn("nats service registered while the connection is not answering", "err", err)
	}
	return s, nil
}

// addService adds the micro service, falling back to a SemVer placeholder
// when version is not SemVer.
func (s *Service) addService(nc *nats.Conn, version string, meta map[string]string) (micro.Service, error) {
	md := map[string]string{}
	maps.Copy(md, meta)
	md["prefix"] = s.prefix
	cfg := micro.Config{
		Name:        Name,
		Version:     strings.TrimPrefix(version, "v"),
		Description: "exports MongoDB collections into chunked, compressed, resumable files",
		Metadata:    md,
		ErrorHandler: func(_ micro.Service, err *micro.NATSError) {
			s.log.Error("nats service", "subject", err.Subject, "err", err.Description)
		},
	}
	svc, err := micro.AddService(nc, cfg)
	if errors.Is(err, micro.ErrConfigValidation) && cfg.Version != "0.0.0-dev" {
		cfg.Version = "0.0.0-dev"
		if version != "" {
			cfg.Metadata["build"] = version
		}
		svc, err = micro.AddService(nc, cfg)
	}
	return svc, err
}

// Stop removes the service from NATS; requests being handled finish.
func (s *Service) Stop() error {
	s.cancel()
	return s.svc.Stop()
}

// Info is the service's micro identity and endpoints, as $SRV.INFO gives
// them.
func (s *Service) Info() micro.Info { return s.svc.Info() }

// handler turns an endpoint function into a micro handler: its value is
// the JSON reply, its error a micro error.
func (s *Service) handler(name string, handle func(context.Context, []byte) (any, error)) micro.Handler {
	return micro.HandlerFunc(func(req micro.Request) {
		var v any
		err := request.CheckSize(req.Data())
		if err == nil {
			v, err = handle(s.ctx, req.Data())
		}
		var data []byte
		if err == nil {
			data, err = json.Marshal(v)
		}
		if err != nil {
			s.respondError(req, name, err)
			return
		}
		if err := req.Respond(data); err != nil {
			s.log.Debug("nats reply not sent", "endpoint", name, "err", err)
		}
	})
}

// The most of an error's message and field that a reply carries.
const (
	maxMessage = 1024
	maxField   = 256
)

// errorOf turns err into the error reply; only here do errors become
// codes.
func errorOf(err error) api.ErrorDetail {
	var fe *request.FieldError
	switch {
	case errors.Is(err, api.ErrForbidden):
		d := api.ErrorDetail{Code: 403, Message: err.Error()}
		if errors.As(err, &fe) {
			d.Message, d.Field = fe.Error(), fe.Field
		}
		return d
	case errors.As(err, &fe):
		return api.ErrorDetail{Code: 400, Message: err.Error(), Field: fe.Field}
	case errors.Is(err, request.ErrInvalid):
		return api.ErrorDetail{Code: 400, Message: err.Error()}
	case errors.Is(err, api.ErrNotFound):
		return api.ErrorDetail{Code: 404, Message: err.Error()}
	case errors.Is(err, api.ErrState):
		return api.ErrorDetail{Code: 409, Message: err.Error()}
	case errors.Is(err, api.ErrBusy):
		return api.ErrorDetail{Code: 503, Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The service is stopping, or Start took too long: try again.
		return api.ErrorDetail{Code: 503, Message: "exportd is busy or stopping: " + err.Error()}
	default:
		return api.ErrorDetail{Code: 500, Message: "internal error"}
	}
}

func (s *Service) respondError(req micro.Request, endpoint string, err error) {
	d := errorOf(err)
	if d.Code == 500 {
		s.log.Error("nats request failed", "endpoint", endpoint, "err", err)
	}
	// However much of the request an error repeats, the reply stays well
	// under any server's max payload.
	d.Message, d.Field = api.Clip(d.Message, maxMessage), api.Clip(d.Field, maxField)
	body, _ := json.Marshal(api.ErrorBody{Error: d}) // strings and an int: cannot fail
	// A header value is one line.
	desc := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, d.Message)
	if err := req.Error(fmt.Sprint(d.Code), desc, body); err != nil {
		s.log.Debug("nats error reply not sent", "endpoint", endpoint, "err", err)
	}
}

// startReply answers <prefix>.start.
type startReply struct {
	ID              string    `json:"id"`
	State           api.State `json:"state"`
	ProgressSubject string    `json:"progressSubject"`
	ManifestURL     string    `json:"manifestUrl"`
	DataURL         string    `json:"dataUrl"`
}

func (s *Service) start(ctx context.Context, data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &request.FieldError{Field: "request", Message: "the body must be an export request (JSON)"}
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	m, err := s.exports.Start(ctx, bytes.Clone(data))
	if err != nil {
		return nil, err
	}
	reply := startReply{ID: m.ID, State: m.State, ProgressSubject: api.ProgressSubject(s.prefix, m.ID)}
	if s.urls != nil {
		reply.ManifestURL, reply.DataURL = s.urls(m.ID)
	}
	return reply, nil
}

func (s *Service) status(_ context.Context, data []byte) (any, error) {
	return s.withID(data, s.exports.Status)
}

func (s *Service) cancelExport(_ context.Context, data []byte) (any, error) {
	return s.withID(data, s.exports.Cancel)
}

func (s *Service) resume(_ context.Context, data []byte) (any, error) {
	return s.withID(data, s.exports.Resume)
}

// deleteReply answers <prefix>.delete.
type deleteReply struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func (s *Service) delete(_ context.Context, data []byte) (any, error) {
	id, err := decodeID(data)
	if err != nil {
		return nil, err
	}
	if err := s.exports.Delete(id); err != nil {
		return nil, err
	}
	return deleteReply{ID: id, Deleted: true}, nil
}

// withID decodes an {id} request and answers with op's manifest.
func (s *Service) withID(data []byte, op func(string) (*api.Manifest, error)) (any, error) {
	id, err := decodeID(data)
	if err != nil {
		return nil, err
	}
	m, err := op(id)
	if err != nil {
		return nil, err
	}
	out := *m // the runner's manifest stays as it is
	if out.Chunks == nil {
		out.Chunks = []api.Chunk{}
	}
	return &out, nil
}

func (s *Service) list(_ context.Context, data []byte) (any, error) {
	var req struct {
		State string `json:"state"`
	}
	if err := decodeRequest(data, &req); err != nil {
		return nil, err
	}
	state, err := api.ParseState(req.State)
	if err != nil {
		return nil, &request.FieldError{Field: "state", Message: err.Error()}
	}
	ms, err := s.exports.List(state)
	if err != nil {
		return nil, err
	}
	items := make([]api.ListItem, 0, len(ms))
	for _, m := range ms {
		items = append(items, m.Item())
	}
	return items, nil
}
