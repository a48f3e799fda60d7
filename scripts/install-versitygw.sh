#!/usr/bin/env bash
# Installs versitygw, the S3 gateway that objstore's tests run against, with
# `go install` (from the Go module proxy), unless the wanted version is
# already there. Prints the binary's path.
#
#   scripts/install-versitygw.sh [GOBIN]     (default: $(go env GOPATH)/bin)
#
# internal/s3test finds it at $VERSITYGW, on PATH, or in $(go env GOPATH)/bin.
set -euo pipefail
version=v1.8.0
gobin=${1:-$(go env GOPATH)/bin}
bin=$gobin/versitygw

# `go version -m` reads the module version the binary was built from.
have=$(go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/versity/versitygw" {print $3}' || true)
if [ "$have" != "$version" ]; then
  mkdir -p "$gobin"
  echo "installing versitygw $version into $gobin" >&2
  GOBIN=$gobin go install "github.com/versity/versitygw/cmd/versitygw@$version"
fi
echo "$bin"
