package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Store keeps exports in one bucket under one key prefix. It is safe for
// concurrent use.
type Store struct {
	c        *minio.Client
	bucket   string
	root     string // the prefix and a slash, or "" for none
	partSize int64
}

// Info describes a stored object.
type Info struct {
	// Key is the object's key.
	Key string
	// Size is its length in bytes.
	Size int64
	// ETag is the server's entity tag, without quotes.
	ETag string
	// ModTime is when it was stored.
	ModTime time.Time
	// ChecksumSHA256 is the SHA-256 the server keeps, base64, when it
	// reports one: the object's own for a single PUT, a composite ("…-N",
	// the SHA-256 of the parts' SHA-256s) for a multipart upload. Stat and
	// Open fill it; List does not.
	ChecksumSHA256 string
}

// New connects to the store cfg describes and checks that its bucket
// exists; the error wraps ErrBucketNotFound, ErrAccessDenied or
// ErrUnreachable when it cannot.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:      creds,
		Secure:     !cfg.Insecure,
		Region:     cfg.Region,
		Transport:  cfg.Transport,
		MaxRetries: cfg.MaxRetries,
		// minio-go sends a caller's x-amz-checksum-* header only with this
		// set; it adds no trailing checksum of its own when one is given.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s := &Store{c: c, bucket: cfg.Bucket, partSize: cfg.PartSize}
	if cfg.Prefix != "" {
		s.root = cfg.Prefix + "/"
	}
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("check bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	return s, nil
}

// check lists one key under the prefix: the bucket exists, and the
// credentials may list it (List and DeleteExport need that). A GET, not
// the HEAD of BucketExists: a HEAD's error has no body, and versitygw
// answers an unknown access key's HEAD as if the bucket did not exist.
func (s *Store) check(ctx context.Context) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objects := s.c.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.root, MaxKeys: 1})
	first, ok := <-objects
	cancel()
	for range objects { // the lister stops on cancel
	}
	if ok && first.Err != nil {
		return s.wrap(ctx, "list", s.bucket, first.Err)
	}
	return nil
}

// Stat describes the object at key; ErrNotFound if there is none.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	if err := s.checkKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil {
		return Info{}, s.wrap(ctx, "stat", key, err)
	}
	return infoOf(oi), nil
}

// List describes every object of export id, in key order.
func (s *Store) List(ctx context.Context, id string) ([]Info, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var infos []Info
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.exportDir(id), Recursive: true}) {
		if oi.Err != nil {
			return nil, s.wrap(ctx, "list", s.exportDir(id), oi.Err)
		}
		infos = append(infos, infoOf(oi))
	}
	return infos, nil
}

// DeleteExport removes every object under export id's prefix, and aborts
// the multipart uploads left there by a process that died mid-upload. An
// export with no objects is not an error.
func (s *Store) DeleteExport(ctx context.Context, id string) error {
	infos, err := s.List(ctx, id)
	if err != nil {
		return err
	}
	objects := make(chan minio.ObjectInfo, len(infos)) // filled and closed before RemoveObjects reads
	for _, in := range infos {
		objects <- minio.ObjectInfo{Key: in.Key}
	}
	close(objects)
	var errs []error
	for re := range s.c.RemoveObjects(ctx, s.bucket, objects, minio.RemoveObjectsOptions{}) {
		errs = append(errs, s.wrap(ctx, "delete", re.ObjectName, re.Err))
	}
	for up := range s.c.ListIncompleteUploads(ctx, s.bucket, s.exportDir(id), true) {
		if up.Err != nil {
			errs = append(errs, s.wrap(ctx, "list uploads", s.exportDir(id), up.Err))
			break
		}
		if err := s.c.RemoveIncompleteUpload(ctx, s.bucket, up.Key); err != nil {
			errs = append(errs, s.wrap(ctx, "abort upload", up.Key, err))
		}
	}
	return errors.Join(errs...)
}

// Presign returns a URL that GETs the object at key, ranges included,
// without credentials until ttl (1 s to 7 days) has passed. The URL is a
// credential: do not log it.
func (s *Store) Presign(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := s.checkKey(key); err != nil {
		return "", err
	}
	if ttl < time.Second || ttl > 7*24*time.Hour {
		return "", fmt.Errorf("%w: presign ttl %v is outside 1s to 168h", ErrConfig, ttl)
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, ttl, nil)
	if err != nil {
		return "", s.wrap(ctx, "presign", key, err)
	}
	return u.String(), nil
}

func infoOf(oi minio.ObjectInfo) Info {
	return Info{Key: oi.Key, Size: oi.Size, ETag: oi.ETag, ModTime: oi.LastModified, ChecksumSHA256: oi.ChecksumSHA256}
}

// wrap names the operation and the key (or bucket) in err and adds the
// sentinel its S3 error code stands for. Neither minio-go's errors nor the
// server's messages carry the secret key.
func (s *Store) wrap(ctx context.Context, op, key string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = errors.Join(ctxErr, err)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("%s %s: %w: %w", op, key, sentinel, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

// classify maps an error from minio-go to this package's sentinel, or nil.
func classify(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		var ne net.Error
		if errors.As(err, &ne) {
			return ErrUnreachable // no S3 answer: the request never got one
		}
		return nil
	}
	switch er.Code {
	case minio.NoSuchKey, "NotFound":
		return ErrNotFound
	case minio.NoSuchBucket:
		return ErrBucketNotFound
	case minio.AccessDenied, "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
		"XAdminUserNotFound": // versitygw's unknown access key, with a 404
		return ErrAccessDenied
	case "BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidChecksum":
		return ErrChecksum
	}
	switch er.StatusCode {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden:
		return ErrAccessDenied
	}
	return nil
}
