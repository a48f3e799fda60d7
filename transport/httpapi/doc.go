// Package httpapi is the daemon's HTTP server: the export list and
// manifests, each sealed chunk and the whole export as one file (/data)
// with Range and If-Range, signed download URLs and bearer tokens, health
// and Prometheus metrics. It reads exports through api.Exports and the
// files of their directories; it never writes them.
package httpapi
