package httpapi

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// errChunkSize means a chunk file's size is not the one its manifest
// records: the file is damaged or was replaced.
var errChunkSize = errors.New("chunk file size does not match the manifest")

// concatPart is one file of an concat.
type concatPart struct {
	path  string
	start int64 // offset of the file's first byte in the concatenation
	size  int64
}

// concat is a read-only file made of several files laid end to end,
// for http.ServeContent: it maps an offset to the file that holds it,
// opening that file on first use and closing it when a read moves on to
// another file. Only one file is open at a time. Each file's size must be
// the one given; a file that differs fails the read that reaches it, so
// a response never carries bytes of the wrong length. It is not safe for
// concurrent use.
type concat struct {
	parts []concatPart
	size  int64
	off   int64
	f     *os.File // nil, or the open file of parts[cur]
	cur   int
}

// newConcat lays out files of the given paths and sizes.
func newConcat(paths []string, sizes []int64) *concat {
	c := &concat{parts: make([]concatPart, len(paths))}
	for i, p := range paths {
		c.parts[i] = concatPart{path: p, start: c.size, size: sizes[i]}
		c.size += sizes[i]
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
	if err := c.open(i); err != nil {
		return 0, err
	}
	rel := c.off - part.start
	if rest := part.size - rel; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := c.f.ReadAt(p, rel)
	c.off += int64(n)
	if n == len(p) {
		return n, nil // ReadAt may report io.EOF along with the file's last byte
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = fmt.Errorf("%s: %w (shorter than %d bytes)", part.path, errChunkSize, part.size)
	}
	return n, err
}

// open makes parts[i] the open file, closing the previous one.
func (c *concat) open(i int) error {
	if c.f != nil && c.cur == i {
		return nil
	}
	if err := c.Close(); err != nil {
		return err
	}
	part := c.parts[i]
	f, err := os.Open(part.path)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return errors.Join(err, f.Close())
	}
	if fi.Size() != part.size {
		return errors.Join(fmt.Errorf("%s: %w (%d bytes, manifest says %d)", part.path, errChunkSize, fi.Size(), part.size), f.Close())
	}
	c.f, c.cur = f, i
	return nil
}

// Seek sets the offset for the next Read. An offset past the end is
// allowed (Read then returns io.EOF); a negative one is not.
func (c *concat) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = c.off + offset
	case io.SeekEnd:
		abs = c.size + offset
	default:
		return 0, fmt.Errorf("seek: invalid whence %d", whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek: negative position %d", abs)
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
