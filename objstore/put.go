package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
)

// Header names of S3's additional checksums.
const (
	checksumSHA256    = "x-amz-checksum-sha256"
	checksumAlgorithm = "x-amz-checksum-algorithm"
)

// abortTimeout bounds the abort of a failed multipart upload, which runs
// even when the upload's context has ended.
const abortTimeout = 30 * time.Second

// PutChunk stores the sealed chunk file at path as chunk index of export
// id. size and sha256hex are the file's length and SHA-256 (hex) as
// sealed; the object is stored only if the bytes sent have that hash
// (see the package's guarantees), else the error wraps ErrChecksum. A
// file of another size fails with ErrSize before anything is sent.
func (s *Store) PutChunk(ctx context.Context, id string, index int, ext, path string, size int64, sha256hex string) error {
	key, err := s.ChunkKey(id, index, ext)
	if err != nil {
		return err
	}
	sum, err := hex.DecodeString(sha256hex)
	if err != nil || len(sum) != sha256.Size {
		return fmt.Errorf("put %s: %w: %q is not a hex SHA-256", key, ErrChecksum, sha256hex)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("put %s: %w: %s has %d bytes, want %d", key, ErrSize, path, fi.Size(), size)
	}
	if size <= s.partSize {
		return s.putOne(ctx, key, f, size, sum, "application/octet-stream")
	}
	return s.putParts(ctx, key, f, size, sum)
}

// PutManifest stores data as export id's manifest, with its SHA-256 for
// the server to verify.
func (s *Store) PutManifest(ctx context.Context, id string, data []byte) error {
	key, err := s.ManifestKey(id)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	return s.putOne(ctx, key, bytes.NewReader(data), int64(len(data)), sum[:], "application/json")
}

// putOne stores r's size bytes at key in one PUT that carries sum for the
// server to check. r is read from its start again on a retry (minio-go
// takes an io.ReaderAt with an io.Seeker as such).
func (s *Store) putOne(ctx context.Context, key string, r io.Reader, size int64, sum []byte, contentType string) error {
	want := base64.StdEncoding.EncodeToString(sum)
	info, err := s.c.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{
		ContentType:      contentType,
		DisableMultipart: true,
		UserMetadata:     map[string]string{checksumSHA256: want}, // sent as the header itself
	})
	if err != nil {
		return s.wrap(ctx, "put", key, err)
	}
	if info.ChecksumSHA256 != "" && info.ChecksumSHA256 != want {
		return fmt.Errorf("put %s: %w: the server stored SHA-256 %s, want %s", key, ErrChecksum, info.ChecksumSHA256, want)
	}
	return nil
}

// putParts stores f's size bytes at key as a multipart upload of
// s.partSize parts, completed only if the whole file's SHA-256 is sum.
//
// minio-go's PutObject would upload the parts itself, but it can carry no
// full-object SHA-256 to check before it completes the upload: S3's
// checksums of multipart uploads are per part (SHA-256) or of the whole
// object for CRCs only. So the parts go through minio.Core: each part is
// read once to hash it, into its own SHA-256 and the file's, and sent
// with its hash, which the server verifies; the server then holds exactly
// the bytes hashed, and the upload is completed only if their hash is
// sum. Parts go one at a time: one part's bytes in flight per chunk, and
// an export uploads several chunks at once.
func (s *Store) putParts(ctx context.Context, key string, f *os.File, size int64, sum []byte) error {
	core := minio.Core{Client: s.c}
	uploadID, err := core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{checksumAlgorithm: "SHA256"},
	})
	if err != nil {
		return s.wrap(ctx, "start upload", key, err)
	}
	parts, composite, err := s.putEachPart(ctx, core, key, uploadID, f, size, sum)
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if aerr := core.AbortMultipartUpload(actx, s.bucket, key, uploadID); aerr != nil {
			return fmt.Errorf("%w (and abort the upload: %v)", err, aerr)
		}
		return err
	}
	info, err := core.CompleteMultipartUpload(ctx, s.bucket, key, uploadID, parts, minio.PutObjectOptions{})
	if err != nil {
		return s.wrap(ctx, "complete upload", key, err)
	}
	if info.ChecksumSHA256 != "" && info.ChecksumSHA256 != composite {
		// Complete cannot be undone by an abort: remove the object.
		err := fmt.Errorf("put %s: %w: the server reports SHA-256 %s, want %s", key, ErrChecksum, info.ChecksumSHA256, composite)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if rerr := s.c.RemoveObject(rctx, s.bucket, key, minio.RemoveObjectOptions{}); rerr != nil {
			return fmt.Errorf("%w (and remove it: %v)", err, rerr)
		}
		return err
	}
	return nil
}

// putEachPart uploads f's parts in turn, each with its SHA-256, and
// checks that the bytes read have sum. It returns the parts to complete
// the upload with and the composite SHA-256 S3 reports for them ("…-N").
func (s *Store) putEachPart(ctx context.Context, core minio.Core, key, uploadID string, f *os.File, size int64, sum []byte) ([]minio.CompletePart, string, error) {
	whole := sha256.New()
	composite := sha256.New() // of the parts' SHA-256s
	var parts []minio.CompletePart
	for n, off := 1, int64(0); off < size; n, off = n+1, off+s.partSize {
		section := io.NewSectionReader(f, off, min(s.partSize, size-off))
		part := sha256.New()
		if _, err := io.Copy(io.MultiWriter(part, whole), section); err != nil {
			return nil, "", fmt.Errorf("put %s: read part %d: %w", key, n, err)
		}
		partSum := part.Sum(nil)
		composite.Write(partSum)
		if _, err := section.Seek(0, io.SeekStart); err != nil {
			return nil, "", fmt.Errorf("put %s: part %d: %w", key, n, err)
		}
		b64 := base64.StdEncoding.EncodeToString(partSum)
		op, err := core.PutObjectPart(ctx, s.bucket, key, uploadID, n, section, section.Size(), minio.PutObjectPartOptions{
			Sha256Hex:    hex.EncodeToString(partSum),
			CustomHeader: http.Header{http.CanonicalHeaderKey(checksumSHA256): {b64}},
		})
		if err != nil {
			return nil, "", s.wrap(ctx, fmt.Sprintf("put part %d of", n), key, err)
		}
		if op.ChecksumSHA256 != "" && op.ChecksumSHA256 != b64 {
			return nil, "", fmt.Errorf("put %s: %w: the server stored part %d with SHA-256 %s, want %s", key, ErrChecksum, n, op.ChecksumSHA256, b64)
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: op.ETag, ChecksumSHA256: b64})
	}
	if got := whole.Sum(nil); !bytes.Equal(got, sum) {
		return nil, "", fmt.Errorf("put %s: %w: the file read has SHA-256 %x, want %x", key, ErrChecksum, got, sum)
	}
	return parts, fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(composite.Sum(nil)), len(parts)), nil
}
