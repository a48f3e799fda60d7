package checkpoint_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// FuzzRoundTrip: every plan that request.Compile accepts is stored and
// read back exactly, so that a resume after a restart runs the plan that
// was accepted, and its export's manifest can be built and sent. A plan
// the store can write but not read back would make an export unreadable
// after a restart (TestUnreadableRecords), which request's limits must
// prevent. More seeds are in testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range []string{
		`{"database": "app", "collection": "tasks"}`,
		`{"requestId": "nightly-1", "database": "app", "collection": "tasks", "filter": {"status": {"$in": ["open", "blocked"]}}, "sort": {"priority": -1}}`,
		`{"database": "app", "collection": "tasks", "format": "csv", "fields": ["a", "b.c"],
			"filter": {"createdAt": {"$gte": {"$date": "2024-01-01T00:00:00Z"}}, "n": {"$numberLong": "5"}, "x": {"$in": [1, 2.5]}},
			"sort": {"createdAt": -1}}`,
		`{"database": "app", "collection": "tasks", "filter": {"$and": [{"a": 1}, {"$or": [{"b": {"$exists": false}}, {"c": null}]}]}}`,
		`{"database": "app", "collection": "tasks", "fields": ["title", "assignee.email"], "sort": {"createdAt": -1}}`,
		`{"database": "app", "collection": "tasks", "filter": ` + nested(request.MaxDepth, `{"n": {"$numberLong": "7"}}`) + `}`,
	} {
		f.Add([]byte(seed))
	}
	s := openStore(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := request.Decode(data)
		if err != nil {
			return
		}
		plan, err := request.Compile(req)
		if err != nil {
			return
		}
		want, err := json.Marshal(plan)
		if err != nil {
			t.Fatalf("accepted plan does not marshal: %v", err)
		}
		wantRequest, err := json.Marshal(json.RawMessage(data))
		if err != nil {
			t.Fatalf("accepted request does not marshal: %v", err)
		}
		e := &checkpoint.Export{
			ID: checkpoint.NewID(), RequestID: req.RequestID, Request: data, Plan: *plan,
			CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC), State: api.StateQueued,
		}
		if _, created, err := s.Create(e); err != nil || !created {
			t.Fatalf("Create: created %v, %v", created, err)
		}
		defer func() {
			if err := s.Delete(e.ID); err != nil {
				t.Errorf("Delete: %v", err)
			}
		}()

		got, err := s.Get(e.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if got.Unreadable != nil {
			t.Fatalf("accepted plan stored but unreadable: %v\nplan %s", got.Unreadable, want)
		}
		if back, err := json.Marshal(&got.Plan); err != nil || !bytes.Equal(back, want) {
			t.Fatalf("plan changed through the store (%v):\n%s\n%s", err, want, back)
		}
		for _, d := range []struct {
			name      string
			want, got bson.D
		}{{"filter", plan.Filter, got.Plan.Filter}, {"sort", plan.Sort, got.Plan.Sort}, {"projection", plan.Projection, got.Plan.Projection}} {
			if !bytes.Equal(bsonOf(t, d.want), bsonOf(t, d.got)) {
				t.Fatalf("%s BSON changed through the store:\n%v\n%v", d.name, d.want, d.got)
			}
		}
		if !bytes.Equal(got.Request, wantRequest) {
			t.Fatalf("request changed through the store:\n%s\n%s", wantRequest, got.Request)
		}
		if req.RequestID != "" {
			if byKey, err := s.ByRequestID(req.RequestID); err != nil || byKey.ID != e.ID {
				t.Fatalf("ByRequestID(%q): %v", req.RequestID, err)
			}
		}

		m, err := s.Manifest(e.ID)
		if err != nil {
			t.Fatalf("Manifest: %v", err)
		}
		if m.ID != e.ID || m.State != api.StateQueued || m.Error != "" || !bytes.Equal(m.Request, wantRequest) {
			t.Fatalf("manifest %+v", m)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Fatalf("manifest does not marshal: %v", err)
		}
	})
}

// nested puts value at level depth of a query, inside depth-1 documents
// {"a": …}: the outermost document is level 1, as request.MaxDepth counts.
func nested(depth int, value string) string {
	return strings.Repeat(`{"a": `, depth-1) + value + strings.Repeat("}", depth-1)
}

func bsonOf(t testing.TB, d bson.D) []byte {
	t.Helper()
	if d == nil {
		return nil
	}
	data, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("marshal %v: %v", d, err)
	}
	return data
}
