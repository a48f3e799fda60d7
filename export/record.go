package export

import (
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
)

// Record is the one writer of an export's durable state: its checkpoint
// record in Store and the manifest.json in Dir beside its chunks. Every
// change goes to the record first and then rewrites the manifest from it,
// so the manifest never says more than the record: after a crash between
// the two, the next change (or Save) brings the manifest up to date. Run,
// the daemon's runner and exportd export change exports only through it.
type Record struct {
	Store checkpoint.Records
	ID    string
	Dir   string
	// AfterCommit, when set, is called between a chunk's record and the
	// manifest's rewrite (crash tests stop the process there).
	AfterCommit func(c api.Chunk)
}

// Commit records sealed chunk c (see checkpoint.Store.Commit; final
// completes the export) and rewrites the manifest.
func (r Record) Commit(c api.Chunk, final bool, at time.Time) error {
	if err := r.Store.Commit(r.ID, c, final, at); err != nil {
		return err
	}
	if r.AfterCommit != nil {
		r.AfterCommit(c)
	}
	_, err := r.Save()
	return err
}

// SetState moves the export to state with msg as its error (see
// checkpoint.Store.SetState), rewrites the manifest and returns it.
func (r Record) SetState(state api.State, msg string, at time.Time) (*api.Manifest, error) {
	if err := r.Store.SetState(r.ID, state, msg, at); err != nil {
		return nil, err
	}
	return r.Save()
}

// Save rewrites the manifest from the record, and returns it.
func (r Record) Save() (*api.Manifest, error) {
	m, err := r.Store.Manifest(r.ID)
	if err != nil {
		return nil, err
	}
	return m, chunker.WriteManifest(r.Dir, m)
}
