package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"
)

// errBearerInvalid means a bearer token that is not the API token
// (403).
var errBearerInvalid = errors.New("API token invalid")

// guard wraps a route that needs a credential when a download secret is
// configured: the request passes with a valid signed URL for its path or
// with the API token as a bearer, and is answered 401 or 403 otherwise.
// The mux has matched the route already, so an unknown path is a 404 and
// a wrong method a 405 whatever the credential.
func (h *Server) guard(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.authorize(w, r) {
			next(w, r)
		}
	})
}

// authorize answers 401 (no credential) or 403 (a wrong, expired or
// borrowed one) and returns false when r may not pass.
func (h *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	err := h.credential(r, time.Now())
	switch {
	case err == nil:
		return true
	case errors.Is(err, errTokenMissing):
		w.Header().Set("WWW-Authenticate", `Bearer realm="exportd"`)
		h.writeError(w, r, http.StatusUnauthorized, err.Error())
	default:
		h.writeError(w, r, http.StatusForbidden, err.Error())
	}
	return false
}

// credential returns nil when r may pass at time now: it carries the API
// token as a bearer, or a valid signed URL for its path, or no secret is
// configured. Otherwise it says what is wrong: errTokenMissing when r
// presents nothing, errBearerInvalid for a wrong bearer, the token's
// error for a bad signed URL. Either credential is enough, so a proxy's
// stray Authorization header does not spoil a signed URL.
func (h *Server) credential(r *http.Request, now time.Time) error {
	bearer, hasBearer := bearer(r)
	if hasBearer && h.apiToken != "" && tokenEqual(bearer, h.apiToken) {
		return nil
	}
	err := h.checkToken(r, now) // nil without a secret
	if err == nil {
		return nil
	}
	if hasBearer && errors.Is(err, errTokenMissing) {
		return errBearerInvalid
	}
	return err
}

// bearer returns the token of r's "Authorization: Bearer <token>"
// header (the scheme in any case, RFC 9110), and whether there is one.
// Another scheme counts as no bearer.
func bearer(r *http.Request) (string, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// tokenEqual compares a presented token with the API token in time
// that depends on neither: both are hashed first, so that not even the
// length leaks.
func tokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
