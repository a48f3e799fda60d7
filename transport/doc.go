// Package transport holds how the daemon is reached, one package each:
//
//   - natsapi: the NATS micro service (exports.start, status, list, cancel,
//     resume, delete, last), request/reply;
//   - progress: progress events published on NATS subjects;
//   - httpapi: the HTTP server for the export list, manifests, chunk and
//     whole-export downloads with Range, health and metrics, progress as
//     server-sent events, and the operations behind the API token.
//
// Each speaks the contract of package api and turns api's errors into its
// own codes (NATS error codes, HTTP statuses); nothing else does. None of
// them imports another, nor the runner: the daemon wires them together.
package transport
