package request

import (
	"errors"
	"fmt"

	"github.com/exportd/exportd/api"
)

// ErrInvalid is wrapped by every error that rejects a request. Callers turn it
// into a 400, an exit code 2, or a NATS error, at their edge.
var ErrInvalid = errors.New("invalid export request")

// FieldError says which request field is wrong and why. It wraps ErrInvalid.
type FieldError struct {
	// Field is the request's JSON name of the field, with a path inside it
	// where that helps (for example "filter.$where" or "fields[2]").
	Field string
	// Message says what is wrong, for a person.
	Message string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// fieldErr makes a FieldError, cutting a field or a message that repeats
// too much of a hostile request.
func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: api.Clip(field, maxFieldName), Message: api.Clip(fmt.Sprintf(format, args...), maxMessage)}
}
