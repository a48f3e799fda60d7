package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// startTimeout bounds one Start: accepting a request writes the checkpoint
// and queues the job, it never waits for the export itself.
const startTimeout = 30 * time.Second

// The refusals of the state-changing routes.
var (
	// errControlOff: the daemon has no API token, so nothing may change
	// its exports over HTTP (401).
	errControlOff = errors.New("this route changes exports and needs the daemon's API token, but none is configured (set apiToken or EXPORTD_API_TOKEN); until then it is refused")
	// errControlToken: the request carries no bearer token (401).
	errControlToken = errors.New("API token required: send Authorization: Bearer <apiToken> (a signed download URL does not open this route)")
	// errCrossOrigin: a browser sent the request from another origin (403).
	errCrossOrigin = errors.New("cross-origin request refused: this route answers only pages of its own origin and clients that are not browsers")
)

// control wraps a route that changes exports: it passes only requests
// that carry the API token as a bearer (never a signed URL, which opens
// only a download) and that no browser sent from another origin
// (Sec-Fetch-Site, else Origin against Host). A daemon without an API
// token refuses them all. There is no CORS: no Access-Control-Allow-*
// header is ever sent, so another origin's page cannot even read a reply,
// and a token in a header (not a cookie) is never sent by a browser on its
// own, so a forged request carries none.
func (h *Server) control(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.crossOrigin.Check(r) != nil {
			h.writeError(w, r, http.StatusForbidden, errCrossOrigin.Error())
			return
		}
		token, ok := bearer(r)
		switch {
		case h.apiToken == "":
			w.Header().Set("WWW-Authenticate", `Bearer realm="exportd"`)
			h.writeError(w, r, http.StatusUnauthorized, errControlOff.Error())
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="exportd"`)
			h.writeError(w, r, http.StatusUnauthorized, errControlToken.Error())
		case !tokenEqual(token, h.apiToken):
			h.writeError(w, r, http.StatusForbidden, errBearerInvalid.Error())
		default:
			next(w, r)
		}
	})
}

// readJSON reads r's body: at most request.MaxRequestBytes (413 beyond),
// with Content-Type application/json when there is one (415 otherwise). A
// route that wants a body gets 415 without one too.
func (h *Server) readJSON(w http.ResponseWriter, r *http.Request, want bool) ([]byte, bool) {
	if r.ContentLength == 0 && !want {
		return nil, true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.writeError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return nil, false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, request.MaxRequestBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		h.writeJSON(w, r, http.StatusRequestEntityTooLarge, api.ErrorBody{Error: api.ErrorDetail{
			Code: http.StatusRequestEntityTooLarge, Field: "request",
			Message: "request: more than " + strconv.Itoa(request.MaxRequestBytes) + " bytes, at most " + strconv.Itoa(request.MaxRequestBytes),
		}})
		return nil, false
	case err != nil:
		h.writeError(w, r, http.StatusBadRequest, "request body not read: "+err.Error())
		return nil, false
	}
	return data, true
}

// startReply answers POST /exports as NATS <prefix>.start is answered,
// with the URL of the export's event stream too.
type startReply struct {
	ID              string    `json:"id"`
	State           api.State `json:"state"`
	ProgressSubject string    `json:"progressSubject"`
	ManifestURL     string    `json:"manifestUrl"`
	DataURL         string    `json:"dataUrl"`
	EventsURL       string    `json:"eventsUrl"`
}

// serveStart is POST /exports: the body is an export request, as NATS
// <prefix>.start takes it, and the same requestId gives the same export.
// It answers 202 (the export is queued) with Location the manifest.
func (h *Server) serveStart(w http.ResponseWriter, r *http.Request) {
	data, ok := h.readJSON(w, r, true)
	if !ok {
		return
	}
	if len(bytes.TrimSpace(data)) == 0 {
		h.writeErr(w, r, &request.FieldError{Field: "request", Message: "the body must be an export request (JSON)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), startTimeout)
	defer cancel()
	m, err := h.exports.Start(ctx, data)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	l := h.links(r, m.ID)
	w.Header().Set("Location", "/exports/"+m.ID)
	h.writeJSON(w, r, http.StatusAccepted, startReply{
		ID: m.ID, State: m.State, ProgressSubject: api.ProgressSubject(h.prefix, m.ID),
		ManifestURL: l.ManifestURL, DataURL: l.DataURL, EventsURL: l.EventsURL,
	})
}

// serveCancel is POST /exports/{id}/cancel; it answers the manifest.
func (h *Server) serveCancel(w http.ResponseWriter, r *http.Request) {
	h.serveOp(w, r, h.exports.Cancel)
}

// serveResume is POST /exports/{id}/resume; it answers the manifest.
func (h *Server) serveResume(w http.ResponseWriter, r *http.Request) {
	h.serveOp(w, r, h.exports.Resume)
}

// serveOp runs op on the export of the path, whose body is empty or {}.
func (h *Server) serveOp(w http.ResponseWriter, r *http.Request, op func(string) (*api.Manifest, error)) {
	id, ok := h.pathID(w, r)
	if !ok || !h.readEmpty(w, r) {
		return
	}
	m, err := op(id)
	if err != nil {
		h.writeErr(w, r, err)
		return
	}
	h.writeManifest(w, r, m)
}

// deleteReply answers DELETE /exports/{id}, as NATS <prefix>.delete is
// answered.
type deleteReply struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// serveDelete is DELETE /exports/{id}.
func (h *Server) serveDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok || !h.readEmpty(w, r) {
		return
	}
	if err := h.exports.Delete(id); err != nil {
		h.writeErr(w, r, err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, deleteReply{ID: id, Deleted: true})
}

// readEmpty accepts an empty body or an empty JSON object: the export is
// the path's.
func (h *Server) readEmpty(w http.ResponseWriter, r *http.Request) bool {
	data, ok := h.readJSON(w, r, false)
	if !ok {
		return false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return true
	}
	if err := request.DecodeStrict(data, &struct{}{}); err != nil {
		h.writeErr(w, r, err)
		return false
	}
	return true
}
