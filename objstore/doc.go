// Package objstore keeps exports in an S3-compatible object store: the
// sealed chunk files and the manifest of each export, one object each,
// under a bucket and a key prefix named by an s3:// URL.
//
// # Key layout
//
//	<prefix>/<exportID>/chunk-NNNNNN.<ext>   (chunker.Name)
//	<prefix>/<exportID>/manifest.json        (chunker.ManifestName)
//
// With an empty prefix the keys start at the export id.
//
// # Guarantees
//
//   - No key is built from unchecked input: export ids are
//     [0-9A-Za-z_-]{1,128}, extensions are dot-separated [0-9A-Za-z]
//     words, prefixes are slash-separated [0-9A-Za-z._-] segments other
//     than "." and "..". Open and Stat take only keys of that layout.
//   - A chunk is stored only if its bytes have the SHA-256 the caller gave.
//     A single PUT sends it as x-amz-checksum-sha256 and the server refuses
//     a body that does not match. A multipart upload sends every part with
//     its own x-amz-checksum-sha256, which the server verifies, hashes the
//     same bytes into the whole file's SHA-256 on the way, and completes
//     the upload only if that equals the one given; otherwise it aborts
//     it (S3 has no full-object SHA-256 for multipart uploads).
//   - Secrets (secret key, session token, presigned URLs' signatures) are
//     never in an error string or in Config.String.
//   - Every call ends when its context ends, retries included: minio-go
//     retries failed requests itself (Config.MaxRetries) and watches the
//     context between attempts.
package objstore
