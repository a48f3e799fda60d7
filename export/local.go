package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// ErrForeignDir means an export's output directory holds something that is
// not that export.
var ErrForeignDir = errors.New("output directory is not empty and holds no export of this request")

// Local is a foreground export into a directory of its own: the chunks,
// manifest.json and the checkpoint file side by side.
type Local struct {
	Dir   string
	Store *checkpoint.Store
	// ID is the export's id; Resumed says it was found in Dir, not created.
	ID      string
	Resumed bool
}

// OpenLocal prepares dir for the export of plan: an empty or missing dir
// gets a new export, a dir holding an unfinished export of the same plan
// resumes it, anything else is refused with ErrForeignDir. The caller
// closes Store.
func OpenLocal(dir string, req json.RawMessage, plan *request.Plan) (*Local, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dbPath := filepath.Join(dir, checkpoint.FileName)
	hasDB := false
	for _, e := range entries {
		if e.Name() == checkpoint.FileName {
			hasDB = true
		}
	}
	if len(entries) > 0 && !hasDB {
		return nil, fmt.Errorf("%w: %s", ErrForeignDir, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	store, err := checkpoint.Open(dbPath)
	if err != nil {
		return nil, err
	}
	l, err := openLocal(store, dir, req, plan)
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return l, nil
}

func openLocal(store *checkpoint.Store, dir string, req json.RawMessage, plan *request.Plan) (*Local, error) {
	exports, err := store.List()
	if err != nil {
		return nil, err
	}
	switch len(exports) {
	case 0:
		e := checkpoint.NewExport("", req, plan, time.Now())
		if _, _, err := store.Create(e); err != nil {
			return nil, err
		}
		if _, err := (Record{Store: store, ID: e.ID, Dir: dir}).Save(context.Background()); err != nil {
			return nil, err
		}
		return &Local{Dir: dir, Store: store, ID: e.ID}, nil
	case 1:
		e := exports[0]
		same, err := samePlan(&e.Plan, plan)
		if err != nil {
			return nil, err
		}
		if !same {
			return nil, fmt.Errorf("%w: %s holds export %s of another request", ErrForeignDir, dir, e.ID)
		}
		return &Local{Dir: dir, Store: store, ID: e.ID, Resumed: true}, nil
	}
	return nil, fmt.Errorf("%w: %s holds %d exports", ErrForeignDir, dir, len(exports))
}

func samePlan(a, b *request.Plan) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, err
	}
	return string(ja) == string(jb), nil
}

// Interrupted records that a foreground export stopped on a signal; the
// same command resumes it.
func (l *Local) Interrupted(cause error) error {
	_, err := (Record{Store: l.Store, ID: l.ID, Dir: l.Dir}).SetState(context.Background(), api.StateCancelled, "interrupted: "+cause.Error(), time.Now().UTC())
	if errors.Is(err, checkpoint.ErrState) {
		return nil // it completed first
	}
	return err
}
