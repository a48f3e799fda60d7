package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/objstore"
)

// Files is where the server finds the chunk files of exports, which GET
// /exports/{id}/chunks/{n} and /data send. The server opens only names
// that the export's manifest lists, in the form chunker.Name gives them,
// and checks each file's size against the manifest.
type Files interface {
	// Open opens file name of export id for reading. ctx bounds the
	// reads of the file as well as Open. When there is no such file
	// (the export was deleted meanwhile) the error satisfies
	// errors.Is(err, fs.ErrNotExist), which the server answers with 404.
	Open(ctx context.Context, id, name string) (File, error)
}

// File is an open chunk file: Read and Seek as io.ReadSeeker says (an
// offset past the end reads io.EOF), for http.ServeContent.
type File interface {
	io.ReadSeekCloser
	// Size is the file's length in bytes when it was opened.
	Size() int64
	// ModTime is when the file was written, for Last-Modified while the
	// export has no finishedAt.
	ModTime() time.Time
}

// dirFiles is the default Files: the chunk files in the export
// directories that Exports.Dir names.
type dirFiles struct{ exports api.Exports }

func (d dirFiles) Open(_ context.Context, id, name string) (File, error) {
	dir, err := d.exports.Dir(id)
	if err != nil {
		return nil, err
	}
	return openFile(filepath.Join(dir, name))
}

// dirFile is a File on the local disk. The embedded *os.File keeps its
// SyscallConn, through which net/http sends it with sendfile.
type dirFile struct {
	*os.File
	info fs.FileInfo
}

var _ syscall.Conn = (*dirFile)(nil)

// openFile opens the file at path; an error wrapping fs.ErrNotExist if
// there is none.
func openFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &dirFile{File: f, info: fi}, nil
}

func (f *dirFile) Size() int64        { return f.info.Size() }
func (f *dirFile) ModTime() time.Time { return f.info.ModTime() }

// ObjectFiles is the Files of exports kept in an object store: chunk n
// of export id is the object s.ChunkKey(id, n, ext), as Store.PutChunk
// stored it. Each file is read with ranged GETs as it is sent (an
// *objstore.Object): a Range request fetches from its first byte on,
// and nothing is redirected to the store.
func ObjectFiles(s *objstore.Store) Files { return objectFiles{s} }

type objectFiles struct{ s *objstore.Store }

func (o objectFiles) Open(ctx context.Context, id, name string) (File, error) {
	key, err := o.chunkKey(id, name)
	if err != nil {
		return nil, err
	}
	obj, err := o.s.Open(ctx, key)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return nil, err
	}
	return obj, nil
}

// chunkKey is the key of chunk file name of export id: the store's
// ChunkKey of the index and extension that name gives, which must give
// name back.
func (o objectFiles) chunkKey(id, name string) (string, error) {
	rest, ok := strings.CutPrefix(name, "chunk-")
	digits, ext, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(digits)
	if !ok || err != nil || chunker.Name(n, ext) != name {
		return "", fmt.Errorf("export %s: %w: %q is not a chunk file name", id, errManifest, name)
	}
	return o.s.ChunkKey(id, n, ext)
}
