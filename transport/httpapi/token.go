package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The query parameters of a signed download URL.
const (
	paramExpires = "expires"
	paramToken   = "token"
)

var (
	// errTokenMissing means a request came without a token (401).
	errTokenMissing = errors.New("download token required: a URL signed for this path, or the API token as a bearer")
	// errTokenInvalid means the token does not match the path and
	// expiry, or the expiry is malformed (403).
	errTokenInvalid = errors.New("download token invalid")
	// errTokenExpired means a valid token whose time is up (403).
	errTokenExpired = errors.New("download token expired")
)

// SignURL returns rawURL (a path such as /exports/{id}/data, or an absolute
// URL) with expires and token query parameters that make it a valid URL
// for that path, and only that path, until now+TokenTTL. The token is an HMAC-SHA256 of the URL's
// path and the expiry, so it cannot be moved to another export or chunk.
// Without a secret, or when rawURL does not parse, rawURL is returned as
// it is.
func (h *Server) SignURL(rawURL string, now time.Time) string {
	if h.secret == nil {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	expires := now.Add(h.tokenTTL).Unix()
	q := u.Query()
	q.Set(paramExpires, strconv.FormatInt(expires, 10))
	q.Set(paramToken, base64.RawURLEncoding.EncodeToString(h.tokenMAC(u.Path, expires)))
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenMAC is the signature of path valid until expires (Unix seconds).
func (h *Server) tokenMAC(path string, expires int64) []byte {
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(path))
	mac.Write([]byte{0}) // a path never holds NUL, so path and expiry cannot run into each other
	mac.Write(strconv.AppendInt(nil, expires, 10))
	return mac.Sum(nil)
}

// checkToken verifies r's token against its path at time now. It returns
// nil when no secret is configured.
func (h *Server) checkToken(r *http.Request, now time.Time) error {
	if h.secret == nil {
		return nil
	}
	q := r.URL.Query()
	rawExpires, rawToken := q.Get(paramExpires), q.Get(paramToken)
	if rawExpires == "" || rawToken == "" {
		return errTokenMissing
	}
	expires, err := strconv.ParseInt(rawExpires, 10, 64)
	if err != nil {
		return errTokenInvalid
	}
	token, err := base64.RawURLEncoding.DecodeString(rawToken)
	if err != nil {
		return errTokenInvalid
	}
	if !hmac.Equal(token, h.tokenMAC(r.URL.Path, expires)) {
		return errTokenInvalid
	}
	if now.Unix() >= expires {
		return errTokenExpired
	}
	return nil
}
