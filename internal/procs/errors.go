package procs

import "errors"

// ErrOutputSet is returned by Output when the command's Stdout is already
// set, and by CombinedOutput when its Stdout or Stderr is, as os/exec does.
var ErrOutputSet = errors.New("procs: Stdout or Stderr already set")
