// Package transport is how the daemon is reached: a NATS micro service
// (exports.start, status, list, cancel, resume, delete, last), progress
// events published on NATS subjects, and an HTTP server for downloads,
// health and metrics. It speaks the contract of package api, and it turns
// api's errors into NATS error codes and HTTP statuses; nothing else does.
package transport
