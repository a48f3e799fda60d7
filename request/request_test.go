package request

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func compileJSON(t testing.TB, s string) (*Plan, error) {
	t.Helper()
	r, err := Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	return Compile(r)
}

// wantRefused compiles req and checks that it is refused with a FieldError on
// field whose message says msg.
func wantRefused(t *testing.T, req, field, msg string) *FieldError {
	t.Helper()
	p, err := compileJSON(t, req)
	if err == nil {
		t.Fatalf("accepted: %+v", p)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v (%T), want a *FieldError", err, err)
	}
	if fe.Field != field || !strings.Contains(fe.Message, msg) {
		t.Fatalf("err = %.300q, want field %.80q and a message with %q", err, field, msg)
	}
	return fe
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name, req, field, msg string
	}{
		{"syntax", `{"database": "app", "collection": "tasks",}`, "request", "line 1, column 43"},
		{"syntax on line 3", "{\n\"database\": \"app\",\n\"collection\": tasks}", "request", "line 3"},
		{"unknown field", `{"database": "app", "collection": "tasks", "colour": "red"}`, "colour", "unknown field"},
		{"wrong type", `{"database": "app", "collection": "tasks", "chunkRecords": "many"}`, "chunkRecords", "must be a JSON number, not string"},
		{"not an object", `["app", "tasks"]`, "request", "must be a JSON object, not array"},
		{"trailing data", `{"database": "app", "collection": "tasks"} {}`, "request", "after the JSON object"},
		{"no database", `{"collection": "tasks"}`, "database", "must be"},
		{"bad database", `{"database": "a/b", "collection": "tasks"}`, "database", "must be"},
		{"system collection", `{"database": "app", "collection": "system.users"}`, "collection", "not system"},
		{"format", `{"database": "app", "collection": "tasks", "format": "xml"}`, "format", `unknown format "xml"`},
		{"compression", `{"database": "app", "collection": "tasks", "compression": "lz4"}`, "compression", `unknown compression "lz4"`},
		{"json format", `{"database": "app", "collection": "tasks", "jsonFormat": "shell"}`, "jsonFormat", "unknown Extended JSON mode"},
		{"chunk records", `{"database": "app", "collection": "tasks", "chunkRecords": -5}`, "chunkRecords", "between 1 and"},
		{"chunk bytes small", `{"database": "app", "collection": "tasks", "chunkBytes": 10}`, "chunkBytes", "between 1024"},
		{"chunk bytes large", `{"database": "app", "collection": "tasks", "chunkBytes": 9999999999999}`, "chunkBytes", "between 1024"},
		{"batch size", `{"database": "app", "collection": "tasks", "batchSize": 1000000}`, "batchSize", "between 1 and"},
		{"progress", `{"database": "app", "collection": "tasks", "progressEvery": -1}`, "progressEvery", "at least 1"},
		{"filter syntax", `{"database": "app", "collection": "tasks", "filter": {"a": }}`, "request", "invalid JSON"},
		{"filter not object", `{"database": "app", "collection": "tasks", "filter": [1]}`, "filter", "JSON object"},
		{"filter bad extjson", `{"database": "app", "collection": "tasks", "filter": {"d": {"$date": "yesterday"}}}`, "filter", "Extended JSON"},
		{"$where", `{"database": "app", "collection": "tasks", "filter": {"$where": "sleep(1000)"}}`, "filter.$where", "runs code on the server"},
		{"nested $where", `{"database": "app", "collection": "tasks", "filter": {"$or": [{"a": 1}, {"$where": "1"}]}}`, "filter.$or[1].$where", "runs code"},
		{"$function in $expr", `{"database": "app", "collection": "tasks", "filter": {"$expr": {"$function": {"body": "x", "args": [], "lang": "js"}}}}`, "filter.$expr.$function", "runs code"},
		{"$accumulator", `{"database": "app", "collection": "tasks", "filter": {"$expr": {"$eq": [{"$accumulator": {}}, 1]}}}`, "filter.$expr.$eq[0].$accumulator", "runs code"},
		{"javascript value", `{"database": "app", "collection": "tasks", "filter": {"a": {"$code": "function(){}"}}}`, "filter.a", "JavaScript"},
		{"sort value", `{"database": "app", "collection": "tasks", "sort": {"a": 2}}`, "sort.a", "1 (ascending) or -1"},
		{"sort $meta", `{"database": "app", "collection": "tasks", "sort": {"a": {"$meta": "textScore"}}}`, "sort.a", "1 (ascending)"},
		{"sort path", `{"database": "app", "collection": "tasks", "sort": {"a..b": 1}}`, "sort.a..b", "empty segment"},
		{"fields empty path", `{"database": "app", "collection": "tasks", "fields": ["a", ""]}`, "fields[1]", "empty field path"},
		{"fields dollar", `{"database": "app", "collection": "tasks", "fields": ["$a"]}`, "fields[0]", "starting with '$'"},
		{"fields trailing dot", `{"database": "app", "collection": "tasks", "fields": ["a."]}`, "fields[0]", "empty segment"},
		{"fields duplicate", `{"database": "app", "collection": "tasks", "fields": ["a", "a"]}`, "fields[1]", "repeats fields[0]"},
		{"csv without fields", `{"database": "app", "collection": "tasks", "format": "csv"}`, "fields", "csv needs"},
		{"sort under a field", `{"database": "app", "collection": "tasks", "fields": ["a.x"], "sort": {"a.y": 1}}`, "sort.a.y", "add it to fields"},
		{"array key", `{"database": "app", "collection": "tasks", "arrayKey": "a b"}`, "arrayKey", "identifier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tc.req, tc.field, tc.msg)
		})
	}
}

func TestDefaultsAndSort(t *testing.T) {
	p, err := compileJSON(t, `{"database": "app", "collection": "tasks"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Format != NDJSON || p.Compression != Zstd || p.Canonical || p.ChunkRecords != DefaultChunkRecords ||
		p.ChunkBytes != DefaultChunkBytes || p.BatchSize != DefaultBatchSize || !p.FormulaGuard || p.ArrayKey != "documents" {
		t.Fatalf("defaults: %+v", p)
	}
	if len(p.SortKeys) != 1 || p.SortKeys[0] != (SortKey{Path: "_id"}) {
		t.Fatalf("sort keys %+v, want _id ascending", p.SortKeys)
	}

	p, err = compileJSON(t, `{"database": "app", "collection": "tasks", "sort": {"priority": -1, "createdAt": 1.0}, "csvFormulaGuard": false}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []SortKey{{Path: "priority", Desc: true}, {Path: "createdAt"}, {Path: "_id"}}
	if len(p.SortKeys) != 3 || p.SortKeys[0] != want[0] || p.SortKeys[1] != want[1] || p.SortKeys[2] != want[2] {
		t.Fatalf("sort keys %+v, want %+v", p.SortKeys, want)
	}
	if p.FormulaGuard {
		t.Error("csvFormulaGuard false ignored")
	}
	// _id in the middle ends the sort: what follows could never decide.
	p, err = compileJSON(t, `{"database": "app", "collection": "tasks", "sort": {"_id": -1, "x": 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SortKeys) != 1 || !p.SortKeys[0].Desc {
		t.Fatalf("sort keys %+v, want _id descending only", p.SortKeys)
	}
}

func TestProjectionAddsSortPaths(t *testing.T) {
	cases := []struct {
		name, req, projection string
		hidden                []string
	}{
		{"ndjson hides the sort field", `{"fields": ["title", "assignee.email"], "sort": {"createdAt": -1}}`,
			`{"title":1,"assignee.email":1,"createdAt":1}`, []string{"createdAt"}},
		{"covered sort field", `{"fields": ["title", "assignee"], "sort": {"assignee.name": 1}}`,
			`{"title":1,"assignee":1}`, nil},
		{"csv needs no hiding", `{"format": "csv", "fields": ["title", "assignee.email"], "sort": {"assignee.name": 1, "dueDate": 1}}`,
			`{"title":1,"assignee.email":1,"assignee.name":1,"dueDate":1}`, nil},
		{"all fields", `{"sort": {"x": 1}}`, `null`, nil},
		{"overlapping fields project once", `{"format": "csv", "fields": ["sub.email", "sub", "x"]}`, `{"sub":1,"x":1}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := `{"database": "app", "collection": "tasks", ` + tc.req[1:]
			p, err := compileJSON(t, req)
			if err != nil {
				t.Fatal(err)
			}
			got := "null"
			if p.Projection != nil {
				b, _ := bson.MarshalExtJSON(p.Projection, false, false)
				got = string(b)
			}
			if got != tc.projection {
				t.Errorf("projection %s, want %s", got, tc.projection)
			}
			if strings.Join(p.Hidden, ",") != strings.Join(tc.hidden, ",") {
				t.Errorf("hidden %v, want %v", p.Hidden, tc.hidden)
			}
		})
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p, err := compileJSON(t, `{"database": "app", "collection": "tasks", "format": "csv", "fields": ["a", "b.c"],
		"filter": {"createdAt": {"$gte": {"$date": "2024-01-01T00:00:00Z"}}, "n": {"$numberLong": "5"}, "x": {"$in": [1, 2.5]}},
		"sort": {"createdAt": -1}}`)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	again, err := json.Marshal(&back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Fatalf("plan changed through JSON:\n%s\n%s", data, again)
	}
	f1, _ := bson.Marshal(p.Filter)
	f2, _ := bson.Marshal(back.Filter)
	if string(f1) != string(f2) {
		t.Fatalf("filter BSON changed: %v vs %v", p.Filter, back.Filter)
	}
}

func FuzzCompile(f *testing.F) {
	f.Add(`{"database": "app", "collection": "tasks", "filter": {"status": "x"}, "sort": {"a": -1}, "fields": ["a", "b.c"]}`)
	f.Add(`{"database": "app", "collection": "tasks", "filter": {"$or": [{"$where": "1"}]}}`)
	f.Add(`{"database": "app", "collection": "t", "format": "csv", "fields": ["x"], "chunkBytes": 1024}`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Decode([]byte(s))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		p, err := Compile(r)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("Compile error %v is not a FieldError with a field", err)
			}
			return
		}
		// A compiled plan is total and safe.
		if n := len(p.SortKeys); n == 0 || p.SortKeys[n-1].Path != "_id" {
			t.Fatalf("sort %+v does not end with _id", p.SortKeys)
		}
		if err := checkQuery("filter", p.Filter); err != nil {
			t.Fatalf("compiled filter refused: %v", err)
		}
		if p.ChunkRecords < 1 || p.ChunkBytes < MinChunkBytes || p.BatchSize < 1 {
			t.Fatalf("bounds %+v", p)
		}
		for _, f := range p.Fields {
			if msg := checkPath(f); msg != "" {
				t.Fatalf("field %q: %s", f, msg)
			}
		}
		if strings.Contains(s, "$where") && !strings.Contains(s, `\`) && len(p.Filter) > 0 {
			b, _ := bson.MarshalExtJSON(p.Filter, false, false)
			if strings.Contains(string(b), `"$where":`) {
				t.Fatalf("$where got through: %s", b)
			}
		}
	})
}
