package pipeline

import "errors"

// ErrConfig is wrapped by Run's error when the Config cannot work.
var ErrConfig = errors.New("pipeline config")
