package httpapi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// concatLayout is a set of files on disk and their concatenation.
type concatLayout struct {
	paths []string
	sizes []int64
	data  []byte
}

// newConcatLayout writes files of the given sizes with distinct
// contents to dir.
func newConcatLayout(tb testing.TB, dir string, sizes ...int64) *concatLayout {
	tb.Helper()
	l := &concatLayout{sizes: sizes}
	rng := rand.New(rand.NewPCG(uint64(len(sizes)), 7))
	for i, size := range sizes {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, fmt.Sprintf("part-%d-%d", len(sizes), i))
		if err := os.WriteFile(path, b, 0o644); err != nil {
			tb.Fatal(err)
		}
		l.paths = append(l.paths, path)
		l.data = append(l.data, b...)
	}
	return l
}

func (l *concatLayout) open() *concat { return openConcat(l.paths, l.sizes) }

// openConcat is the concatenation of the files at paths, of the given
// sizes.
func openConcat(paths []string, sizes []int64) *concat {
	return newConcat(sizes, func(i int) (File, error) { return openFile(paths[i]) })
}

// FuzzConcat checks that every read of the virtual file, after any
// seek, gives the same bytes as the same slice of the concatenated files,
// and that the offset moves as io.Seeker says.
func FuzzConcat(f *testing.F) {
	dir := f.TempDir()
	layouts := []*concatLayout{
		newConcatLayout(f, dir),                            // no files
		newConcatLayout(f, dir, 1000),                      // one file
		newConcatLayout(f, dir, 0, 7, 0, 0, 300, 1, 0, 64), // empty files among small ones
		newConcatLayout(f, dir, 4096, 4095, 4097, 1, 8192),
	}
	op := func(whence byte, off int64, n uint16) []byte {
		b := []byte{whence}
		b = binary.LittleEndian.AppendUint64(b, uint64(off))
		return binary.LittleEndian.AppendUint16(b, n)
	}
	f.Add(byte(0), op(0, 0, 100))
	f.Add(byte(2), bytes.Join([][]byte{op(0, 5, 10), op(1, 300, 9), op(2, -1, 5), op(2, -400, 2000)}, nil))
	f.Add(byte(3), bytes.Join([][]byte{op(0, 4090, 20), op(1, 4090, 20), op(0, 1<<40, 1), op(1, -5, 1)}, nil))
	f.Add(byte(1), bytes.Join([][]byte{op(2, 0, 1), op(0, -1, 1), op(3, 0, 1), op(0, 999, 1)}, nil))

	f.Fuzz(func(t *testing.T, layout byte, ops []byte) {
		l := layouts[int(layout)%len(layouts)]
		c := l.open()
		defer func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		}()
		size := int64(len(l.data))
		if c.Size() != size {
			t.Fatalf("Size %d, want %d", c.Size(), size)
		}
		var pos int64
		for len(ops) >= 11 {
			whence := int(ops[0] % 4) // 3 is invalid
			off := int64(binary.LittleEndian.Uint64(ops[1:]))
			n := int(binary.LittleEndian.Uint16(ops[9:]))
			ops = ops[11:]

			want := int64(-1) // the new offset, or -1 for an error
			switch whence {
			case io.SeekStart:
				want = off
			case io.SeekCurrent:
				want = pos + off
				if off > 0 && want < pos { // overflow
					want = -1
				}
			case io.SeekEnd:
				want = size + off
				if off > 0 && want < size {
					want = -1
				}
			}
			got, err := c.Seek(off, whence)
			if want < 0 {
				if err == nil {
					t.Fatalf("Seek(%d, %d) from %d = %d, want an error", off, whence, pos, got)
				}
				continue // the offset stays
			}
			if err != nil || got != want {
				t.Fatalf("Seek(%d, %d) from %d = %d, %v; want %d", off, whence, pos, got, err, want)
			}
			pos = want

			// Property: ReadFull gives exactly the slice of the concatenation.
			buf := make([]byte, n)
			k, err := io.ReadFull(c, buf)
			wantN := int(max(0, min(int64(n), size-pos)))
			if k != wantN {
				t.Fatalf("read %d at %d: got %d bytes (%v), want %d", n, pos, k, err, wantN)
			}
			switch {
			case n == 0:
			case wantN == n && err != nil:
				t.Fatalf("read %d at %d: %v", n, pos, err)
			case wantN == 0 && !errors.Is(err, io.EOF):
				t.Fatalf("read %d at %d (end %d): %v, want io.EOF", n, pos, size, err)
			case wantN > 0 && wantN < n && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Fatalf("read %d at %d (end %d): %v, want io.ErrUnexpectedEOF", n, pos, size, err)
			}
			if wantN > 0 && !bytes.Equal(buf[:k], l.data[pos:pos+int64(k)]) {
				t.Fatalf("read %d at %d: bytes differ from the concatenation", n, pos)
			}
			pos += int64(k)
			if cur, err := c.Seek(0, io.SeekCurrent); err != nil || cur != pos {
				t.Fatalf("offset after the read = %d, %v; want %d", cur, err, pos)
			}
		}
	})
}

func TestConcat(t *testing.T) {
	dir := t.TempDir()
	l := newConcatLayout(t, dir, 10, 0, 20, 5)

	t.Run("read all", func(t *testing.T) {
		c := l.open()
		defer c.Close()
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, l.data) {
			t.Fatalf("ReadAll: %d bytes, %v; want the %d bytes of the files", len(got), err, len(l.data))
		}
	})
	t.Run("a read stops at a file's end", func(t *testing.T) {
		c := l.open()
		defer c.Close()
		buf := make([]byte, 100)
		if n, err := c.Read(buf); n != 10 || err != nil {
			t.Fatalf("first Read = %d, %v; want 10 (the first file)", n, err)
		}
		if n, err := c.Read(buf); n != 20 || err != nil {
			t.Fatalf("second Read = %d, %v; want 20 (the empty file skipped)", n, err)
		}
	})
	t.Run("one file open at a time", func(t *testing.T) {
		c := l.open()
		buf := make([]byte, 1)
		for _, off := range []int64{0, 12, 33, 5} {
			if _, err := c.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			prev := c.f
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
			if prev != nil && prev != c.f {
				if _, err := prev.(*dirFile).Stat(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("the file before offset %d was left open", off)
				}
			}
		}
		if err := c.Close(); err != nil || c.f != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("a Seek opens no file, a Read only its own", func(t *testing.T) {
		var opened []int
		c := newConcat(l.sizes, func(i int) (File, error) {
			opened = append(opened, i)
			return openFile(l.paths[i])
		})
		defer c.Close()
		for _, off := range []int64{33, 0, 12, 31} {
			if _, err := c.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
		}
		if len(opened) != 0 {
			t.Fatalf("Seek opened files %v", opened)
		}
		buf := make([]byte, 3)
		if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, l.data[31:34]) {
			t.Fatalf("read at 31: %q, %v", buf, err)
		}
		if !slices.Equal(opened, []int{3}) {
			t.Fatalf("a read in the last file opened files %v", opened)
		}
	})
	t.Run("file shorter than its size", func(t *testing.T) {
		c := openConcat(l.paths, []int64{10, 0, 21, 5})
		defer c.Close()
		_, err := io.ReadAll(c)
		if !errors.Is(err, errChunkSize) {
			t.Fatalf("ReadAll over a short file: %v, want errChunkSize", err)
		}
	})
	t.Run("file gone", func(t *testing.T) {
		c := openConcat(append([]string{filepath.Join(dir, "missing")}, l.paths[1:]...), l.sizes)
		defer c.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Read of a missing file: %v", err)
		}
	})
}
