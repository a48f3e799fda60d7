package extjson

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the driver's output")

// allTypesDocument has one or more values of every BSON type. Its Extended
// JSON is kept in testdata/ so a reviewer can read what the package writes.
func allTypesDocument(tb testing.TB) []byte {
	tb.Helper()
	return marshal(tb, bson.D{
		{Key: "_id", Value: oid("5f1e2d3c4b5a69788796a5b4")},
		{Key: "double", Value: bson.A{1.0, -0.5, math.Copysign(0, -1), 1e6, 1.5e-7, 1e21, math.MaxFloat64, math.NaN(), math.Inf(1), math.Inf(-1)}},
		{Key: "string", Value: "plain, \"quoted\" \\ new\nline\ttab \x01 <&> é 日本 \u2028 \xff"},
		{Key: "document", Value: bson.D{{Key: "nested", Value: bson.D{{Key: "deeper", Value: true}}}, {Key: "empty", Value: bson.D{}}}},
		{Key: "array", Value: bson.A{int32(1), "two", bson.A{}, bson.D{{Key: "x", Value: nil}}}},
		{Key: "binary", Value: bson.A{
			bson.Binary{Subtype: 0x00, Data: []byte("generic")},
			bson.Binary{Subtype: 0x02, Data: []byte("old")},
			bson.Binary{Subtype: 0x04, Data: []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}},
			bson.Binary{Subtype: 0x09, Data: []byte{0x03, 0x00, 0x01, 0x02}},
			bson.Binary{Subtype: 0x80, Data: []byte{}},
		}},
		{Key: "undefined", Value: bson.Undefined{}},
		{Key: "objectId", Value: oid("000102030405060708090a0b")},
		{Key: "bool", Value: bson.A{true, false}},
		{Key: "datetime", Value: bson.A{
			ms(utc(2024, 1, 2, 3, 4, 5, 120)), ms(utc(2024, 1, 2, 3, 4, 5, 0)),
			bson.DateTime(0), bson.DateTime(-1), ms(utc(9999, 12, 31, 23, 59, 59, 999)), ms(utc(10000, 1, 1, 0, 0, 0, 0)),
		}},
		{Key: "null", Value: nil},
		{Key: "regex", Value: bson.Regex{Pattern: `^a"b\d+$`, Options: "imsx"}},
		{Key: "dbPointer", Value: bson.DBPointer{DB: "db.coll", Pointer: oid("5f1e2d3c4b5a69788796a5b4")}},
		{Key: "javascript", Value: bson.JavaScript(`function () { return "x"; }`)},
		{Key: "symbol", Value: bson.Symbol("sym")},
		{Key: "codeWithScope", Value: bson.CodeWithScope{Code: "f(a)", Scope: bson.D{{Key: "a", Value: int64(1)}}}},
		{Key: "int32", Value: bson.A{int32(0), int32(math.MinInt32), int32(math.MaxInt32)}},
		{Key: "timestamp", Value: bson.Timestamp{T: 1700000000, I: 42}},
		{Key: "int64", Value: bson.A{int64(0), int64(math.MinInt64), int64(math.MaxInt64)}},
		{Key: "decimal128", Value: bson.A{
			mustDecimal("1.050E+3"), bson.NewDecimal128((6176+1)<<49, 1050), mustDecimal("-0.00"), mustDecimal("0.000001"), mustDecimal("1E-7"),
			mustDecimal("1234567890123456789012345678901234"), mustDecimal("NaN"), mustDecimal("-Infinity"),
		}},
		{Key: "minKey", Value: bson.MinKey{}},
		{Key: "maxKey", Value: bson.MaxKey{}},
	})
}

// TestGolden compares the output for allTypesDocument with the golden files
// testdata/alltypes.{relaxed,canonical}.json. The files hold the output
// indented with json.Indent for reading; since the output has no whitespace
// outside strings, indenting loses nothing and the comparison is exact. With
// -update the files are rewritten from the driver's output, not from this
// package, so they always record the reference behaviour.
func TestGolden(t *testing.T) {
	doc := allTypesDocument(t)
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			path := filepath.Join("testdata", "alltypes."+m.name+".json")
			if *update {
				want, err := driverDocument(doc, m.canonical)
				if err != nil {
					t.Fatalf("driver: %v", err)
				}
				if err := os.WriteFile(path, indent(t, want), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			got, err := AppendDocument(nil, doc, m.canonical)
			if err != nil {
				t.Fatalf("AppendDocument: %v", err)
			}
			if !bytes.Equal(indent(t, got), golden) {
				t.Fatalf("output differs from %s\n got: %s", path, indent(t, got))
			}
			checkDocument(t, doc, m.canonical)
		})
	}
}

// indent is json.Indent with two spaces and a final newline.
func indent(tb testing.TB, compact []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		tb.Fatalf("output is not valid JSON: %v\n%s", err, compact)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
