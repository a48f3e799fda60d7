package format

import "errors"

// ErrUnsupported is returned by New for a plan it cannot encode.
var ErrUnsupported = errors.New("unsupported output format")
