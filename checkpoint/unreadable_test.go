package checkpoint_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
)

// The store's buckets, as the file holds them.
var (
	bucketExports  = []byte("exports")
	bucketChunks   = []byte("chunks")
	bucketRequests = []byte("requests")
)

var garbage = []byte("\x00\xffnot a record{")

// notAnID is a key in the exports bucket that no export could have.
const notAnID = "not-an-export-id"

// deepPlanRecord is e's stored record with its plan's filter replaced by
// one nested depth levels, deeper than the Extended JSON parser reads
// back (200 levels).
func deepPlanRecord(t testing.TB, e *checkpoint.Export, depth int) []byte {
	t.Helper()
	filter := strings.Repeat(`{"a":`, depth) + `"x"` + strings.Repeat("}", depth)
	var record, plan map[string]json.RawMessage
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &record); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(record["plan"], &plan); err != nil {
		t.Fatal(err)
	}
	plan["filter"] = json.RawMessage(filter)
	if record["plan"], err = json.Marshal(plan); err != nil {
		t.Fatal(err)
	}
	if data, err = json.Marshal(record); err != nil {
		t.Fatal(err)
	}
	return data
}

func chunkKey(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkPlaceholder checks that e stands for the unreadable export id.
func checkPlaceholder(t testing.TB, e *checkpoint.Export, id, requestID, cause string) {
	t.Helper()
	switch {
	case e == nil:
		t.Fatalf("export %s: no placeholder", id)
	case e.ID != id || e.RequestID != requestID:
		t.Fatalf("placeholder %s (requestId %q), want %s (%q)", e.ID, e.RequestID, id, requestID)
	case e.State != api.StateFailed || !e.Finished():
		t.Fatalf("placeholder %s is %s, want failed", id, e.State)
	case !strings.HasPrefix(e.Error, "checkpoint record unreadable: ") || !strings.Contains(e.Error, cause):
		t.Fatalf("placeholder %s error %q, want \"checkpoint record unreadable: ...%s...\"", id, e.Error, cause)
	case e.Unreadable == nil || e.Unreadable.ID != id || e.Unreadable.Chunk || !errors.Is(e.Unreadable, checkpoint.ErrCorrupt):
		t.Fatalf("placeholder %s: Unreadable %#v", id, e.Unreadable)
	case !e.CreatedAt.IsZero() || e.Records != 0 || e.Chunks != 0 || len(e.Request) != 0:
		t.Fatalf("placeholder %s claims what it cannot know: %+v", id, e)
	}
	if strings.Contains(mustJSON(t, e), `"Unreadable"`) {
		t.Fatalf("placeholder %s marshals its Unreadable field", id)
	}
}

// wantCorrupt checks that err refuses an unreadable export id.
func wantCorrupt(t testing.TB, what string, err error, id string) {
	t.Helper()
	bad, ok := errors.AsType[*checkpoint.CorruptError](err)
	if !errors.Is(err, checkpoint.ErrCorrupt) || !ok || bad.ID != id || !strings.Contains(err.Error(), id) {
		t.Fatalf("%s of unreadable export %s: %v, want a CorruptError naming it", what, id, err)
	}
}

// TestUnreadableRecords damages records in the file, as a bug, a disk or
// an older version with a laxer request check could, and restarts the
// store: each damaged export fails alone, its bytes stay as they were
// until it is deleted, and every other export works as before.
func TestUnreadableRecords(t *testing.T) {
	s := openStore(t)
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	good, badChunk := newExport(t, "good"), newExport(t, "")
	unreadable := []struct {
		name  string
		e     *checkpoint.Export
		cause string // in the placeholder's error
	}{
		{"garbage", newExport(t, "garbage"), "invalid character"},
		{"filter nested 250 levels", newExport(t, "deep"), "nesting too deep"},
		{"another export's record", newExport(t, "other"), "holds export"},
	}
	all := []*checkpoint.Export{good, badChunk}
	for _, u := range unreadable {
		all = append(all, u.e)
	}
	for i, e := range all {
		e.CreatedAt = e.CreatedAt.Add(time.Duration(len(all)-i) * time.Hour) // newest first, to see List sort
		if _, created, err := s.Create(e); err != nil || !created {
			t.Fatalf("create: %v", err)
		}
		if err := s.SetState(e.ID, api.StateRunning, "", at); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(e.ID, chunk(0, 10, `{"_id":10}`), false, at); err != nil {
			t.Fatal(err)
		}
	}
	if bad, err := s.Unreadable(); err != nil || len(bad) != 0 {
		t.Fatalf("Unreadable before any damage: %v, %v", bad, err)
	}
	before := map[string]string{}
	for _, e := range []*checkpoint.Export{good, badChunk} {
		got, err := s.Get(e.ID)
		if err != nil {
			t.Fatal(err)
		}
		before[e.ID] = mustJSON(t, got)
	}
	other, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][]byte{
		unreadable[0].e.ID: garbage,
		unreadable[1].e.ID: deepPlanRecord(t, unreadable[1].e, 250),
		unreadable[2].e.ID: other,
		notAnID:            garbage,
	}
	s = reopen(t, s, func(tx *bolt.Tx) error {
		for k, v := range stored {
			if err := tx.Bucket(bucketExports).Put([]byte(k), v); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketChunks).Bucket([]byte(badChunk.ID)).Put(chunkKey(0), []byte(`{"index": 0, "records": `))
	})

	t.Run("list", func(t *testing.T) {
		list, err := s.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(all) {
			t.Fatalf("List: %d exports, want %d", len(list), len(all))
		}
		// The readable ones oldest first, then the placeholders by id.
		if list[0].ID != badChunk.ID || list[1].ID != good.ID {
			t.Fatalf("List starts with %s, %s; want %s, %s", list[0].ID, list[1].ID, badChunk.ID, good.ID)
		}
		for _, e := range list[:2] {
			if got := mustJSON(t, e); got != before[e.ID] || e.Unreadable != nil {
				t.Fatalf("readable export changed:\n%s\n%s", before[e.ID], got)
			}
		}
		for i, e := range list[2:] {
			if i > 0 && list[2+i-1].ID >= e.ID {
				t.Fatalf("placeholders not in id order: %s before %s", list[2+i-1].ID, e.ID)
			}
			for _, u := range unreadable {
				if u.e.ID == e.ID {
					checkPlaceholder(t, e, u.e.ID, u.e.RequestID, u.cause)
				}
			}
		}
	})

	for _, u := range unreadable {
		t.Run(u.name, func(t *testing.T) {
			id := u.e.ID
			got, err := s.Get(id)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			checkPlaceholder(t, got, id, u.e.RequestID, u.cause)
			byKey, err := s.ByRequestID(u.e.RequestID)
			if err != nil {
				t.Fatalf("ByRequestID: %v", err)
			}
			checkPlaceholder(t, byKey, id, u.e.RequestID, u.cause)
			again, created, err := s.Create(newExport(t, u.e.RequestID))
			if err != nil || created {
				t.Fatalf("Create with the same requestId: created %v, %v", created, err)
			}
			checkPlaceholder(t, again, id, u.e.RequestID, u.cause)

			m, err := s.Manifest(id)
			if err != nil {
				t.Fatalf("Manifest: %v", err)
			}
			if m.ID != id || m.State != api.StateFailed || m.Error != got.Error || len(m.Chunks) != 0 {
				t.Fatalf("manifest %+v, want the placeholder's", m)
			}
			mustJSON(t, m)

			wantCorrupt(t, "Commit", s.Commit(id, chunk(1, 5, `{"_id":15}`), true, at), id)
			for _, state := range []api.State{api.StateQueued, api.StateRunning, api.StateFailed, api.StateCancelled} {
				wantCorrupt(t, "SetState "+string(state), s.SetState(id, state, "operator", at), id)
			}
		})
	}

	t.Run("chunk", func(t *testing.T) {
		if _, err := s.Chunks(badChunk.ID); !errors.Is(err, checkpoint.ErrCorrupt) || !strings.Contains(err.Error(), badChunk.ID+" chunk 0") {
			t.Fatalf("Chunks with a corrupt record: %v", err)
		}
		m, err := s.Manifest(badChunk.ID)
		if err != nil {
			t.Fatalf("Manifest: %v", err)
		}
		if m.State != api.StateFailed || !strings.HasPrefix(m.Error, "checkpoint record unreadable: chunk 0: ") || m.Chunks != nil || m.Records != 10 {
			t.Fatalf("manifest with a corrupt chunk record: %+v", m)
		}
		mustJSON(t, m)
		// The export's own record is sound, so it still runs.
		if err := s.Commit(badChunk.ID, chunk(1, 5, `{"_id":15}`), false, at); err != nil {
			t.Fatalf("Commit after a corrupt chunk record: %v", err)
		}
	})

	t.Run("others untouched", func(t *testing.T) {
		if got, err := s.Get(good.ID); err != nil || mustJSON(t, got) != before[good.ID] {
			t.Fatalf("Get %s: %v", good.ID, err)
		}
		if err := s.Commit(good.ID, chunk(1, 5, `{"_id":15}`), true, at); err != nil {
			t.Fatal(err)
		}
		m, err := s.Manifest(good.ID)
		if err != nil || m.State != api.StateCompleted || len(m.Chunks) != 2 || m.Records != 15 {
			t.Fatalf("manifest %+v, %v", m, err)
		}
	})

	t.Run("unreadable", func(t *testing.T) {
		bad, err := s.Unreadable()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{notAnID: true, badChunk.ID + " chunk 0": true}
		for _, u := range unreadable {
			want[u.e.ID] = true
		}
		for _, b := range bad {
			if !errors.Is(b, checkpoint.ErrCorrupt) {
				t.Errorf("%v does not wrap ErrCorrupt", b)
			}
			name := b.ID
			switch {
			case b.ID == "":
				name = string(b.Key)
				if !strings.Contains(b.Error(), `exports key "`+notAnID+`"`) {
					t.Errorf("error %q does not name the key", b)
				}
			case b.Chunk:
				name += " chunk 0"
			}
			if !want[name] {
				t.Errorf("unexpected or repeated: %v", b)
			}
			delete(want, name)
		}
		if len(want) > 0 {
			t.Errorf("Unreadable misses %v", want)
		}
	})

	deleted := unreadable[1].e
	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(deleted.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(deleted.ID); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if _, err := s.Chunks(deleted.ID); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Fatalf("Chunks after Delete: %v", err)
		}
		if _, err := s.ByRequestID(deleted.RequestID); !errors.Is(err, checkpoint.ErrNotFound) {
			t.Fatalf("ByRequestID after Delete: %v", err)
		}
		if list, err := s.List(); err != nil || len(list) != len(all)-1 {
			t.Fatalf("List after Delete: %d, %v", len(list), err)
		}
		if _, created, err := s.Create(newExport(t, deleted.RequestID)); err != nil || !created {
			t.Fatalf("requestId still taken after Delete: %v", err)
		}
	})

	// The damaged records are still there, byte for byte, for an operator;
	// the deleted one is gone with its chunks and its requestId.
	reopen(t, s, func(tx *bolt.Tx) error {
		for k, v := range stored {
			got := tx.Bucket(bucketExports).Get([]byte(k))
			switch {
			case k == deleted.ID && got != nil:
				t.Errorf("deleted record %s still there", k)
			case k != deleted.ID && !bytes.Equal(got, v):
				t.Errorf("record %s rewritten:\n%q\n%q", k, v, got)
			}
		}
		if tx.Bucket(bucketChunks).Bucket([]byte(deleted.ID)) != nil {
			t.Errorf("chunk bucket of deleted %s still there", deleted.ID)
		}
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			if string(v) == deleted.ID {
				t.Errorf("requestId %q still names deleted %s", k, v)
			}
			return nil
		})
	})
}

// TestMissingChunkBucket: an export record without its chunk bucket is
// reported, and refused by Commit, instead of making the store panic.
func TestMissingChunkBucket(t *testing.T) {
	s := openStore(t)
	e := newExport(t, "")
	if _, _, err := s.Create(e); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketChunks).DeleteBucket([]byte(e.ID))
	})
	m, err := s.Manifest(e.ID)
	if err != nil || m.State != api.StateFailed || !strings.Contains(m.Error, "chunk bucket is missing") {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	wantCorrupt(t, "Commit", s.Commit(e.ID, chunk(0, 1, `{"_id":1}`), false, time.Now()), e.ID)
	if bad, err := s.Unreadable(); err != nil || len(bad) != 1 || !bad[0].Chunk || bad[0].ID != e.ID {
		t.Fatalf("Unreadable: %v, %v", bad, err)
	}
	if err := s.Delete(e.ID); err != nil {
		t.Fatal(err)
	}
}
