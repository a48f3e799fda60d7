package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
)

// Store keeps the export records of a cluster's daemons in a JetStream
// key-value bucket, with the contract of checkpoint.Store (see
// checkpoint/storetest) and ownership on top (Claim, Owned). It is safe
// for concurrent use, by any number of processes.
type Store struct {
	b       bucket
	timeout time.Duration
}

// Store is a store of export records, as the bbolt store is.
var _ checkpoint.Records = (*Store)(nil)

// OpenStore makes (or updates to cfg) the bucket cfg names and returns
// its store. It does not own js's connection.
//
// The bucket's stream is the one jetstream.CreateKeyValue makes, but for
// direct gets, which are off: a replica catching up after a restart
// answers them with what it has, and a compare-and-set must never be
// based on that. Every read is the stream leader's.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	subjects := "$KV." + cfg.Bucket + "."
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "KV_" + cfg.Bucket, Description: "exportd export records", Subjects: []string{subjects + ">"},
		MaxMsgsPerSubject: 1, MaxBytes: -1, MaxMsgSize: -1, MaxMsgs: -1, MaxConsumers: -1,
		Storage: jetstream.FileStorage, Replicas: cfg.Replicas, Discard: jetstream.DiscardNew,
		AllowRollup: true, DenyDelete: true, Duplicates: 2 * time.Minute, AllowDirect: false,
	})
	if err != nil {
		return nil, fmt.Errorf("export records bucket %s: %w", cfg.Bucket, err)
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("export records bucket %s: %w", cfg.Bucket, err)
	}
	b := bucket{kv: kv, stream: stream, subjects: subjects, attempt: attempt(cfg)}
	return &Store{b: b, timeout: cfg.Timeout}, nil
}

// chunkReads is how many requests for one export's chunks Chunks,
// Manifest or Delete has in flight.
const chunkReads = 16

// op is the context of one store operation.
func (s *Store) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// Create stores a new export. If e.RequestID names an export already made
// (by any node), nothing of e is kept and that export is returned with
// created false. The record is written before its requestId: a loser of
// a race removes its own record, never the winner's.
func (s *Store) Create(e *checkpoint.Export) (got *checkpoint.Export, created bool, err error) {
	if !checkpoint.ValidID(e.ID) {
		return nil, false, fmt.Errorf("create export: %q is not an export id", api.Clip(e.ID, 64))
	}
	data, err := json.Marshal(record{Export: e})
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := s.op()
	defer cancel()
	if err := s.b.create(ctx, exportKey(e.ID), data); errors.Is(err, jetstream.ErrKeyExists) {
		return nil, false, fmt.Errorf("export %s exists already", e.ID)
	} else if err != nil {
		return nil, false, fmt.Errorf("create export %s: %w", e.ID, err)
	}
	if e.RequestID == "" {
		return e, true, nil
	}
	winner, err := s.index(ctx, e)
	switch {
	case err != nil:
		return nil, false, errors.Join(err, s.b.purge(ctx, exportKey(e.ID), 0))
	case winner != nil:
		if err := s.b.purge(ctx, exportKey(e.ID), 0); err != nil {
			return nil, false, fmt.Errorf("remove export %s, made for requestId %q again: %w", e.ID, api.Clip(e.RequestID, 64), err)
		}
		return winner, false, nil
	}
	return e, true, nil
}

// index points e's requestId at e, unless it names another export: then
// that one is returned. An index entry whose export is gone (a Delete cut
// short) is removed on the way.
func (s *Store) index(ctx context.Context, e *checkpoint.Export) (*checkpoint.Export, error) {
	key := requestKey(e.RequestID)
	for range maxAttempts {
		err := s.b.create(ctx, key, []byte(e.ID))
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("index requestId of export %s: %w", e.ID, err)
		}
		ent, err := s.b.get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read requestId index: %w", err)
		}
		winner, err := s.get(ctx, string(ent.Value()))
		if !errors.Is(err, checkpoint.ErrNotFound) {
			return winner, err
		}
		// Records are written before their index and removed after it,
		// so this entry outlived its export.
		err = s.b.purge(ctx, key, ent.Revision())
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, fmt.Errorf("remove requestId index of gone export %s: %w", ent.Value(), err)
		}
	}
	return nil, fmt.Errorf("%w: requestId index of export %s", ErrConflict, e.ID)
}

// Get returns export id; a placeholder (see checkpoint.Export.Unreadable)
// if its record cannot be read back.
func (s *Store) Get(id string) (*checkpoint.Export, error) {
	ctx, cancel := s.op()
	defer cancel()
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (*checkpoint.Export, error) {
	_, r, err := s.read(ctx, id)
	if bad, ok := errors.AsType[*checkpoint.CorruptError](err); ok {
		return placeholder(bad), nil
	}
	if err != nil {
		return nil, err
	}
	return r.Export, nil
}

// read returns export id's entry and record: ErrNotFound if there is
// none, a *checkpoint.CorruptError if it cannot be read back.
func (s *Store) read(ctx context.Context, id string) (jetstream.KeyValueEntry, *record, error) {
	if !checkpoint.ValidID(id) {
		return nil, nil, fmt.Errorf("%w: %s", checkpoint.ErrNotFound, api.Clip(id, 64))
	}
	ent, err := s.b.get(ctx, exportKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, fmt.Errorf("%w: %s", checkpoint.ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read export %s: %w", id, err)
	}
	r, bad := decodeRecord(ent.Key(), ent.Value())
	if bad != nil {
		return nil, nil, bad
	}
	return ent, r, nil
}

// ByRequestID returns the export made for a client's requestId, a
// placeholder if its record cannot be read back; ErrNotFound if there is
// none.
func (s *Store) ByRequestID(key string) (*checkpoint.Export, error) {
	ctx, cancel := s.op()
	defer cancel()
	ent, err := s.b.get(ctx, requestKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: requestId %q", checkpoint.ErrNotFound, api.Clip(key, 64))
	}
	if err != nil {
		return nil, fmt.Errorf("read requestId index: %w", err)
	}
	e, err := s.get(ctx, string(ent.Value()))
	if errors.Is(err, checkpoint.ErrNotFound) {
		return nil, fmt.Errorf("%w: requestId %q", checkpoint.ErrNotFound, api.Clip(key, 64))
	}
	return e, err
}

// List returns every export, oldest first, then a placeholder for each
// export whose record cannot be read back, by id; as checkpoint.Store.List
// does, a record under a key that is not an export id is left out.
func (s *Store) List() ([]*checkpoint.Export, error) {
	ctx, cancel := s.op()
	defer cancel()
	ents, err := s.b.entries(ctx, exportPrefix+"*", false)
	if err != nil {
		return nil, err
	}
	var out, unreadable []*checkpoint.Export
	for _, ent := range ents {
		r, bad := decodeRecord(ent.Key(), ent.Value())
		switch {
		case bad == nil:
			out = append(out, r.Export)
		case bad.ID != "":
			unreadable = append(unreadable, placeholder(bad))
		}
	}
	sortByCreation(out)
	slices.SortFunc(unreadable, func(a, b *checkpoint.Export) int { return strings.Compare(a.ID, b.ID) })
	return append(out, unreadable...), nil
}

// Chunks returns the recorded chunks of export id, in order: those the
// record counts, never a leftover beyond them. A *checkpoint.CorruptError
// if one of them, or the record, cannot be read back.
func (s *Store) Chunks(id string) ([]api.Chunk, error) {
	ctx, cancel := s.op()
	defer cancel()
	_, r, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.chunks(ctx, r.Export)
}

// chunks reads e's recorded chunks, each by its key: a read that follows
// the writes it comes after, as a watch does not always (see
// bucket.entries). They are never written again once the record counts
// them, so any read after the record's agrees with it.
func (s *Store) chunks(ctx context.Context, e *checkpoint.Export) ([]api.Chunk, error) {
	chunks := make([]api.Chunk, e.Chunks)
	bad := make([]*checkpoint.CorruptError, e.Chunks)
	err := forEach(ctx, e.Chunks, func(ctx context.Context, i int) error {
		ent, err := s.b.get(ctx, chunkKey(e.ID, i))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			bad[i] = chunkCorrupt(e.ID, i, errMissingChunk)
			return nil
		}
		if err != nil {
			return fmt.Errorf("read chunk %d of export %s: %w", i, e.ID, err)
		}
		var c storedChunk
		c, bad[i] = decodeChunk(e.ID, i, ent.Value())
		chunks[i] = c.Chunk
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, b := range bad {
		if b != nil {
			return nil, b
		}
	}
	return chunks, nil
}

// recorded picks e's recorded chunks out of chunk entries ents, and the
// errors of those it cannot read or find, in index order.
func recorded(e *checkpoint.Export, ents []jetstream.KeyValueEntry) ([]api.Chunk, []*checkpoint.CorruptError) {
	chunks := make([]api.Chunk, e.Chunks)
	found := make([]bool, e.Chunks)
	var bad []*checkpoint.CorruptError
	for _, ent := range ents {
		i, ok := chunkIndex(e.ID, ent.Key())
		if !ok || i >= e.Chunks {
			continue // a leftover of a commit that did not happen
		}
		c, corrupt := decodeChunk(e.ID, i, ent.Value())
		if corrupt != nil {
			bad = append(bad, corrupt)
		}
		chunks[i], found[i] = c.Chunk, true
	}
	for i, ok := range found {
		if !ok {
			bad = append(bad, chunkCorrupt(e.ID, i, errMissingChunk))
		}
	}
	slices.SortFunc(bad, func(a, b *checkpoint.CorruptError) int { return slices.Compare(a.Key, b.Key) })
	return chunks, bad
}

// Manifest builds the manifest of export id from its record and then its
// chunks, which agree (see chunks). As checkpoint's does, an unreadable
// record gives the placeholder's manifest, and an unreadable chunk a
// manifest that says failed, with the chunk's error and no chunks.
func (s *Store) Manifest(id string) (*api.Manifest, error) {
	ctx, cancel := s.op()
	defer cancel()
	_, r, err := s.read(ctx, id)
	if bad, ok := errors.AsType[*checkpoint.CorruptError](err); ok {
		return placeholder(bad).Manifest(nil), nil
	}
	if err != nil {
		return nil, err
	}
	chunks, err := s.chunks(ctx, r.Export)
	if bad, ok := errors.AsType[*checkpoint.CorruptError](err); ok {
		m := r.Export.Manifest(nil)
		m.State, m.Error = api.StateFailed, unreadableStatus(bad)
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return r.Export.Manifest(chunks), nil
}

// Unreadable returns every record the store cannot read back: export
// records, then the chunks of the readable ones, in key order. It reads
// the whole bucket, so it suits start-up; it changes nothing.
func (s *Store) Unreadable() ([]*checkpoint.CorruptError, error) {
	ctx, cancel := s.op()
	defer cancel()
	records, err := s.b.entries(ctx, exportPrefix+">", false)
	if err != nil {
		return nil, err
	}
	chunkEnts, err := s.b.entries(ctx, chunkPrefix+">", false)
	if err != nil {
		return nil, err
	}
	byExport := map[string][]jetstream.KeyValueEntry{}
	for _, ent := range chunkEnts {
		if id, _, ok := strings.Cut(strings.TrimPrefix(ent.Key(), chunkPrefix), "."); ok {
			byExport[id] = append(byExport[id], ent)
		}
	}
	slices.SortFunc(records, func(a, b jetstream.KeyValueEntry) int { return strings.Compare(a.Key(), b.Key()) })
	var out, chunks []*checkpoint.CorruptError
	for _, ent := range records {
		r, bad := decodeRecord(ent.Key(), ent.Value())
		if bad != nil {
			out = append(out, bad)
			continue
		}
		_, badChunks := recorded(r.Export, byExport[r.Export.ID])
		chunks = append(chunks, badChunks...)
	}
	return append(out, chunks...), nil
}

// Delete removes export id, its chunks and the requestId that names it:
// the index first and the record last, so that a Delete cut short leaves
// a record to delete again and never an index without its export. It
// needs no more of a record than its key, so it removes an export whose
// records cannot be read back as well.
func (s *Store) Delete(id string) error {
	ctx, cancel := s.op()
	defer cancel()
	ent, r, err := s.read(ctx, id)
	if _, bad := errors.AsType[*checkpoint.CorruptError](err); err != nil && !bad {
		return err
	}
	if err := s.unindex(ctx, id, r); err != nil {
		return err
	}
	if r == nil { // unreadable: its count unknown, remove what is listed
		return s.deleteUnreadable(ctx, id)
	}
	n := r.Export.Chunks
	err = forEach(ctx, n, func(ctx context.Context, i int) error { return s.b.purge(ctx, chunkKey(id, i), 0) })
	if err != nil {
		return fmt.Errorf("delete chunks of export %s: %w", id, err)
	}
	if err := s.purgeLeftover(ctx, id, n); err != nil {
		return err
	}
	if err := s.b.purge(ctx, ent.Key(), ent.Revision()); err != nil {
		return fmt.Errorf("delete export %s: %w", id, err)
	}
	// A commit in flight may write its chunk, at the count it read, after
	// the first removal; its compare-and-set failed with the record. One
	// later still is garbage nothing reads: readers go by the record, and
	// a commit under the same id again replaces it as a leftover.
	return s.purgeLeftover(ctx, id, n)
}

// purgeLeftover removes chunk key i of export id if it is there: the one
// place a leftover can be (see the package doc).
func (s *Store) purgeLeftover(ctx context.Context, id string, i int) error {
	ent, err := s.b.get(ctx, chunkKey(id, i))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err == nil {
		err = s.b.purge(ctx, ent.Key(), 0)
	}
	if err != nil {
		return fmt.Errorf("delete chunk %d of export %s: %w", i, id, err)
	}
	return nil
}

// deleteUnreadable removes the chunks of export id that a listing finds,
// then its record.
func (s *Store) deleteUnreadable(ctx context.Context, id string) error {
	ents, err := s.b.entries(ctx, chunkFilter(id), true)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if err := s.b.purge(ctx, ent.Key(), 0); err != nil {
			return fmt.Errorf("delete chunk %s: %w", ent.Key(), err)
		}
	}
	if err := s.b.purge(ctx, exportKey(id), 0); err != nil {
		return fmt.Errorf("delete export %s: %w", id, err)
	}
	return nil
}

// unindex removes the requestId index entries that name export id: the
// one r's requestId gives, or for an unreadable record (r nil) any a
// listing finds whose value is id.
func (s *Store) unindex(ctx context.Context, id string, r *record) error {
	var ents []jetstream.KeyValueEntry
	var err error
	switch {
	case r == nil:
		ents, err = s.b.entries(ctx, requestPrefix+"*", false)
	case r.Export.RequestID != "":
		var ent jetstream.KeyValueEntry
		if ent, err = s.b.get(ctx, requestKey(r.Export.RequestID)); err == nil {
			ents = append(ents, ent)
		} else if errors.Is(err, jetstream.ErrKeyNotFound) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("read requestId index of export %s: %w", id, err)
	}
	for _, ent := range ents {
		if string(ent.Value()) != id {
			continue // another export's, made when this one lost a race
		}
		err := s.b.purge(ctx, ent.Key(), ent.Revision())
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("delete requestId index of export %s: %w", id, err)
		}
	}
	return nil
}

// forEach calls fn for 0 to n-1, chunkReads at a time, and returns the
// first error.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(chunkReads)
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}
