package chunker

import "errors"

// ErrNoManifest is returned by ReadManifest when the directory has none.
var ErrNoManifest = errors.New("no manifest")
