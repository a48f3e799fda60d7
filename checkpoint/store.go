package checkpoint

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/request"
)

// Bucket names. exports maps an id to its Export; chunks holds one nested
// bucket per export, keyed by big-endian chunk index; requests maps a
// client's requestId to the export id it made.
var (
	bucketExports  = []byte("exports")
	bucketChunks   = []byte("chunks")
	bucketRequests = []byte("requests")
)

// FileName is the store's file name in a data directory.
const FileName = "exportd.db"

// lockWait is how long Open waits for another process's lock.
const lockWait = time.Second

// Export is the stored state of one export.
type Export struct {
	ID        string `json:"id"`
	RequestID string `json:"requestId,omitempty"`
	// Request is the request as accepted, for the manifest.
	Request json.RawMessage `json:"request"`
	// Plan is the compiled request; resume runs exactly this plan.
	Plan      request.Plan `json:"plan"`
	CreatedAt time.Time    `json:"createdAt"`
	// StartedAt is when the export first ran, FinishedAt when it reached
	// a final state.
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	State      api.State  `json:"state"`
	Error      string     `json:"error"`
	// Records and Bytes count what the recorded chunks hold; Chunks is
	// how many there are, and so the next chunk's index.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	Chunks  int   `json:"chunks"`
	// LastKey is the sort key of the last recorded record (canonical
	// Extended JSON), where resume continues; null before any record.
	LastKey json.RawMessage `json:"lastKey"`
	// Resumes counts how many times the export was resumed.
	Resumes int `json:"resumes"`
	// Unreadable is set when the stored record cannot be read back. The
	// Export is then a placeholder the store makes, never stores: ID and
	// RequestID as the store's keys give them, State failed, Error
	// "checkpoint record unreadable: <cause>", everything else zero
	// (CreatedAt too). Commit and SetState refuse it with this error and
	// leave the record's bytes as they are; Delete removes it.
	Unreadable *CorruptError `json:"-"`
}

// NewExport is a new queued export of plan, made at now for the request
// req as a client gave it (kept compacted) and the client's requestID
// (empty for none): how the daemon and exportd export alike make the
// record they Create.
func NewExport(requestID string, req json.RawMessage, plan *request.Plan, now time.Time) *Export {
	var b bytes.Buffer
	if json.Compact(&b, req) == nil {
		req = b.Bytes()
	}
	return &Export{
		ID: NewID(), RequestID: requestID, Request: req, Plan: *plan,
		CreatedAt: now.UTC().Truncate(time.Millisecond), State: api.StateQueued,
	}
}

// Finished reports whether the export is in a final state.
func (e *Export) Finished() bool { return e.State.Final() }

// Store is an open checkpoint file. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
}

// Open opens (creating if needed) the store at path. If another process
// holds it, Open fails with ErrLocked within about a second.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockWait})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open checkpoint store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketExports, bucketChunks, bucketRequests} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open checkpoint store %s: %w", path, err), db.Close())
	}
	return &Store{db: db}, nil
}

// Check runs bbolt's consistency check over the whole file.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Path is the store's file.
func (s *Store) Path() string { return s.db.Path() }

// Create stores a new export. If e.RequestID names an export already made,
// nothing is stored and that export is returned with created false.
func (s *Store) Create(e *Export) (got *Export, created bool, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		if e.RequestID != "" {
			if id := tx.Bucket(bucketRequests).Get([]byte(e.RequestID)); id != nil {
				got, err = getExport(tx, string(id))
				return err
			}
			if err := tx.Bucket(bucketRequests).Put([]byte(e.RequestID), []byte(e.ID)); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketExports).Get([]byte(e.ID)) != nil {
			return fmt.Errorf("export %s exists already", e.ID)
		}
		if _, err := tx.Bucket(bucketChunks).CreateBucket([]byte(e.ID)); err != nil {
			return err
		}
		got, created = e, true
		return putExport(tx, e)
	})
	return got, created, err
}

// Get returns export id; a placeholder (see Export.Unreadable) if its
// record cannot be read back.
func (s *Store) Get(id string) (*Export, error) {
	var e *Export
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		e, err = getExport(tx, id)
		return err
	})
	return e, err
}

// ByRequestID returns the export made for a client's requestId, a
// placeholder if its record cannot be read back; ErrNotFound if there is
// none.
func (s *Store) ByRequestID(key string) (*Export, error) {
	var e *Export
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketRequests).Get([]byte(key))
		if id == nil {
			return fmt.Errorf("%w: requestId %q", ErrNotFound, key)
		}
		e, err = getExport(tx, string(id))
		return err
	})
	return e, err
}

// List returns every export, oldest first, then a placeholder (see
// Export.Unreadable) for each export whose record cannot be read back, by
// id. One unreadable record never makes List fail; a record whose key is
// not an export id is left out, and Unreadable reports it.
func (s *Store) List() ([]*Export, error) {
	var out, unreadable []*Export
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketExports).ForEach(func(k, v []byte) error {
			e, bad := decodeExport(k, v)
			switch {
			case bad == nil:
				out = append(out, e)
			case bad.ID != "":
				unreadable = append(unreadable, placeholder(tx, bad))
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortByCreation(out)
	return append(out, unreadable...), nil
}

// Chunks returns the recorded chunks of export id, in order; a
// *CorruptError if one of them cannot be read back.
func (s *Store) Chunks(id string) ([]api.Chunk, error) {
	var out []api.Chunk
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		out, err = getChunks(tx, id)
		return err
	})
	return out, err
}

func getChunks(tx *bolt.Tx, id string) ([]api.Chunk, error) {
	b, err := chunkBucket(tx, id)
	if err != nil {
		return nil, err
	}
	var out []api.Chunk
	err = b.ForEach(func(k, v []byte) error {
		c, bad := decodeChunk(id, k, v)
		if bad != nil {
			return bad
		}
		out = append(out, c)
		return nil
	})
	return out, err
}

// chunkBucket is export id's chunk bucket: ErrNotFound if there is no such
// export, a *CorruptError if there is one without its bucket.
func chunkBucket(tx *bolt.Tx, id string) (*bolt.Bucket, error) {
	if b := tx.Bucket(bucketChunks).Bucket([]byte(id)); b != nil {
		return b, nil
	}
	if tx.Bucket(bucketExports).Get([]byte(id)) == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil, &CorruptError{ID: id, Chunk: true, Err: errNoChunkBucket}
}

// Commit records sealed chunk c of export id and advances its resume point,
// in one transaction. With final set, the export is completed too. The
// chunk must be the next one in order. An export whose record cannot be
// read back is refused with a *CorruptError, and its record is left as it
// is.
func (s *Store) Commit(id string, c api.Chunk, final bool, at time.Time) error {
	return s.update(id, func(tx *bolt.Tx, e *Export) error {
		if err := e.CheckCommit(c); err != nil {
			return err
		}
		b, err := chunkBucket(tx, id)
		if err != nil {
			return err
		}
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		if err := b.Put(chunkKey(c.Index), data); err != nil {
			return err
		}
		e.Advance(c, final, at)
		return nil
	})
}

// SetState moves export id to state, with msg as its error (empty to
// clear it), by the rules of Export.SetState. An export whose record cannot
// be read back is refused with a *CorruptError, and its record is left as
// it is.
func (s *Store) SetState(id string, state api.State, msg string, at time.Time) error {
	return s.update(id, func(_ *bolt.Tx, e *Export) error { return e.SetState(state, msg, at) })
}

// Delete removes export id, its chunk records and the requestIds that
// name it. It reads none of them, so it removes an export whose records
// cannot be read back as well.
func (s *Store) Delete(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketExports).Get([]byte(id)) == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		requests := tx.Bucket(bucketRequests)
		for _, key := range requestKeys(tx, id) {
			if err := requests.Delete(key); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketChunks).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return tx.Bucket(bucketExports).Delete([]byte(id))
	})
}

// Manifest builds the manifest of export id from its records, read in one
// transaction so that its counters and chunks agree. Records that cannot
// be read back do not make it fail: the manifest of a placeholder (see
// Export.Unreadable) is the placeholder's, and an export with an
// unreadable chunk record gets a manifest that says failed, with the
// chunk's error and no chunks, whatever its stored state.
func (s *Store) Manifest(id string) (*api.Manifest, error) {
	var m *api.Manifest
	err := s.db.View(func(tx *bolt.Tx) error {
		e, err := getExport(tx, id)
		if err != nil {
			return err
		}
		if e.Unreadable != nil {
			m = e.Manifest(nil)
			return nil
		}
		chunks, err := getChunks(tx, id)
		if bad, ok := errors.AsType[*CorruptError](err); ok {
			m = e.Manifest(nil)
			m.State, m.Error = api.StateFailed, bad.status()
			return nil
		}
		if err != nil {
			return err
		}
		m = e.Manifest(chunks)
		return nil
	})
	return m, err
}

// Manifest is the export's manifest with the given chunks (none for a
// listing).
func (e *Export) Manifest(chunks []api.Chunk) *api.Manifest {
	return &api.Manifest{
		ID: e.ID, Request: e.Request, State: e.State,
		Format: e.Plan.Format, Compression: e.Plan.Compression, Ext: api.Ext(e.Plan.Format, e.Plan.Compression),
		CreatedAt: e.CreatedAt, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt,
		Records: e.Records, Bytes: e.Bytes, Error: e.Error, Chunks: chunks,
	}
}

func (s *Store) update(id string, fn func(*bolt.Tx, *Export) error) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		e, err := getExport(tx, id)
		if err != nil {
			return err
		}
		if e.Unreadable != nil {
			return e.Unreadable // never overwrite what could still be repaired
		}
		if err := fn(tx, e); err != nil {
			return err
		}
		return putExport(tx, e)
	})
}

// getExport reads export id: a placeholder if its record cannot be read
// back, a *CorruptError if id is not an export id either.
func getExport(tx *bolt.Tx, id string) (*Export, error) {
	v := tx.Bucket(bucketExports).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e, bad := decodeExport([]byte(id), v)
	switch {
	case bad == nil:
		return e, nil
	case bad.ID == "":
		return nil, bad
	}
	return placeholder(tx, bad), nil
}

func putExport(tx *bolt.Tx, e *Export) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketExports).Put([]byte(e.ID), data)
}

func chunkKey(i int) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(i))
}

func sortByCreation(es []*Export) {
	slices.SortStableFunc(es, func(a, b *Export) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
