package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/exportd/exportd/api"
	bolt "go.etcd.io/bbolt"
)

// errNoChunkBucket is the cause given for an export without its chunk
// bucket, which Create always makes.
var errNoChunkBucket = errors.New("the export's chunk bucket is missing")

// decodeExport reads the record v stored under key k, or says why it
// cannot: its bytes do not decode (a plan's filter nested deeper than the
// Extended JSON parser allows, say), or they hold another export.
func decodeExport(k, v []byte) (*Export, *CorruptError) {
	var e Export
	err := json.Unmarshal(v, &e)
	if err == nil && e.ID != string(k) {
		err = fmt.Errorf("the record holds export %q", e.ID)
	}
	if err == nil {
		return &e, nil
	}
	bad := &CorruptError{Key: bytes.Clone(k), Err: err}
	if ValidID(string(k)) {
		bad.ID = string(k)
	}
	return nil, bad
}

// decodeChunk reads chunk record v of export id, stored under key k.
func decodeChunk(id string, k, v []byte) (api.Chunk, *CorruptError) {
	var c api.Chunk
	if err := json.Unmarshal(v, &c); err != nil {
		return c, &CorruptError{ID: id, Key: bytes.Clone(k), Chunk: true, Err: err}
	}
	return c, nil
}

// placeholder stands for the export whose record is bad (see
// Export.Unreadable); bad.ID is an export id.
func placeholder(tx *bolt.Tx, bad *CorruptError) *Export {
	e := &Export{ID: bad.ID, State: api.StateFailed, Error: bad.status(), Unreadable: bad}
	if keys := requestKeys(tx, bad.ID); len(keys) > 0 {
		e.RequestID = string(keys[0])
	}
	return e
}

// requestKeys are the requestIds that name export id, found by value: the
// index is all that is left of them when the export's record is
// unreadable.
func requestKeys(tx *bolt.Tx, id string) [][]byte {
	var keys [][]byte
	_ = tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
		if string(v) == id {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	return keys
}

// Unreadable returns every record the store cannot read back, in key
// order: export records (List, Get and Manifest give placeholders for
// those under an export id, and List leaves out the others), then chunk
// records and missing chunk buckets of the exports (Manifest says failed
// for those). It reads every chunk record, so it suits start-up, where the
// daemon can log what it returns; it changes nothing.
func (s *Store) Unreadable() ([]*CorruptError, error) {
	var out []*CorruptError
	err := s.db.View(func(tx *bolt.Tx) error {
		var ids []string
		err := tx.Bucket(bucketExports).ForEach(func(k, v []byte) error {
			if _, bad := decodeExport(k, v); bad != nil {
				out = append(out, bad)
			}
			if ValidID(string(k)) {
				ids = append(ids, string(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			b, err := chunkBucket(tx, id)
			if bad, ok := errors.AsType[*CorruptError](err); ok {
				out = append(out, bad)
				continue
			}
			if err != nil {
				return err
			}
			err = b.ForEach(func(k, v []byte) error {
				if _, bad := decodeChunk(id, k, v); bad != nil {
					out = append(out, bad)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
