package format_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/request"
)

// cell encodes {a: v} with enc and returns its one cell, without the CRLF.
func cell(t *testing.T, enc *format.Encoder, v any) string {
	t.Helper()
	doc, err := bson.Marshal(bson.D{{Key: "a", Value: v}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := enc.Append(nil, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := strings.CutSuffix(string(got), "\r\n")
	if !ok {
		t.Fatalf("row %q does not end with CRLF", got)
	}
	return s
}

func encoder(t *testing.T, r request.Request) *format.Encoder {
	t.Helper()
	enc, err := format.New(compile(t, r), format.Info{GeneratedAt: generatedAt})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// Joined arrays: each item's usual cell text, unquoted, the separator
// between; the whole cell quoted and guarded once, as a string is.
func TestCSVJoinedArrays(t *testing.T) {
	when := bson.DateTime(time.Date(2024, 3, 5, 6, 7, 8, 9e6, time.UTC).UnixMilli())
	dec, _ := bson.ParseDecimal128("1.50")
	off := false
	join := request.Request{Format: request.CSV, Fields: []string{"a"}, CSVArrays: request.CSVArraysJoin}
	bar := join
	bar.CSVArraySeparator = "|"
	comma := join
	comma.CSVArraySeparator = ", "
	noGuard := join
	noGuard.CSVFormulaGuard = &off
	cases := []struct {
		name string
		req  request.Request
		v    any
		want string
	}{
		{"strings", join, bson.A{"tech-debt", "backend"}, "tech-debt; backend"},
		{"one string", join, bson.A{"backend"}, "backend"},
		{"empty array", join, bson.A{}, ""},
		{"numbers", join, bson.A{int32(1), int64(9007199254740993), 2.5, 3.0, dec}, "1; 9007199254740993; 2.5; 3; 1.50"},
		{"mixed scalars", join, bson.A{"x", true, when, mustOID("64b7f0c2a1b2c3d4e5f60718"), nil, int32(7)},
			"x; true; 2024-03-05T06:07:08.009Z; 64b7f0c2a1b2c3d4e5f60718; ; 7"},
		{"nested document", join, bson.A{"a", bson.D{{Key: "x", Value: int32(2)}, {Key: "y", Value: "z"}}},
			`"a; {""x"":2,""y"":""z""}"`},
		{"nested array", join, bson.A{bson.A{"p", "q"}, "r"}, `"[""p"",""q""]; r"`},
		{"rarer types as JSON", join, bson.A{bson.Binary{Subtype: 0, Data: []byte{1, 2, 3}}, bson.Regex{Pattern: "ab+c", Options: "i"}},
			`"{""$binary"":{""base64"":""AQID"",""subType"":""00""}}; {""$regularExpression"":{""pattern"":""ab+c"",""options"":""i""}}"`},
		{"item needing quotes", join, bson.A{`say "hi"`, "a,b", "line1\nline2"}, "\"say \"\"hi\"\"; a,b; line1\nline2\""},
		{"formula first item guarded", join, bson.A{"=SUM(A1)", "x"}, "'=SUM(A1); x"},
		{"formula later item left", join, bson.A{"x", "=SUM(A1)"}, "x; =SUM(A1)"},
		{"negative number first", join, bson.A{int32(-5), int32(3)}, "'-5; 3"},
		{"guard and quotes", join, bson.A{"@me", "a,b"}, `"'@me; a,b"`},
		{"guard off", noGuard, bson.A{"=1", "+2"}, "=1; +2"},
		{"separator |", bar, bson.A{"a", "b", "c"}, "a|b|c"},
		{"separator with a comma quotes", comma, bson.A{"a", "b"}, `"a, b"`},
		{"empty first item", join, bson.A{"", "b"}, "; b"},
		{"not an array: string", join, "plain", "plain"},
		{"not an array: document stays JSON", join, bson.D{{Key: "tags", Value: bson.A{"a"}}}, `"{""tags"":[""a""]}"`},
		{"default: arrays as JSON", request.Request{Format: request.CSV, Fields: []string{"a"}}, bson.A{"tech-debt", "backend"},
			`"[""tech-debt"",""backend""]"`},
		{"json said out loud", request.Request{Format: request.CSV, Fields: []string{"a"}, CSVArrays: request.CSVArraysJSON},
			bson.A{"tech-debt", "backend"}, `"[""tech-debt"",""backend""]"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cell(t, encoder(t, tc.req), tc.v); got != tc.want {
				t.Fatalf("cell %q, want %q", got, tc.want)
			}
		})
	}
}

// A malformed array is an error, not a cell of garbage.
func TestCSVJoinedArrayMalformed(t *testing.T) {
	enc := encoder(t, request.Request{Format: request.CSV, Fields: []string{"a"}, CSVArrays: request.CSVArraysJoin})
	// {"a": [<a string item whose length runs past the array>]}
	arr := []byte{20, 0, 0, 0, byte(bson.TypeString), '0', 0, 99, 0, 0, 0, 'x', 0, 0, 0, 0, 0, 0, 0, 0}
	doc := []byte{0, 0, 0, 0, byte(bson.TypeArray), 'a', 0}
	doc = append(append(doc, arr...), 0)
	doc[0] = byte(len(doc))
	if _, err := enc.Append(nil, bson.Raw(doc), 0); err == nil {
		t.Fatal("malformed array encoded without an error")
	}
}

// The every-type document with arrays joined: only the array cell differs
// from alltypes.csv.
func TestCSVJoinedGolden(t *testing.T) {
	p := compile(t, request.Request{Format: request.CSV, Fields: csvFields, CSVArrays: request.CSVArraysJoin})
	golden(t, "alltypes-join.csv", encodeAll(t, p, allTypes(t)))
}

// A plan stored before the csv options existed (this JSON is what one
// looked like) still writes arrays as JSON and no byte order mark, and
// means the same as today's plan for the same request.
func TestCSVStoredPlanWithoutOptions(t *testing.T) {
	const stored = `{"database":"app","collection":"tasks","format":"csv","compression":"gzip","canonical":false,` +
		`"sortKeys":[{"path":"_id"}],"fields":["_id","tags"],"chunkRecords":100000,"chunkBytes":67108864,"batchSize":1000,` +
		`"progressEvery":1000,"formulaGuard":true,"arrayKey":"documents","headers":["ID","Tags"],` +
		`"sort":{"_id":{"$numberInt":"1"}},"projection":{"_id":{"$numberInt":"1"},"tags":{"$numberInt":"1"}}}`
	var old request.Plan
	if err := json.Unmarshal([]byte(stored), &old); err != nil {
		t.Fatal(err)
	}
	if old.CSVArraySeparator != "" || old.CSVBOM {
		t.Fatalf("stored plan read with csv options: %q %v", old.CSVArraySeparator, old.CSVBOM)
	}
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(1)}, {Key: "tags", Value: bson.A{"tech-debt", "backend"}}})
	got := encodeAll(t, &old, doc)
	if want := "ID,Tags\r\n" + `1,"[""tech-debt"",""backend""]"` + "\r\n"; string(got) != want {
		t.Fatalf("stored plan encodes\n %q\nwant %q", got, want)
	}
	now := compile(t, request.Request{Format: request.CSV, Compression: request.Gzip, Fields: []string{"_id", "tags"}, Headers: []string{"ID", "Tags"}})
	if again := encodeAll(t, now, doc); string(again) != string(got) {
		t.Fatalf("today's plan encodes %q, the stored one %q", again, got)
	}
}

// Joining costs no more allocations per row than JSON arrays do.
func TestCSVJoinedAllocations(t *testing.T) {
	fields := []string{"_id", "title", "description", "status", "tags", "assignee.email", "createdAt", "dueDate", "estimatedHours"}
	enc := encoder(t, request.Request{Format: request.CSV, Fields: fields, CSVArrays: request.CSVArraysJoin})
	doc := devmongo.Task(3)
	buf := make([]byte, 0, 1<<16)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = enc.Append(buf[:0], doc, 1)
	})
	if allocs > 1 {
		t.Errorf("%.1f allocations per csv row with joined arrays, want at most 1", allocs)
	}
}

// Plans that New cannot honour are refused: the csv options belong to csv.
func TestCSVOptionsOnOtherFormats(t *testing.T) {
	for _, p := range []request.Plan{
		{Format: request.NDJSON, CSVBOM: true},
		{Format: request.JSON, ArrayKey: "documents", CSVArraySeparator: "; "},
	} {
		if _, err := format.New(&p, format.Info{}); err == nil {
			t.Errorf("format.New accepted %s with csv options", p.Format)
		}
	}
}

// The tasks profile's csv, end to end from the old service's request: tags
// joined, the rest as before, no byte order mark.
func TestTasksProfileCSVRow(t *testing.T) {
	profiles, err := request.LoadProfiles("../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	r, err := request.Decode([]byte(`{"profile": "tasks", "format": "csv"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := request.Resolve(r, profiles)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := bson.Marshal(bson.D{
		{Key: "_id", Value: mustOID("64b7f0c2a1b2c3d4e5f60718")}, {Key: "title", Value: "Fix the queue"},
		{Key: "tags", Value: bson.A{"tech-debt", "backend"}}, {Key: "estimatedHours", Value: 2.5},
	})
	got := string(encodeAll(t, p, doc))
	want := "ID,Title,Description,Status,Priority,Tags,Assignee,Assignee Email,Due Date,Created At,Updated At,Completed At,Estimated Hours\r\n" +
		"64b7f0c2a1b2c3d4e5f60718,Fix the queue,,,,tech-debt; backend,,,,,,,2.5\r\n"
	if got != want {
		t.Fatalf("tasks csv\n got %q\nwant %q", got, want)
	}
}
