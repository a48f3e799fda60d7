package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// Object is a stored object open for reading. Read after Seek is a ranged
// GET from that offset (bytes=N-), streamed as it is read: a Seek fetches
// nothing, and reading the tail of an object transfers the tail only.
// ReadAt is a GET of exactly the range asked. The reads fail with
// PreconditionFailed if the object is replaced while open (minio-go sends
// If-Match with the ETag). An Object is not safe for concurrent use,
// except ReadAt.
type Object struct {
	ctx  context.Context
	s    *Store
	o    *minio.Object
	info Info
	pos  int64
}

// Open opens the object at key for reading; ErrNotFound if there is none.
// ctx bounds every read of the object, not only Open.
func (s *Store) Open(ctx context.Context, key string) (*Object, error) {
	if err := s.checkKey(key); err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{Checksum: true})
	if err != nil {
		return nil, s.wrap(ctx, "open", key, err)
	}
	oi, err := o.Stat() // a HEAD: the first GET waits for the first Read
	if err != nil {
		o.Close()
		return nil, s.wrap(ctx, "open", key, err)
	}
	return &Object{ctx: ctx, s: s, o: o, info: infoOf(oi)}, nil
}

// Read reads from the current offset; io.EOF at or past the end.
func (o *Object) Read(p []byte) (int, error) {
	if o.pos >= o.info.Size {
		return 0, io.EOF
	}
	n, err := o.o.Read(p)
	o.pos += int64(n)
	return n, o.readErr(err)
}

// ReadAt reads len(p) bytes at off with a GET of that range.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	if off >= o.info.Size {
		return 0, io.EOF
	}
	n, err := o.o.ReadAt(p, off)
	return n, o.readErr(err)
}

// Seek sets the offset of the next Read as io.Seeker says; an offset past
// the end is allowed and reads io.EOF. It sends no request.
func (o *Object) Seek(offset int64, whence int) (int64, error) {
	abs, err := SeekOffset(o.pos, o.info.Size, offset, whence)
	if err != nil {
		return o.pos, fmt.Errorf("seek %s: %w", o.info.Key, err)
	}
	if abs <= o.info.Size { // minio-go refuses offsets past the end
		if _, err := o.o.Seek(abs, io.SeekStart); err != nil {
			return o.pos, o.readErr(err)
		}
	}
	o.pos = abs
	return abs, nil
}

// SeekOffset is the offset that Seek(offset, whence) moves to from pos
// in content of size bytes, as io.Seeker says: whence is io.SeekStart,
// io.SeekCurrent or io.SeekEnd, and the new offset may lie past the end
// but not before the start (one that overflows int64 does). On an error
// it returns pos. Object.Seek applies it, and so does a reader that lays
// objects end to end (transport/httpapi's /data), so that the two agree.
func SeekOffset(pos, size, offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = pos + offset
	case io.SeekEnd:
		abs = size + offset
	default:
		return pos, fmt.Errorf("invalid whence %d", whence)
	}
	if abs < 0 {
		return pos, fmt.Errorf("negative offset %d", abs)
	}
	return abs, nil
}

// Close ends the object's open request, if any.
func (o *Object) Close() error {
	return o.o.Close()
}

// Info describes the object as it was when opened.
func (o *Object) Info() Info { return o.info }

// Size is the object's length in bytes.
func (o *Object) Size() int64 { return o.info.Size }

// ETag is the object's entity tag, without quotes.
func (o *Object) ETag() string { return o.info.ETag }

// ModTime is when the object was stored.
func (o *Object) ModTime() time.Time { return o.info.ModTime }

// readErr passes io.EOF as it is and wraps any other error.
func (o *Object) readErr(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return o.s.wrap(o.ctx, "read", o.info.Key, err)
}
