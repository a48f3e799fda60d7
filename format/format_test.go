package format_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/request"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var generatedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustOID(s string) bson.ObjectID {
	oid, err := bson.ObjectIDFromHex(s)
	if err != nil {
		panic(err)
	}
	return oid
}

// allTypes is a document with every BSON type the formats must handle,
// including those FerretDB cannot store.
func allTypes(t testing.TB) bson.Raw {
	t.Helper()
	dec, err := bson.ParseDecimal128("1.50")
	if err != nil {
		t.Fatal(err)
	}
	doc := bson.D{
		{Key: "_id", Value: mustOID("64b7f0c2a1b2c3d4e5f60718")},
		{Key: "s", Value: "plain"},
		{Key: "q", Value: `say "hi", ok`},
		{Key: "nl", Value: "line1\nline2"},
		{Key: "f", Value: "=SUM(A1)"},
		{Key: "p", Value: "+1"},
		{Key: "m", Value: "-minus"},
		{Key: "at", Value: "@user"},
		{Key: "tab", Value: "\tx"},
		{Key: "i32", Value: int32(-5)},
		{Key: "i64", Value: int64(9007199254740993)},
		{Key: "d", Value: 2.5},
		{Key: "dw", Value: 3.0},
		{Key: "nan", Value: math.NaN()},
		{Key: "inf", Value: math.Inf(1)},
		{Key: "ninf", Value: math.Inf(-1)},
		{Key: "nz", Value: math.Copysign(0, -1)},
		{Key: "big", Value: 1e21},
		{Key: "small", Value: 1e-7},
		{Key: "t", Value: true},
		{Key: "n", Value: nil},
		{Key: "date", Value: bson.DateTime(time.Date(2024, 3, 5, 6, 7, 8, 9e6, time.UTC).UnixMilli())},
		{Key: "old", Value: bson.DateTime(time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC).UnixMilli())},
		{Key: "future", Value: bson.DateTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())},
		{Key: "dec", Value: dec},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte{1, 2, 3}}},
		{Key: "arr", Value: bson.A{"a", int32(1), bson.D{{Key: "x", Value: int32(2)}}}},
		{Key: "sub", Value: bson.D{{Key: "name", Value: "Ann"}, {Key: "email", Value: "ann@example.com"}}},
		{Key: "re", Value: bson.Regex{Pattern: "ab+c", Options: "i"}},
		{Key: "ts", Value: bson.Timestamp{T: 1, I: 2}},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
	}
	raw, err := bson.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

var csvFields = []string{"_id", "s", "q", "nl", "f", "p", "m", "at", "tab", "i32", "i64", "d", "dw", "nan", "inf", "ninf", "nz",
	"big", "small", "t", "n", "missing", "date", "old", "future", "dec", "bin", "arr", "sub", "sub.email", "re", "ts", "min", "max"}

func encodeAll(t testing.TB, p *request.Plan, docs ...bson.Raw) []byte {
	t.Helper()
	enc, err := format.New(p, format.Info{GeneratedAt: generatedAt})
	if err != nil {
		t.Fatal(err)
	}
	out := append([]byte(nil), enc.Header()...)
	for i, d := range docs {
		if out, err = enc.Append(out, d, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	return append(out, enc.Footer()...)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %q\nwant %q", name, got, want)
	}
}

func compile(t testing.TB, r request.Request) *request.Plan {
	t.Helper()
	r.Database, r.Collection = "app", "tasks"
	p, err := request.Compile(&r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCSVGolden(t *testing.T) {
	off := false
	cases := []struct {
		name string
		req  request.Request
	}{
		{"alltypes.csv", request.Request{Format: request.CSV, Fields: csvFields}},
		{"alltypes-noguard.csv", request.Request{Format: request.CSV, Fields: csvFields, CSVFormulaGuard: &off}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, encodeAll(t, compile(t, tc.req), allTypes(t)))
		})
	}
}

// goldenDocs are the documents of the json golden files.
func goldenDocs() []bson.Raw {
	when := bson.DateTime(time.Date(2024, 3, 5, 6, 7, 8, 9e6, time.UTC).UnixMilli())
	var docs []bson.Raw
	for i, id := range []string{"64b7f0c2a1b2c3d4e5f60718", "64b7f0c2a1b2c3d4e5f60719"} {
		raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: mustOID(id)}, {Key: "n", Value: int32(i + 1)}, {Key: "when", Value: when}})
		docs = append(docs, raw)
	}
	return docs
}

func TestJSONEnvelopeGolden(t *testing.T) {
	docs := goldenDocs()
	for _, tc := range []struct{ name, mode string }{{"envelope.json", "relaxed"}, {"envelope-canonical.json", "canonical"}} {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeAll(t, compile(t, request.Request{Format: request.JSON, ArrayKey: "tasks", JSONFormat: tc.mode}), docs...)
			golden(t, tc.name, got)
			if !json.Valid(got) {
				t.Fatal("envelope is not valid JSON")
			}
		})
	}
}

// ndjson is byte for byte what the driver's MarshalExtJSON gives.
func TestNDJSONMatchesDriver(t *testing.T) {
	docs := []bson.Raw{allTypes(t)}
	for i := range int64(200) {
		docs = append(docs, devmongo.Task(i))
	}
	for _, canonical := range []bool{false, true} {
		mode := "relaxed"
		if canonical {
			mode = "canonical"
		}
		p := compile(t, request.Request{JSONFormat: mode})
		var want []byte
		for _, d := range docs {
			b, err := bson.MarshalExtJSON(d, canonical, false)
			if err != nil {
				t.Fatal(err)
			}
			want = append(append(want, b...), '\n')
		}
		if got := encodeAll(t, p, docs...); !bytes.Equal(got, want) {
			t.Fatalf("%s ndjson differs from the driver", mode)
		}
	}
}

func TestHiddenSortField(t *testing.T) {
	p := compile(t, request.Request{Fields: []string{"title"}, Sort: []byte(`{"createdAt": -1}`)})
	doc, _ := bson.Marshal(bson.D{{Key: "_id", Value: int32(1)}, {Key: "title", Value: "a"}, {Key: "createdAt", Value: bson.DateTime(0)}})
	got := encodeAll(t, p, doc)
	if want := `{"_id":1,"title":"a"}` + "\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestEncoderIsSafeForWorkers(t *testing.T) {
	p := compile(t, request.Request{Format: request.CSV, Fields: []string{"title", "description", "tags", "createdAt"}})
	enc, err := format.New(p, format.Info{})
	if err != nil {
		t.Fatal(err)
	}
	want := make([][]byte, 100)
	for i := range want {
		want[i], _ = enc.Append(nil, devmongo.Task(int64(i)), int64(i))
	}
	done := make(chan []byte, 4)
	for range 4 {
		go func() {
			var out []byte
			for i := range want {
				out, _ = enc.Append(out, devmongo.Task(int64(i)), int64(i))
			}
			done <- out
		}()
	}
	joined := bytes.Join(want, nil)
	for range 4 {
		if got := <-done; !bytes.Equal(got, joined) {
			t.Fatal("concurrent encoding differs")
		}
	}
}

func TestCSVAllocations(t *testing.T) {
	p := compile(t, request.Request{Format: request.CSV, Fields: []string{"_id", "title", "description", "status", "tags", "assignee.email", "createdAt", "dueDate", "estimatedHours"}})
	enc, _ := format.New(p, format.Info{})
	doc := devmongo.Task(3)
	buf := make([]byte, 0, 1<<16)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = enc.Append(buf[:0], doc, 1)
	})
	if allocs > 1 {
		t.Errorf("%.1f allocations per csv row, want at most 1", allocs)
	}
}

// The csv date cell equals Go's own formatting of the instant, over the
// whole range and at the edges.
func TestCSVDatesAgreeWithTime(t *testing.T) {
	p := compile(t, request.Request{Format: request.CSV, Fields: []string{"d"}})
	enc, _ := format.New(p, format.Info{})
	want := func(ms int64) string {
		tm := time.UnixMilli(ms).UTC()
		if y := tm.Year(); y < 0 || y > 9999 {
			return fmt.Sprintf("%+07d", y) + tm.Format("-01-02T15:04:05.000Z07:00")
		}
		return tm.Format("2006-01-02T15:04:05.000Z07:00")
	}
	edges := []int64{0, -1, 1, 86_399_999, 86_400_000, -86_400_000, 951_782_400_000, 253_402_300_799_999, 253_402_300_800_000,
		-62_135_596_800_000, -62_135_596_800_001, math.MaxInt64 / 1000, math.MinInt64 / 1000}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		edges = append(edges, r.Int64N(2*253_402_300_800_000)-253_402_300_800_000/2)
	}
	for _, ms := range edges {
		doc, _ := bson.Marshal(bson.D{{Key: "d", Value: bson.DateTime(ms)}})
		got, err := enc.Append(nil, doc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.TrimSuffix(string(got), "\r\n"); g != want(ms) {
			t.Fatalf("date %d: %s, want %s", ms, g, want(ms))
		}
	}
}

// Duplicate keys: the first wins, as with bson.Raw.Lookup; a dotted column
// reads inside the first sub-document of that name.
func TestCSVDuplicateKeys(t *testing.T) {
	p := compile(t, request.Request{Format: request.CSV, Fields: []string{"a", "s.x", "b"}})
	enc, _ := format.New(p, format.Info{})
	doc, _ := bson.Marshal(bson.D{
		{Key: "a", Value: "first"}, {Key: "s", Value: bson.D{{Key: "x", Value: int32(1)}}},
		{Key: "a", Value: "second"}, {Key: "s", Value: bson.D{{Key: "x", Value: int32(2)}}}, {Key: "b", Value: true},
	})
	got, err := enc.Append(nil, doc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "first,1,true\r\n" {
		t.Fatalf("row %q", got)
	}
}
