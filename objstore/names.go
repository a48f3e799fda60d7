package objstore

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/exportd/exportd/chunker"
)

var (
	idPattern      = regexp.MustCompile(`^[0-9A-Za-z_-]{1,128}$`)
	extPattern     = regexp.MustCompile(`^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$`)
	segmentPattern = regexp.MustCompile(`^[0-9A-Za-z._-]+$`)
)

// ParseURL splits an s3://bucket/prefix URL into its bucket and key
// prefix (without leading or trailing slashes; "" for none). The bucket
// must be a valid S3 bucket name and the prefix made of [0-9A-Za-z._-]
// segments other than "." and "..".
func ParseURL(raw string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	if !ok {
		scheme, _, found := strings.Cut(raw, "://")
		if !found {
			return "", "", fmt.Errorf("%w: %q is not an s3://bucket/prefix URL", ErrBadURL, raw)
		}
		return "", "", fmt.Errorf("%w: scheme %q, want s3://bucket/prefix", ErrBadURL, scheme)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%w: %q has no bucket, want s3://bucket/prefix", ErrBadURL, raw)
	}
	if strings.ContainsAny(bucket, "?#@:") {
		// Not echoed: a user part may hold a secret.
		return "", "", fmt.Errorf("%w: an s3:// URL has no port, user, query or fragment before its path", ErrBadURL)
	}
	if err := checkBucket(bucket); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if err := checkPrefix(prefix); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	return bucket, prefix, nil
}

// checkBucket says why name is not a valid S3 bucket name, if it is not.
func checkBucket(name string) error {
	if err := s3utils.CheckValidBucketNameStrict(name); err != nil {
		return fmt.Errorf("invalid bucket name %q: %v", name, err)
	}
	return nil
}

// checkPrefix says why prefix may not start a key, if it may not.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	for seg := range strings.SplitSeq(prefix, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("prefix %q has an empty segment", prefix)
		case seg == "." || seg == "..":
			return fmt.Errorf("prefix %q has a %q segment", prefix, seg)
		case !segmentPattern.MatchString(seg):
			return fmt.Errorf("prefix %q: segment %q has a character other than 0-9 A-Z a-z . _ -", prefix, seg)
		}
	}
	return nil
}

// checkID says why id is not an export id this package builds keys from.
func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: export id %q is not 1 to 128 of 0-9 A-Z a-z _ -", ErrBadName, id)
	}
	return nil
}

// ChunkKey is the key of chunk index of export id with extension ext
// (for example "ndjson.zst"). It refuses an id, ext or index that the key
// layout does not allow.
func (s *Store) ChunkKey(id string, index int, ext string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if index < 0 {
		return "", fmt.Errorf("%w: chunk index %d is negative", ErrBadName, index)
	}
	if !extPattern.MatchString(ext) {
		return "", fmt.Errorf("%w: chunk extension %q is not dot-separated words of 0-9 A-Z a-z", ErrBadName, ext)
	}
	return s.exportDir(id) + chunker.Name(index, ext), nil
}

// ManifestKey is the key of export id's manifest.
func (s *Store) ManifestKey(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return s.exportDir(id) + chunker.ManifestName, nil
}

// exportDir is the key prefix of export id, ending in a slash; id must be
// checked.
func (s *Store) exportDir(id string) string {
	return s.root + id + "/"
}

// checkKey says why key is not one of this store's keys: the prefix, a
// valid export id, and a file name of [0-9A-Za-z._-] other than "." and
// "..".
func (s *Store) checkKey(key string) error {
	rest, ok := strings.CutPrefix(key, s.root)
	if !ok {
		return fmt.Errorf("%w: key %q is not under prefix %q", ErrBadName, key, s.root)
	}
	id, name, ok := strings.Cut(rest, "/")
	if !ok {
		return fmt.Errorf("%w: key %q has no export id", ErrBadName, key)
	}
	if err := checkID(id); err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	if name == "." || name == ".." || !segmentPattern.MatchString(name) {
		return fmt.Errorf("%w: key %q: %q is not a file name of 0-9 A-Z a-z . _ -", ErrBadName, key, name)
	}
	return nil
}
