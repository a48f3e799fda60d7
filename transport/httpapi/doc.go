// Package httpapi is the daemon's HTTP server: the export list and
// manifests, each sealed chunk and the whole export as one file (/data)
// with Range and If-Range, signed download URLs and bearer tokens, health
// and Prometheus metrics; progress as server-sent events (events.go),
// replayed from an EventLog (eventlog.go: MemoryLog, fed from NATS); the
// NATS operations over HTTP behind the API token (control.go); the signed
// links of an export (links.go); and a mount for the web console. It
// reads exports through api.Exports and their chunk files through Files
// (files.go: the export directories, or an object store with
// ObjectFiles); it never writes them.
package httpapi
