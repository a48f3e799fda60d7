package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
)

// The chunks of an export are complete zstd frames or gzip members, so
// their concatenation, in order, is one valid stream of the whole export.
// FileOutput and StreamOutput are the Objects (see Env.Objects) of an
// export written as that one stream: each chunk goes into the output
// before it is recorded, and its chunk file is removed once it is, so the
// export's directory holds only the chunk being written.

// ErrOutputDamaged means a single-file output is shorter than the chunks
// its checkpoint records: it was cut or replaced, and resuming it would
// leave a hole.
var ErrOutputDamaged = errors.New("output file is shorter than its recorded chunks")

// FileOutput is one file that holds an export's chunks concatenated. It
// is resumable: the file always begins with the recorded chunks, whole,
// and a chunk written but not recorded (a crash between the two) is cut
// off when the file is opened again.
type FileOutput struct {
	f    *os.File
	path string
	// ends[i] is the file's size once chunk i is in it.
	ends []int64
	// dir, when set, receives manifest.json.
	dir string
}

var _ Objects = (*FileOutput)(nil)

// OpenFileOutput opens the file at path (creating it) for the chunks of
// export id in s, and cuts it back to the chunks s records. manifestDir,
// when not empty, is where PutManifest keeps manifest.json. The caller
// closes the file (Close), or renames it into place (Finish).
func OpenFileOutput(path string, s checkpoint.Records, id, manifestDir string) (*FileOutput, error) {
	chunks, err := s.Chunks(id)
	if err != nil {
		return nil, err
	}
	o := &FileOutput{path: path, dir: manifestDir}
	var size int64
	for _, c := range chunks {
		size += c.Bytes
		o.ends = append(o.ends, size)
	}
	if o.f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return nil, err
	}
	fi, err := o.f.Stat()
	if err != nil {
		return nil, errors.Join(err, o.f.Close())
	}
	switch {
	case fi.Size() < size:
		return nil, errors.Join(fmt.Errorf("%w: %s holds %s, less than the %s of its %s", ErrOutputDamaged, path, api.Count(fi.Size(), "byte"), api.Count(size, "byte"), api.Count(len(chunks), "recorded chunk")), o.f.Close())
	case fi.Size() > size:
		if err := o.truncate(size); err != nil {
			return nil, errors.Join(err, o.f.Close())
		}
	}
	return o, nil
}

func (o *FileOutput) truncate(size int64) error {
	if err := o.f.Truncate(size); err != nil {
		return fmt.Errorf("cut %s back to its recorded chunks: %w", o.path, err)
	}
	return o.f.Sync()
}

// PutChunk appends the chunk file at path as chunk index, checked against
// its size and SHA-256, and syncs the file. A chunk written again (a run
// retried after its record failed) replaces what followed its
// predecessor.
func (o *FileOutput) PutChunk(_ context.Context, _ string, index int, _, path string, size int64, sha256hex string) error {
	if index > len(o.ends) {
		return fmt.Errorf("chunk %d comes after %s", index, api.Count(len(o.ends), "chunk"))
	}
	var start int64
	if index > 0 {
		start = o.ends[index-1]
	}
	o.ends = o.ends[:index]
	if err := o.truncate(start); err != nil {
		return err
	}
	if _, err := o.f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	if err := appendChunk(o.f, path, size, sha256hex); err != nil {
		return errors.Join(err, o.truncate(start))
	}
	if err := o.f.Sync(); err != nil {
		return err
	}
	o.ends = append(o.ends, start+size)
	return nil
}

// PutManifest keeps the manifest in the directory given to
// OpenFileOutput, if any.
func (o *FileOutput) PutManifest(_ context.Context, _ string, data []byte) error {
	if o.dir == "" {
		return nil
	}
	return chunker.WriteFileAtomic(o.dir, chunker.ManifestName, data)
}

// Size is the file's size: the recorded chunks' and any appended since.
func (o *FileOutput) Size() int64 {
	if len(o.ends) == 0 {
		return 0
	}
	return o.ends[len(o.ends)-1]
}

// Finish makes the file durable and renames it to dst (replacing what dst
// was), atomically: dst is the old file or the whole export, never a part.
func (o *FileOutput) Finish(dst string) error {
	if err := o.f.Sync(); err != nil {
		return errors.Join(err, o.f.Close())
	}
	if err := o.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(o.path, dst); err != nil {
		return err
	}
	return chunker.SyncDir(filepath.Dir(dst))
}

// Close closes the file, which keeps what it holds for a resume.
func (o *FileOutput) Close() error { return o.f.Close() }

// StreamOutput writes an export's chunks to a stream (a pipe, standard
// output) as they are recorded. It cannot resume: a chunk already written
// is not written again, which is right only within one process, whose
// chunks come out the same when a run is retried.
type StreamOutput struct {
	w    io.Writer
	next int
}

var _ Objects = (*StreamOutput)(nil)

// NewStreamOutput writes an export's chunks to w.
func NewStreamOutput(w io.Writer) *StreamOutput { return &StreamOutput{w: w} }

// PutChunk writes the chunk file at path to the stream, checked against
// its size and SHA-256, unless it was written already.
func (s *StreamOutput) PutChunk(_ context.Context, _ string, index int, _, path string, size int64, sha256hex string) error {
	switch {
	case index < s.next:
		return nil // the same bytes are out already
	case index > s.next:
		return fmt.Errorf("chunk %d comes after %s", index, api.Count(s.next, "chunk"))
	}
	if err := appendChunk(s.w, path, size, sha256hex); err != nil {
		if errors.Is(err, ErrMissingChunk) {
			return err
		}
		return &StreamError{Err: err}
	}
	s.next++
	return nil
}

// StreamError is a StreamOutput's failure to write: its reader went away
// (EPIPE) or its device failed. It does not unwrap, so that no retry is
// tried (a retry cannot take back what was written), and the export
// fails at once; Err says why.
type StreamError struct{ Err error }

func (e *StreamError) Error() string { return "write the output: " + e.Err.Error() }

// PutManifest does nothing: a stream holds only the data.
func (s *StreamOutput) PutManifest(context.Context, string, []byte) error { return nil }

// appendChunk copies the file at path to w and checks that it had size
// bytes with the SHA-256 sha256hex. A write error is returned as it is,
// so that a closed pipe can be told apart.
func appendChunk(w io.Writer, path string, size int64, sha256hex string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(w, io.TeeReader(f, h))
	if err != nil {
		return err
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != sha256hex {
		return fmt.Errorf("%w: %s is not the chunk that was sealed (%d bytes, want %d)", ErrMissingChunk, filepath.Base(path), n, size)
	}
	return nil
}
