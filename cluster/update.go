package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
)

// maxAttempts bounds how often an update reads a record again after
// another writer changed it.
const maxAttempts = 10

// errRetry means the bucket changed under an attempt: read again.
var errRetry = errors.New("record changed during the attempt")

// Commit records sealed chunk c of export id and advances its resume
// point; with final set, the export is completed in the same
// compare-and-set. The chunk must be the next one in order (ErrOrder); a
// finished export takes none (ErrState). It checks no owner: a node that
// runs exports for the cluster commits through Owned.
func (s *Store) Commit(id string, c api.Chunk, final bool, at time.Time) error {
	return s.update(id, nil, s.commit(c, final, at))
}

// SetState moves export id to state, with msg as its error, by the rules
// of checkpoint.Store.SetState: a completed export cannot move, any other
// may move to any state. It checks no owner, so that any node can cancel
// or resume an export; its owner's next commit then sees the new state.
func (s *Store) SetState(id string, state api.State, msg string, at time.Time) error {
	return s.update(id, nil, setState(state, msg, at))
}

// Claim takes export id for node: it becomes the owner, with an epoch one
// above the last claim's, which it returns. It fails with ErrConflict if
// another claim changed the owner meanwhile, ErrState if the export is
// finished. Claim does not judge whether the previous owner is alive: the
// work queue does, handing a job out again only after its lease lapsed or
// a handover.
func (s *Store) Claim(id, node string) (epoch uint64, err error) {
	if node == "" {
		return 0, fmt.Errorf("claim export %s: no node name", id)
	}
	first := true
	var seen uint64
	err = s.update(id, nil, func(_ context.Context, r *record, _ jetstream.KeyValueEntry) error {
		if !first && r.Epoch != seen {
			return fmt.Errorf("%w: export %s was claimed by %s meanwhile", ErrConflict, id, r.Owner)
		}
		first, seen = false, r.Epoch
		if r.Export.Finished() {
			return fmt.Errorf("%w: export %s is %s", checkpoint.ErrState, id, r.Export.State)
		}
		r.Owner, r.Epoch = node, r.Epoch+1
		epoch = r.Epoch
		return nil
	})
	return epoch, err
}

// Owner returns the node that holds export id and the epoch of its claim;
// "" and 0 before any claim.
func (s *Store) Owner(id string) (node string, epoch uint64, err error) {
	ctx, cancel := s.op()
	defer cancel()
	_, r, err := s.read(ctx, id)
	if err != nil {
		return "", 0, err
	}
	return r.Owner, r.Epoch, nil
}

// Owned is export id as node holds it since the claim that gave epoch:
// its Commit and SetState change the record only while no later claim
// has been made, and fail with ErrNotOwner after one. This is what keeps
// two nodes from both advancing one export.
type Owned struct {
	s     *Store
	id    string
	node  string
	epoch uint64
}

// Owned is export id held by node at epoch (what Claim returned).
func (s *Store) Owned(id, node string, epoch uint64) *Owned {
	return &Owned{s: s, id: id, node: node, epoch: epoch}
}

// Commit is Store.Commit, only while o still holds the export.
func (o *Owned) Commit(c api.Chunk, final bool, at time.Time) error {
	return o.s.update(o.id, o.check, o.s.commit(c, final, at))
}

// SetState is Store.SetState, only while o still holds the export.
func (o *Owned) SetState(state api.State, msg string, at time.Time) error {
	return o.s.update(o.id, o.check, setState(state, msg, at))
}

func (o *Owned) check(r *record) error {
	if r.Owner != o.node || r.Epoch != o.epoch {
		return fmt.Errorf("%w: export %s is %s's at epoch %d, not %s's at %d", ErrNotOwner, o.id, r.Owner, r.Epoch, o.node, o.epoch)
	}
	return nil
}

// change edits record r, read as entry ent, for update to store; it may
// write other keys first (a chunk), and returns errRetry when the bucket
// changed under it.
type change func(ctx context.Context, r *record, ent jetstream.KeyValueEntry) error

// update applies change to export id's record by compare-and-set on the
// revision it read, reading again and retrying while another writer gets
// in between; check (if any) and then change say each time whether the
// update is still valid. A record that cannot be read back is refused
// with its *checkpoint.CorruptError and left as it is.
func (s *Store) update(id string, check func(*record) error, fn change) error {
	ctx, cancel := s.op()
	defer cancel()
	for attempt := range maxAttempts {
		if err := pause(ctx, attempt); err != nil {
			return fmt.Errorf("update export %s: %w", id, err)
		}
		ent, r, err := s.read(ctx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(r); err != nil {
				return err
			}
		}
		err = fn(ctx, r, ent)
		if errors.Is(err, errRetry) {
			continue
		}
		if err != nil {
			return err
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		err = s.b.update(ctx, ent.Key(), data, ent.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("update export %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("%w: export %s changed %d times while being updated", ErrConflict, id, maxAttempts)
}

// commit is the change of Commit.
func (s *Store) commit(c api.Chunk, final bool, at time.Time) change {
	return func(ctx context.Context, r *record, ent jetstream.KeyValueEntry) error {
		e := r.Export
		if err := e.CheckCommit(c); err != nil {
			return err
		}
		if err := s.putChunk(ctx, e.ID, c, ent); err != nil {
			return err
		}
		e.Advance(c, final, at)
		return nil
	}
}

// putChunk writes chunk c of export id, whose record the commit read as
// ent and will compare-and-set on ent's revision. The chunk's key is
// beyond the record's count, so what it holds, if anything, is a leftover
// of another commit (see the package doc): written against an older
// revision, it is dead and replaced; against this one, its commit may
// still land, and is fenced off; against a newer one, the record moved
// since it was read.
func (s *Store) putChunk(ctx context.Context, id string, c api.Chunk, ent jetstream.KeyValueEntry) error {
	key := chunkKey(id, c.Index)
	data, err := json.Marshal(storedChunk{Chunk: c, Base: ent.Revision()})
	if err != nil {
		return err
	}
	old, err := s.b.get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		err = s.b.create(ctx, key, data)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return errRetry
		}
		return wrapChunk(id, c.Index, err)
	}
	if err != nil {
		return wrapChunk(id, c.Index, err)
	}
	left, bad := decodeChunk(id, c.Index, old.Value())
	switch {
	case bad == nil && left.Base == ent.Revision():
		// Move the record on unchanged: that commit's compare-and-set
		// can no longer succeed, and its chunk is dead.
		err := s.b.update(ctx, ent.Key(), ent.Value(), ent.Revision())
		if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("fence export %s: %w", id, err)
		}
		return errRetry
	case bad == nil && left.Base > ent.Revision():
		return errRetry
	}
	err = s.b.update(ctx, key, data, old.Revision()) // unreadable or dead
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return errRetry
	}
	return wrapChunk(id, c.Index, err)
}

func wrapChunk(id string, i int, err error) error {
	if err != nil {
		return fmt.Errorf("write chunk %d of export %s: %w", i, id, err)
	}
	return nil
}

// setState is the change of SetState: the rules of Export.SetState.
func setState(state api.State, msg string, at time.Time) change {
	return func(_ context.Context, r *record, _ jetstream.KeyValueEntry) error {
		return r.Export.SetState(state, msg, at)
	}
}
