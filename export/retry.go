package export

import (
	"context"
	"errors"
	"net"
	"syscall"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// retryableCodes are MongoDB error codes that a new cursor can cure: the
// cursor or the connection went away, or the server is changing roles.
var retryableCodes = []int{
	6,     // HostUnreachable
	7,     // HostNotFound
	43,    // CursorNotFound
	89,    // NetworkTimeout
	91,    // ShutdownInProgress
	175,   // QueryPlanKilled
	189,   // PrimarySteppedDown
	237,   // CursorKilled
	262,   // ExceededTimeLimit
	9001,  // SocketException
	10107, // NotWritablePrimary
	11600, // InterruptedAtShutdown
	11602, // InterruptedDueToReplStateChange
	13435, // NotPrimaryNoSecondaryOk
	13436, // NotPrimaryOrSecondary
}

// Retryable reports whether err is a MongoDB or network failure that
// reopening the cursor may cure (the server restarted, the primary stepped
// down, the cursor was lost), or a request to the object store or
// JetStream that timed out. Errors of our own (encoding, disk, bad query)
// are not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if errors.As(err, new(topology.ServerSelectionError)) || mongo.IsNetworkError(err) {
		return true
	}
	if errors.Is(err, mongo.ErrClientDisconnected) {
		return false
	}
	var se mongo.ServerError
	if errors.As(err, &se) {
		if se.HasErrorLabel("RetryableReadError") || se.HasErrorLabel("ResumableChangeStreamError") {
			return true
		}
		for _, c := range retryableCodes {
			if se.HasErrorCode(c) {
				return true
			}
		}
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // a request that timed out: the object store, or JetStream electing a leader
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}
