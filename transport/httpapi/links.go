package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/exportd/exportd/api"
)

// links are the URLs of one export, signed when a download secret is
// set: what a client holding the API token hands to something that holds
// none (a browser's download link, an EventSource).
type links struct {
	ManifestURL string      `json:"manifestUrl"`
	DataURL     string      `json:"dataUrl"`
	EventsURL   string      `json:"eventsUrl"`
	Chunks      []chunkLink `json:"chunks"`
}

// chunkLink is a sealed chunk with its download URL.
type chunkLink struct {
	api.Chunk
	URL string `json:"url"`
}

// serveLinks is GET /exports/{id}/links: the export's URLs and one for
// each chunk sealed so far, each valid for the token lifetime.
func (h *Server) serveLinks(w http.ResponseWriter, r *http.Request) {
	m, ok := h.pathManifest(w, r)
	if !ok {
		return
	}
	id := m.ID
	l := h.links(r, id)
	l.Chunks = make([]chunkLink, 0, len(m.Chunks))
	now := time.Now()
	for i, c := range m.Chunks { // chunk i is the one served at /chunks/i
		l.Chunks = append(l.Chunks, chunkLink{Chunk: c, URL: h.base(r) + h.SignURL("/exports/"+id+"/chunks/"+strconv.Itoa(i), now)})
	}
	h.writeJSON(w, r, http.StatusOK, l)
}

// links are export id's URLs, without chunks.
func (h *Server) links(r *http.Request, id string) links {
	now, base := time.Now(), h.base(r)
	return links{
		ManifestURL: base + h.SignURL("/exports/"+id, now),
		DataURL:     base + h.SignURL("/exports/"+id+"/data", now),
		EventsURL:   base + h.SignURL("/exports/"+id+"/events", now),
	}
}

// base is how clients reach the server: the configured public URL, else
// the scheme and host that r came to.
func (h *Server) base(r *http.Request) string {
	if h.publicURL != "" {
		return h.publicURL
	}
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}
