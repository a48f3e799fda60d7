// Package natsapi is the daemon's NATS micro service: <prefix>.start,
// .status, .list, .cancel, .resume, .delete and .last, request/reply,
// found by micro discovery. It decodes each request strictly, hands it to
// an api.Exports and turns api's errors into NATS error codes with a JSON
// body naming the field.
package natsapi
