package bench

import "errors"

// ErrNoResults is returned by Parse when the output holds no benchmark line.
var ErrNoResults = errors.New("no benchmark results")

// ErrSyntax is wrapped by Parse's error for a benchmark line it cannot read.
var ErrSyntax = errors.New("malformed benchmark line")
