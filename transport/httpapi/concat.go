package httpapi

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/objstore"
)

// errChunkSize means a chunk file's size is not the one its manifest
// records: the file is damaged or was replaced.
var errChunkSize = errors.New("chunk file size does not match the manifest")

// concatPart is one file of a concat.
type concatPart struct {
	start int64 // offset of the file's first byte in the concatenation
	size  int64
}

// concat is a read-only file made of several files laid end to end,
// for http.ServeContent: it maps an offset to the file that holds it by
// arithmetic over the sizes given, opening that file on first use and
// closing it when a read moves on to another file. Only one file is
// open at a time, and a Seek opens none. open must give a file of the
// size given (download.openChunk checks it against the manifest); a
// file that ends sooner fails the read that reaches its end, so a
// response never carries bytes of the wrong length. It is not safe for
// concurrent use.
type concat struct {
	parts []concatPart
	open  func(i int) (File, error)
	size  int64
	off   int64
	f     File  // nil, or the open file of parts[cur]
	cur   int   // which part f is
	pos   int64 // f's offset
}

// newConcat lays out files of the given sizes; open(i) opens file i.
func newConcat(sizes []int64, open func(i int) (File, error)) *concat {
	c := &concat{parts: make([]concatPart, len(sizes)), open: open}
	for i, size := range sizes {
		c.parts[i] = concatPart{start: c.size, size: size}
		c.size += size
	}
	return c
}

// Size is the length of the concatenation.
func (c *concat) Size() int64 { return c.size }

// Read reads from the current offset, at most to the end of the file that
// holds it.
func (c *concat) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	// The first part that ends after off; empty parts are skipped because
	// they end where they start.
	i := sort.Search(len(c.parts), func(i int) bool { return c.parts[i].start+c.parts[i].size > c.off })
	part := c.parts[i]
	if err := c.use(i); err != nil {
		return 0, err
	}
	rel := c.off - part.start
	if c.pos != rel {
		if _, err := c.f.Seek(rel, io.SeekStart); err != nil {
			return 0, err
		}
		c.pos = rel
	}
	if rest := part.size - rel; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := io.ReadFull(c.f, p)
	c.off += int64(n)
	c.pos += int64(n)
	if n == len(p) {
		return n, nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("part %d: %w (shorter than %s)", i, errChunkSize, api.Count(part.size, "byte"))
	}
	return n, err
}

// use makes parts[i] the open file, closing the previous one.
func (c *concat) use(i int) error {
	if c.f != nil && c.cur == i {
		return nil
	}
	if err := c.Close(); err != nil {
		return err
	}
	f, err := c.open(i)
	if err != nil {
		return err
	}
	c.f, c.cur, c.pos = f, i, 0
	return nil
}

// check opens every file in turn, one at a time, and returns the newest
// ModTime; so that a damaged export fails before the first byte goes
// out, with a status, and not halfway through. The last file stays open
// for a read that starts there.
func (c *concat) check() (time.Time, error) {
	var newest time.Time
	for i := range c.parts {
		if err := c.use(i); err != nil {
			return time.Time{}, err
		}
		if mt := c.f.ModTime(); mt.After(newest) {
			newest = mt
		}
	}
	return newest, nil
}

// Seek sets the offset for the next Read, as objstore.Object.Seek does:
// an offset past the end is allowed (Read then returns io.EOF); a
// negative one is not. It opens no file.
func (c *concat) Seek(offset int64, whence int) (int64, error) {
	abs, err := objstore.SeekOffset(c.off, c.size, offset, whence)
	if err != nil {
		return abs, fmt.Errorf("seek: %w", err)
	}
	c.off = abs
	return abs, nil
}

// Close closes the open file, if any. The concatenation can still be read
// afterwards; it opens files again as needed.
func (c *concat) Close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}
