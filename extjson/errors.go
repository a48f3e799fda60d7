package extjson

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every error returned for input that is not BSON
// the driver would accept: a truncated buffer, a length that does not match
// the bytes, a missing terminator, an unknown type byte, a boolean that is
// neither 0 nor 1, and so on. Test for it with errors.Is; errors.As with a
// *MalformedError gives the offset and path.
var ErrMalformed = errors.New("malformed BSON")

// MalformedError says where and why the input was rejected. It unwraps to
// ErrMalformed.
type MalformedError struct {
	// Offset is the byte offset into the input (the document for
	// AppendDocument, the value bytes for AppendValue) where the problem was
	// found.
	Offset int
	// Path is the dotted path of the element being read, built from the raw
	// BSON keys (array elements use their index keys). It is empty when the
	// problem is in a document header rather than in an element.
	Path string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *MalformedError) Error() string {
	var b strings.Builder
	b.WriteString("extjson: ")
	b.WriteString(ErrMalformed.Error())
	fmt.Fprintf(&b, " at offset %d", e.Offset)
	if e.Path != "" {
		fmt.Fprintf(&b, " (key %q)", e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }
