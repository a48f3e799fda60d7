package request

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// nested is a filter of depth levels: {"a": {"a": … {"a": 1}}}.
func nested(depth int) string {
	return strings.Repeat(`{"a": `, depth-1) + `{"a": 1}` + strings.Repeat("}", depth-1)
}

// nestedAnd is depth levels of {"$and": [ … ]}, each adding two levels.
func nestedAnd(n int) string {
	return strings.Repeat(`{"$and": [`, n) + `{"x": 1}` + strings.Repeat("]}", n)
}

func req(extra string) string {
	return `{"database": "app", "collection": "tasks"` + extra + `}`
}

func TestLimits(t *testing.T) {
	big := strings.Repeat("x", 900<<10)
	cases := []struct {
		name, req, field, msg string
	}{
		{"filter 101 levels", req(`, "filter": ` + nested(101)), "filter", "nested deeper than 100 levels"},
		{"filter 200 levels", req(`, "filter": ` + nested(200)), "filter", "nested deeper than 100 levels"},
		{"arrays 9000 deep", req(`, "filter": {"a": ` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`), "filter", "nested deeper"},
		{"$and 100 deep", req(`, "filter": ` + nestedAnd(100)), "filter", "nested deeper than 100 levels"},
		{"$and 51 deep", req(`, "filter": ` + nestedAnd(51)), "filter", "nested deeper than 100 levels"},
		{"sort nested", req(`, "sort": ` + nested(150)), "sort", "nested deeper"},
		{"request too large", req(`, "requestId": "` + strings.Repeat("y", MaxRequestBytes) + `"`), "request", "at most 1048576"},
		{"requestId 900 KB", req(`, "requestId": "` + big + `"`), "requestId", "at most 255"},
		{"requestId 256 bytes", req(`, "requestId": "` + strings.Repeat("k", 256) + `"`), "requestId", "is 256 bytes"},
		{"requestId control", req(`, "requestId": "a\u0000b"`), "requestId", "printable"},
		{"collection 900 KB", `{"database": "app", "collection": "` + big + `"}`, "collection", "(921600 bytes)"},
		{"namespace 256 bytes", `{"database": "app", "collection": "` + strings.Repeat("c", 252) + `"}`, "collection", "MongoDB allows at most 255"},
		{"database 900 KB", `{"database": "` + big + `", "collection": "tasks"}`, "database", "(921600 bytes)"},
		{"format 900 KB", req(`, "format": "` + big + `"`), "format", "bytes)"},
		{"unknown field 900 KB", req(`, "` + big + `": 1`), strings.Repeat("x", maxFieldName) + "…", "unknown field"},
		{"header too long", req(`, "fields": ["a"], "headers": ["` + strings.Repeat("h", 2000) + `"]`), "headers[0]", "at most 1024"},
		{"too many fields", req(`, "fields": [` + manyFields(1001) + `]`), "fields", "at most 1000"},
		{"filter not UTF-8", req(`, "filter": {"": {"` + "\x98" + `": {}}}`), "filter", "UTF-8"},
		{"sort not UTF-8", req(`, "sort": {"` + "\xff" + `": 1}`), "sort", "UTF-8"},
		{"$where under $expr arrays", req(`, "filter": {"$expr": {"$and": [[[{"$where": "1"}]]]}}`), "filter.$expr.$and[0][0][0].$where", "runs code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			fe := wantRefused(t, tc.req, tc.field, tc.msg)
			if len(fe.Message) > maxMessage+len("…") {
				t.Fatalf("message is %d bytes", len(fe.Message))
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("refusal took %s", d)
			}
		})
	}
}

func manyFields(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf(`"f%d"`, i)
	}
	return strings.Join(s, ",")
}

func TestLimitsAccepted(t *testing.T) {
	cases := []struct{ name, req string }{
		{"filter 100 levels", req(`, "filter": ` + nested(100))},
		{"$and 49 deep", req(`, "filter": ` + nestedAnd(49))},
		{"100 levels ending in a date", req(`, "filter": ` + strings.Repeat(`{"a": `, 99) + `{"d": {"$date": {"$numberLong": "0"}}}` + strings.Repeat("}", 99))},
		{"requestId 255 bytes", req(`, "requestId": "` + strings.Repeat("k", 255) + `"`)},
		{"requestId unicode", req(`, "requestId": "export-é-€"`)},
		{"namespace 255 bytes", `{"database": "app", "collection": "` + strings.Repeat("c", 251) + `"}`},
		{"1000 fields", req(`, "fields": [` + manyFields(1000) + `]`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := compileJSON(t, tc.req); err != nil {
				t.Fatalf("refused: %.300v", err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	profiles := map[string]*Profile{"tasks": {Name: "tasks", Database: "app", Collection: "tasks"}}
	r, err := Decode([]byte(`{"profile": "tasks", "format": "csv", "fields": ["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Resolve(r, profiles)
	if err != nil {
		t.Fatal(err)
	}
	if p.Database != "app" || p.Collection != "tasks" {
		t.Fatalf("namespace %s.%s, want the profile's app.tasks", p.Database, p.Collection)
	}
	r, _ = Decode([]byte(`{"profile": "` + strings.Repeat("p", 5000) + `"}`))
	_, err = Resolve(r, profiles)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "profile" || !strings.Contains(fe.Message, "known: tasks") || len(fe.Message) > 200 {
		t.Fatalf("err = %v, want a short profile error listing tasks", err)
	}
}
