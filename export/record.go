package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
)

// Objects is where sealed chunks and manifests go when they are not kept
// in the export's directory: an object store. objstore.Store implements
// it.
type Objects interface {
	// PutChunk stores the file at path as chunk index of export id, if
	// its bytes have the given size and SHA-256.
	PutChunk(ctx context.Context, id string, index int, ext, path string, size int64, sha256hex string) error
	// PutManifest stores data as the manifest of export id.
	PutManifest(ctx context.Context, id string, data []byte) error
}

// Record is the one writer of an export's durable state: its checkpoint
// record in Store and its manifest.json, beside its chunks in Dir or, with
// Objects, in the object store. Every change goes to the record first and
// then rewrites the manifest from it, so the manifest never says more than
// the record: after a crash between the two, the next change (or Save)
// brings the manifest up to date. Run, the daemon's runner and exportd
// export change exports only through it.
type Record struct {
	Store checkpoint.Records
	ID    string
	// Dir holds the chunk files as they are sealed; without Objects, the
	// manifest too, and the chunks stay.
	Dir string
	// Objects, when set, is where each chunk is uploaded before it is
	// recorded (its file in Dir is removed once it is), and where the
	// manifest is kept.
	Objects Objects
	// AfterCommit, when set, is called between a chunk's record and the
	// manifest's rewrite (crash tests stop the process there).
	AfterCommit func(c api.Chunk)

	// chunks, when set, keeps the recorded chunks between changes, so that
	// a commit rewrites the manifest from one read of the record instead
	// of reading every chunk again (which, on a cluster's key-value
	// bucket, is a request per chunk).
	chunks *chunkCache
}

// chunkCache is the recorded chunks of one export, as its one writer
// knows them.
type chunkCache struct{ list []api.Chunk }

// Cached is r keeping the recorded chunks between its changes: for a run,
// the export's one writer.
func (r Record) Cached() Record {
	r.chunks = &chunkCache{}
	return r
}

// Commit records sealed chunk c (see checkpoint.Store.Commit; final
// completes the export) and rewrites the manifest. With Objects, the chunk
// is uploaded first: a chunk is recorded only once the object store holds
// it, checked against its SHA-256.
func (r Record) Commit(ctx context.Context, c api.Chunk, final bool, at time.Time) error {
	path := filepath.Join(r.Dir, c.Name)
	if r.Objects != nil {
		_, ext, ok := strings.Cut(c.Name, ".")
		if !ok {
			return fmt.Errorf("chunk %q has no extension", c.Name)
		}
		if err := r.Objects.PutChunk(ctx, r.ID, c.Index, ext, path, c.Bytes, c.SHA256); err != nil {
			return fmt.Errorf("upload %s: %w", c.Name, err)
		}
	}
	if err := r.Store.Commit(r.ID, c, final, at); err != nil {
		return err
	}
	if r.chunks != nil {
		if len(r.chunks.list) == c.Index {
			r.chunks.list = append(r.chunks.list, c)
		} else {
			r.chunks.list = nil // read again at the next Save
		}
	}
	if r.AfterCommit != nil {
		r.AfterCommit(c)
	}
	if r.Objects != nil {
		// The object is the chunk now; a crash before this leaves a file
		// that Recover removes.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	_, err := r.Save(ctx)
	return err
}

// SetState moves the export to state with msg as its error (see
// checkpoint.Store.SetState), rewrites the manifest and returns it.
func (r Record) SetState(ctx context.Context, state api.State, msg string, at time.Time) (*api.Manifest, error) {
	if err := r.Store.SetState(r.ID, state, msg, at); err != nil {
		return nil, err
	}
	return r.Save(ctx)
}

// Save rewrites the manifest from the record, and returns it.
func (r Record) Save(ctx context.Context) (*api.Manifest, error) {
	m, err := r.manifest()
	if err != nil {
		return nil, err
	}
	if r.Objects == nil {
		return m, chunker.WriteManifest(r.Dir, m)
	}
	data, err := chunker.MarshalManifest(m)
	if err != nil {
		return nil, err
	}
	if err := r.Objects.PutManifest(ctx, r.ID, data); err != nil {
		return nil, fmt.Errorf("upload %s: %w", chunker.ManifestName, err)
	}
	return m, nil
}

// manifest is the export's manifest from its record, with the chunks
// kept in r.chunks while their count agrees with the record's.
func (r Record) manifest() (*api.Manifest, error) {
	if r.chunks == nil {
		return r.Store.Manifest(r.ID)
	}
	e, err := r.Store.Get(r.ID)
	if err != nil {
		return nil, err
	}
	if e.Unreadable != nil {
		return r.Store.Manifest(r.ID) // its placeholder
	}
	if e.Chunks != len(r.chunks.list) {
		list, err := r.Store.Chunks(r.ID)
		if err != nil {
			// A chunk that cannot be read back: the store's manifest says
			// so.
			r.chunks.list = nil
			return r.Store.Manifest(r.ID)
		}
		r.chunks.list = list
	}
	n := len(r.chunks.list)
	return e.Manifest(r.chunks.list[:n:n]), nil
}
