package objstore

import "errors"

var (
	// ErrNotFound means there is no object at the key.
	ErrNotFound = errors.New("objstore: object not found")

	// ErrBucketNotFound means the bucket does not exist.
	ErrBucketNotFound = errors.New("objstore: bucket does not exist")

	// ErrAccessDenied means the server refused the credentials or their
	// permissions: a wrong key or secret, or a policy that does not allow
	// the operation.
	ErrAccessDenied = errors.New("objstore: access denied")

	// ErrUnreachable means no answer came from the endpoint: a wrong
	// address, a server that is down, a network error.
	ErrUnreachable = errors.New("objstore: endpoint unreachable")

	// ErrChecksum means the bytes stored or sent do not have the SHA-256
	// given for them; the object was not stored.
	ErrChecksum = errors.New("objstore: SHA-256 mismatch")

	// ErrSize means a chunk file does not have the size given for it.
	ErrSize = errors.New("objstore: chunk file size mismatch")

	// ErrBadURL means an s3:// URL or an endpoint URL is malformed; the
	// error that wraps it says what is wrong.
	ErrBadURL = errors.New("objstore: bad URL")

	// ErrBadName means an export id, chunk extension, chunk index or key
	// does not have the form the key layout allows.
	ErrBadName = errors.New("objstore: bad name")

	// ErrConfig means a Config field is invalid; the error that wraps it
	// names the field.
	ErrConfig = errors.New("objstore: bad config")

	// ErrNoCredentials means no access key and secret were found.
	ErrNoCredentials = errors.New("objstore: no credentials")
)
