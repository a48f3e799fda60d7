package e2e

import "errors"

// ErrConfig marks a Config that cannot be measured.
var ErrConfig = errors.New("e2e: bad configuration")

// ErrNode marks a missing or unusable Node.js for the seed-node baseline.
var ErrNode = errors.New("e2e: node and npm are needed for the seed-node baseline (apt-get install nodejs npm)")
