package chunker

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix and tempSuffix mark a file that is not sealed yet.
const (
	tempPrefix = "."
	tempSuffix = ".tmp"
)

// Name is the file name of chunk index with the extension ext
// (for example "ndjson.zst"): chunk-000042.ndjson.zst.
func Name(index int, ext string) string {
	return fmt.Sprintf("chunk-%06d.%s", index, ext)
}

// IsTemp reports whether name is a temporary file of this package.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix)
}

// File is a chunk being written. It hashes and counts what it writes. It
// is not safe for concurrent use.
type File struct {
	f     *os.File
	h     hash.Hash
	n     int64
	dir   string
	name  string
	temp  string
	hooks Hooks
}

// Hooks are called at each step of writing and sealing a chunk; the crash
// and fault tests use them to stop the process between steps or to fail a
// write. A nil hook is skipped.
type Hooks struct {
	// BeforeWrite may fail a write of n bytes to chunk name that already
	// holds written bytes (fault injection: a full disk).
	BeforeWrite func(name string, written int64, n int) error
	// AfterWrite, AfterSync and AfterRename run after each step of Seal.
	AfterWrite, AfterSync, AfterRename func(name string)
}

// Create starts chunk name in dir under a temporary name, replacing any
// leftover temporary file of the same chunk.
func Create(dir, name string, hooks Hooks) (*File, error) {
	if name != filepath.Base(name) || name == "" || IsTemp(name) {
		return nil, fmt.Errorf("chunk name %q is not a plain file name", name)
	}
	temp := tempPrefix + name + tempSuffix
	f, err := os.OpenFile(filepath.Join(dir, temp), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &File{f: f, h: sha256.New(), dir: dir, name: name, temp: temp, hooks: hooks}, nil
}

// Write writes p to the chunk.
func (c *File) Write(p []byte) (int, error) {
	if c.hooks.BeforeWrite != nil {
		if err := c.hooks.BeforeWrite(c.name, c.n, len(p)); err != nil {
			return 0, &os.PathError{Op: "write", Path: filepath.Join(c.dir, c.temp), Err: err}
		}
	}
	n, err := c.f.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// Seal makes the chunk durable under its final name: sync the file, close
// it, rename it, sync the directory. It returns the size and the hex
// SHA-256 of the contents.
func (c *File) Seal() (size int64, sum string, err error) {
	run(c.hooks.AfterWrite, c.name)
	if err := c.f.Sync(); err != nil {
		return 0, "", errors.Join(fmt.Errorf("sync %s: %w", c.temp, err), c.Abort())
	}
	run(c.hooks.AfterSync, c.name)
	if err := c.f.Close(); err != nil {
		c.f = nil
		return 0, "", errors.Join(fmt.Errorf("close %s: %w", c.temp, err), c.Abort())
	}
	c.f = nil
	if err := os.Rename(filepath.Join(c.dir, c.temp), filepath.Join(c.dir, c.name)); err != nil {
		return 0, "", errors.Join(fmt.Errorf("rename %s: %w", c.temp, err), c.Abort())
	}
	run(c.hooks.AfterRename, c.name)
	if err := SyncDir(c.dir); err != nil {
		return 0, "", err
	}
	return c.n, hex.EncodeToString(c.h.Sum(nil)), nil
}

// Abort closes and removes the temporary file. The final name is never
// touched.
func (c *File) Abort() error {
	var errs []error
	if c.f != nil {
		errs = append(errs, c.f.Close())
		c.f = nil
	}
	if err := os.Remove(filepath.Join(c.dir, c.temp)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func run(hook func(string), name string) {
	if hook != nil {
		hook(name)
	}
}

// SyncDir makes the directory's entries (a create, a rename) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// WriteFileAtomic writes data to dir/name through a temporary file, so that
// readers see the old or the new contents, never a mix.
func WriteFileAtomic(dir, name string, data []byte) error {
	c, err := Create(dir, name, Hooks{})
	if err != nil {
		return err
	}
	if _, err := c.Write(data); err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", name, err), c.Abort())
	}
	_, _, err = c.Seal()
	return err
}

// RemoveTemps deletes the temporary files that an interrupted writer left in
// dir, and returns their names.
func RemoveTemps(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.Type().IsRegular() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}
