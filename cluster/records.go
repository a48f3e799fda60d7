package cluster

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
)

// The bucket's keys: e.<id> an export's record, c.<id>.<nnnnnn> its
// chunks, r.<sha256 of the requestId, hex> the export a requestId made.
const (
	exportPrefix  = "e."
	chunkPrefix   = "c."
	requestPrefix = "r."
)

func exportKey(id string) string { return exportPrefix + id }

func chunkKey(id string, index int) string { return fmt.Sprintf("%s%s.%06d", chunkPrefix, id, index) }

// chunkFilter matches every chunk key of export id.
func chunkFilter(id string) string { return chunkPrefix + id + ".*" }

// requestKey is the index key of a requestId: hashed, since a requestId
// may hold what a key may not.
func requestKey(requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return requestPrefix + hex.EncodeToString(sum[:])
}

// record is the value of e.<id>: the export as the bbolt store keeps it,
// and who holds it in the cluster.
type record struct {
	Export *checkpoint.Export `json:"export"`
	// Owner is the node that last claimed the export; empty before any
	// claim.
	Owner string `json:"owner,omitempty"`
	// Epoch counts the claims: each one adds one, so that an owner that
	// was taken over can tell.
	Epoch uint64 `json:"epoch,omitempty"`
}

// storedChunk is the value of c.<id>.<nnnnnn>.
type storedChunk struct {
	Chunk api.Chunk `json:"chunk"`
	// Base is the record revision the commit that wrote the chunk read:
	// the one its compare-and-set of the record expects. See the package
	// doc on leftovers.
	Base uint64 `json:"base"`
}

// decodeRecord reads the record stored under key, or says why it cannot:
// as checkpoint does, a record that does not decode or holds another
// export is corrupt. The error names the export when key's id is an
// export id.
func decodeRecord(key string, v []byte) (*record, *checkpoint.CorruptError) {
	id := strings.TrimPrefix(key, exportPrefix)
	var r record
	err := json.Unmarshal(v, &r)
	switch {
	case err != nil:
	case r.Export == nil:
		err = errors.New("the record holds no export")
	case r.Export.ID != id:
		err = fmt.Errorf("the record holds export %q", r.Export.ID)
	default:
		return &r, nil
	}
	bad := &checkpoint.CorruptError{Key: []byte(key), Err: err}
	if checkpoint.ValidID(id) {
		bad.ID = id
	}
	return nil, bad
}

// decodeChunk reads chunk value v stored under chunk index i of export
// id.
func decodeChunk(id string, i int, v []byte) (storedChunk, *checkpoint.CorruptError) {
	var c storedChunk
	err := json.Unmarshal(v, &c)
	if err == nil && c.Chunk.Index != i {
		err = fmt.Errorf("the record holds chunk %d", c.Chunk.Index)
	}
	if err != nil {
		return c, chunkCorrupt(id, i, err)
	}
	return c, nil
}

// errMissingChunk is the cause given for a chunk the record counts but
// the bucket does not hold.
var errMissingChunk = errors.New("the chunk's record is missing")

// chunkCorrupt is the error of chunk i of export id, keyed as
// checkpoint keys chunks (the big-endian index), so that it reads alike.
func chunkCorrupt(id string, i int, err error) *checkpoint.CorruptError {
	return &checkpoint.CorruptError{ID: id, Key: binary.BigEndian.AppendUint32(nil, uint32(i)), Chunk: true, Err: err}
}

// chunkIndex is the index a chunk key of export id names.
func chunkIndex(id, key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(key, chunkPrefix+id+"."))
	return n, err == nil && n >= 0 && strings.HasPrefix(key, chunkPrefix+id+".")
}

// unreadableStatus is what an export shows for an unreadable record, as
// checkpoint words it.
func unreadableStatus(bad *checkpoint.CorruptError) string {
	if bad.Chunk && len(bad.Key) == 4 {
		return fmt.Sprintf("checkpoint record unreadable: chunk %d: %v", binary.BigEndian.Uint32(bad.Key), bad.Err)
	}
	return fmt.Sprintf("checkpoint record unreadable: %v", bad.Err)
}

// placeholder stands for the export whose record is bad, as
// checkpoint's do (see checkpoint.Export.Unreadable); bad.ID is an export
// id. Its RequestID is empty: the index keeps only a requestId's hash.
func placeholder(bad *checkpoint.CorruptError) *checkpoint.Export {
	return &checkpoint.Export{ID: bad.ID, State: api.StateFailed, Error: unreadableStatus(bad), Unreadable: bad}
}

// sortByCreation orders exports as checkpoint.Store.List does: oldest
// first, ties by id.
func sortByCreation(es []*checkpoint.Export) {
	slices.SortStableFunc(es, func(a, b *checkpoint.Export) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
