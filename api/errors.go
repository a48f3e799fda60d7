package api

import "errors"

// The errors the transports turn into codes, and only they: the NATS
// service's error codes and the HTTP statuses given with each.
var (
	// ErrNotFound means no export has that id (404).
	ErrNotFound = errors.New("unknown export")
	// ErrState means the export is not in a state that allows the
	// operation (409).
	ErrState = errors.New("wrong export state")
	// ErrBusy means the queue is full (503).
	ErrBusy = errors.New("export queue is full")
	// ErrForbidden means the export's namespace is outside the daemon's
	// allow-list (403): it is neither served nor run.
	ErrForbidden = errors.New("namespace not allowed")
)

// ErrorBody is the JSON of every error reply, over NATS and HTTP:
// {"error": {"code", "message", "field"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong.
type ErrorDetail struct {
	// Code is the NATS error code, or the HTTP status.
	Code int `json:"code"`
	// Message says what is wrong, for a person.
	Message string `json:"message"`
	// Field names the request field that is wrong, when one is.
	Field string `json:"field,omitempty"`
}
