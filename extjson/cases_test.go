package extjson

import (
	"math"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// namedDoc is one input document for the comparison tests and a fuzz seed.
type namedDoc struct {
	name string
	doc  []byte
}

// mustMarshal is bson.Marshal for the fixed case tables; an error is a bug in
// the table, so it panics.
func mustMarshal(v any) []byte {
	b, err := bson.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func mustDecimal(s string) bson.Decimal128 {
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		panic(err)
	}
	return d
}

func oid(hex string) bson.ObjectID {
	id, err := bson.ObjectIDFromHex(hex)
	if err != nil {
		panic(err)
	}
	return id
}

func ms(t time.Time) bson.DateTime { return bson.NewDateTimeFromTime(t) }

func utc(y int, mo time.Month, d, h, mi, s, msec int) time.Time {
	return time.Date(y, mo, d, h, mi, s, msec*int(time.Millisecond), time.UTC)
}

// one wraps a single value in a document under key "v".
func one(v any) []byte { return mustMarshal(bson.D{{Key: "v", Value: v}}) }

// typeCases covers every BSON type and the edge cases of its formatting.
// Every case is well-formed BSON that bson.Marshal or bsoncore produced.
func typeCases() []namedDoc {
	negZero := math.Copysign(0, -1)
	cases := []namedDoc{
		// Documents and arrays.
		{"empty document", mustMarshal(bson.D{})},
		{"empty embedded document", one(bson.D{})},
		{"empty array", one(bson.A{})},
		{"nested documents and arrays", one(bson.D{
			{Key: "a", Value: bson.A{bson.D{}, bson.A{}, bson.A{bson.A{1, "x"}}, bson.D{{Key: "b", Value: bson.D{{Key: "c", Value: nil}}}}}},
			{Key: "d", Value: bson.A{bson.D{{Key: "e", Value: 1}}, bson.D{{Key: "e", Value: 2}}}},
		})},
		{"duplicate keys", rawDoc(
			rawElem(bson.TypeInt32, "a", le32(1)),
			rawElem(bson.TypeString, "a", rawStr("two")),
			rawElem(bson.TypeNull, "a"),
		)},
		{"keys needing escapes", mustMarshal(bson.D{
			{Key: "", Value: 1},
			{Key: `q"uote\back`, Value: 2},
			{Key: "new\nline\ttab", Value: 3},
			{Key: "ünïcødé 日本", Value: 4},
			{Key: "bad\xffutf8", Value: 5},
			{Key: "$dollar.dot", Value: 6},
			{Key: "<html>&", Value: 7},
		})},
		{"deep nesting 40 levels", deepDoc(40, false)},
		{"deep nesting 200 levels of arrays", deepDoc(200, true)},

		// Doubles.
		{"double whole numbers", mustMarshal(bson.D{
			{Key: "zero", Value: 0.0}, {Key: "negzero", Value: negZero}, {Key: "one", Value: 1.0},
			{Key: "minusone", Value: -1.0}, {Key: "big", Value: 123456.0}, {Key: "bigger", Value: 999999.0},
			{Key: "million", Value: 1e6}, {Key: "minusmillion", Value: -1e6}, {Key: "e15", Value: 1e15},
			{Key: "e20", Value: 1e20}, {Key: "e21", Value: 1e21}, {Key: "e22", Value: 1e22},
			{Key: "2^53", Value: 9007199254740992.0}, {Key: "2^63", Value: 9223372036854775808.0},
		})},
		{"double fractions and exponents", mustMarshal(bson.D{
			{Key: "half", Value: 0.5}, {Key: "tenth", Value: 0.1}, {Key: "third", Value: 1.0 / 3},
			{Key: "pi", Value: math.Pi}, {Key: "e-4", Value: 1e-4}, {Key: "e-5", Value: 1e-5},
			{Key: "1.5e-7", Value: 1.5e-7}, {Key: "almostmillion", Value: 999999.5},
			{Key: "negfrac", Value: -1234.5678}, {Key: "max", Value: math.MaxFloat64},
			{Key: "smallestnormal", Value: 2.2250738585072014e-308},
			{Key: "smallest", Value: math.SmallestNonzeroFloat64}, {Key: "e300", Value: 1e300},
			{Key: "-e-300", Value: -1e-300},
		})},
		{"double non-finite", mustMarshal(bson.D{
			{Key: "nan", Value: math.NaN()}, {Key: "inf", Value: math.Inf(1)}, {Key: "-inf", Value: math.Inf(-1)},
			{Key: "negnan", Value: math.Float64frombits(0xfff8000000000001)},
			{Key: "snan", Value: math.Float64frombits(0x7ff0000000000001)},
		})},

		// Strings.
		{"string empty and plain", mustMarshal(bson.D{
			{Key: "empty", Value: ""}, {Key: "plain", Value: "hello world"},
			{Key: "long", Value: strings.Repeat("abcdefghij", 20)},
		})},
		{"string quotes and backslashes", mustMarshal(bson.D{
			{Key: "q", Value: `"`}, {Key: "b", Value: `\`}, {Key: "mix", Value: `say "hi" \ bye \\ "`},
			{Key: "late", Value: `0123456789abcdef"`}, {Key: "slash", Value: "a/b"},
		})},
		{"string control characters", mustMarshal(bson.D{
			{Key: "all", Value: controlChars()},
			{Key: "short", Value: "\n\r\t\b\f"}, {Key: "nul", Value: "a\x00b"}, {Key: "del", Value: "\x7f"},
			{Key: "crlf", Value: "line one\r\nline two\r\n"},
		})},
		{"string html", mustMarshal(bson.D{{Key: "html", Value: `<script>alert("x&y")</script>`}})},
		{"string non-ASCII", mustMarshal(bson.D{
			{Key: "latin", Value: "crème brûlée"}, {Key: "cjk", Value: "日本語のテキスト"},
			{Key: "emoji", Value: "👍🏽 ok"}, {Key: "bom", Value: "\ufeffbom"}, {Key: "fffd", Value: "\ufffd"},
			{Key: "maxrune", Value: "\U0010ffff"}, {Key: "u2027", Value: "\u2027\u202a"},
		})},
		{"string line and paragraph separators", mustMarshal(bson.D{
			{Key: "ls", Value: "a\u2028b"}, {Key: "ps", Value: "\u2029"}, {Key: "both", Value: "\u2028\u2029\u2028"},
		})},
		{"string invalid UTF-8", mustMarshal(bson.D{
			{Key: "ff", Value: "\xff"}, {Key: "lone continuation", Value: "a\x80b"},
			{Key: "truncated", Value: "x\xe2\x82"}, {Key: "overlong", Value: "\xc0\xaf"},
			{Key: "surrogate", Value: "\xed\xa0\x80"}, {Key: "too big", Value: "\xf4\x90\x80\x80"},
			{Key: "mixed", Value: "ok\xffé\xfe\u2028\x01"},
		})},

		// Binary.
		{"binary subtypes", mustMarshal(bson.D{
			{Key: "generic", Value: bson.Binary{Subtype: 0x00, Data: []byte("hello")}},
			{Key: "function", Value: bson.Binary{Subtype: 0x01, Data: []byte{1, 2, 3}}},
			{Key: "old", Value: bson.Binary{Subtype: 0x02, Data: []byte{1, 2, 3, 4, 5, 6}}},
			{Key: "old short", Value: bson.Binary{Subtype: 0x02, Data: []byte{9}}},
			{Key: "old empty", Value: bson.Binary{Subtype: 0x02, Data: nil}},
			{Key: "uuid old", Value: bson.Binary{Subtype: 0x03, Data: make([]byte, 16)}},
			{Key: "uuid", Value: bson.Binary{Subtype: 0x04, Data: []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}}},
			{Key: "md5", Value: bson.Binary{Subtype: 0x05, Data: make([]byte, 16)}},
			{Key: "encrypted", Value: bson.Binary{Subtype: 0x06, Data: []byte{0xff}}},
			{Key: "column", Value: bson.Binary{Subtype: 0x07, Data: []byte{0, 1}}},
			{Key: "sensitive", Value: bson.Binary{Subtype: 0x08, Data: []byte("secret")}},
			{Key: "vector", Value: bson.Binary{Subtype: 0x09, Data: []byte{0x03, 0x00, 0x01, 0xff, 0x7f}}},
			{Key: "user", Value: bson.Binary{Subtype: 0x80, Data: []byte("user")}},
			{Key: "user max", Value: bson.Binary{Subtype: 0xff, Data: []byte{}}},
		})},
		{"binary base64 padding", mustMarshal(bson.D{
			{Key: "0", Value: bson.Binary{Data: []byte{}}}, {Key: "1", Value: bson.Binary{Data: []byte{0xfb}}},
			{Key: "2", Value: bson.Binary{Data: []byte{0xfb, 0xff}}}, {Key: "3", Value: bson.Binary{Data: []byte{0xfb, 0xff, 0xbf}}},
			{Key: "4", Value: bson.Binary{Data: []byte{0, 0, 0, 0}}},
		})},
		{"nested old binary", one(bson.A{bson.Binary{Subtype: 0x02, Data: []byte("abcdefgh")}, bson.D{{Key: "x", Value: bson.Binary{Subtype: 0x02, Data: []byte("xyz")}}}})},

		// Small fixed types.
		{"undefined null minkey maxkey", mustMarshal(bson.D{
			{Key: "u", Value: bson.Undefined{}}, {Key: "n", Value: nil},
			{Key: "min", Value: bson.MinKey{}}, {Key: "max", Value: bson.MaxKey{}},
		})},
		{"objectid", mustMarshal(bson.D{
			{Key: "zero", Value: bson.ObjectID{}}, {Key: "id", Value: oid("5f1e2d3c4b5a69788796a5b4")},
			{Key: "ff", Value: oid("ffffffffffffffffffffffff")},
		})},
		{"booleans", mustMarshal(bson.D{{Key: "t", Value: true}, {Key: "f", Value: false}})},
		{"int32", mustMarshal(bson.D{
			{Key: "zero", Value: int32(0)}, {Key: "neg", Value: int32(-1)},
			{Key: "min", Value: int32(math.MinInt32)}, {Key: "max", Value: int32(math.MaxInt32)},
		})},
		{"int64", mustMarshal(bson.D{
			{Key: "zero", Value: int64(0)}, {Key: "neg", Value: int64(-42)},
			{Key: "min", Value: int64(math.MinInt64)}, {Key: "max", Value: int64(math.MaxInt64)},
		})},
		{"timestamp", mustMarshal(bson.D{
			{Key: "zero", Value: bson.Timestamp{}}, {Key: "ti", Value: bson.Timestamp{T: 1700000000, I: 3}},
			{Key: "max", Value: bson.Timestamp{T: math.MaxUint32, I: math.MaxUint32}},
		})},

		// Datetimes.
		{"datetime milliseconds", mustMarshal(bson.D{
			{Key: "epoch", Value: bson.DateTime(0)}, {Key: "1ms", Value: bson.DateTime(1)},
			{Key: "5ms", Value: ms(utc(2024, 5, 6, 7, 8, 9, 5))}, {Key: "50ms", Value: ms(utc(2024, 5, 6, 7, 8, 9, 50))},
			{Key: "100ms", Value: ms(utc(2024, 5, 6, 7, 8, 9, 100))}, {Key: "120ms", Value: ms(utc(2024, 5, 6, 7, 8, 9, 120))},
			{Key: "999ms", Value: ms(utc(2024, 5, 6, 7, 8, 9, 999))}, {Key: "whole second", Value: ms(utc(2024, 5, 6, 7, 8, 9, 0))},
		})},
		{"datetime range edges", mustMarshal(bson.D{
			{Key: "before epoch", Value: bson.DateTime(-1)},
			{Key: "1969", Value: ms(utc(1969, 7, 20, 20, 17, 0, 0))},
			{Key: "year 1", Value: ms(utc(1, 1, 1, 0, 0, 0, 0))},
			{Key: "last 9999", Value: ms(utc(9999, 12, 31, 23, 59, 59, 999))},
			{Key: "first 10000", Value: ms(utc(10000, 1, 1, 0, 0, 0, 0))},
			{Key: "min", Value: bson.DateTime(math.MinInt64)}, {Key: "max", Value: bson.DateTime(math.MaxInt64)},
		})},
		{"datetime calendar", mustMarshal(bson.D{
			{Key: "leap day 2000", Value: ms(utc(2000, 2, 29, 12, 0, 0, 0))},
			{Key: "not leap 2100", Value: ms(utc(2100, 3, 1, 0, 0, 0, 0))},
			{Key: "leap day 2024", Value: ms(utc(2024, 2, 29, 23, 59, 59, 1))},
			{Key: "new year eve", Value: ms(utc(1999, 12, 31, 23, 59, 59, 990))},
			{Key: "y2038", Value: ms(utc(2038, 1, 19, 3, 14, 8, 0))},
		})},

		// Regular expressions.
		{"regex options", mustMarshal(bson.D{
			{Key: "none", Value: bson.Regex{Pattern: "^a"}},
			{Key: "sorted", Value: bson.Regex{Pattern: "b", Options: "imsx"}},
			{Key: "unsorted", Value: bson.Regex{Pattern: "c", Options: "xsmi"}},
			{Key: "repeated", Value: bson.Regex{Pattern: "d", Options: "iix"}},
			{Key: "odd chars", Value: bson.Regex{Pattern: "e", Options: "\"\\\n\x01z"}},
			{Key: "non-ASCII", Value: bson.Regex{Pattern: "f", Options: "éa"}},
			{Key: "invalid UTF-8", Value: bson.Regex{Pattern: "g", Options: "x\xffa\xfe"}},
		})},
		{"regex pattern escapes", mustMarshal(bson.D{
			{Key: "p", Value: bson.Regex{Pattern: `^\d+"quoted"\/path$`, Options: "i"}},
			{Key: "u", Value: bson.Regex{Pattern: "ünï\u2028\xff", Options: ""}},
		})},

		// Legacy and code types.
		{"dbpointer", mustMarshal(bson.D{
			{Key: "p", Value: bson.DBPointer{DB: "db.coll", Pointer: oid("5f1e2d3c4b5a69788796a5b4")}},
			{Key: "unescaped", Value: bson.DBPointer{DB: "we\"ird\\ns\n\xff", Pointer: bson.ObjectID{}}},
			{Key: "empty", Value: bson.DBPointer{}},
		})},
		{"javascript and symbol", mustMarshal(bson.D{
			{Key: "js", Value: bson.JavaScript(`function() { return "x\n"; }`)},
			{Key: "sym", Value: bson.Symbol("sym\u2028bol")},
			{Key: "empty", Value: bson.JavaScript("")},
		})},
		{"code with scope", mustMarshal(bson.D{
			{Key: "empty scope", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{}}},
			{Key: "scope", Value: bson.CodeWithScope{Code: `f("a")`, Scope: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: bson.A{"s", 2.5}}}}},
			{Key: "nested", Value: bson.CodeWithScope{Code: "", Scope: bson.D{
				{Key: "inner", Value: bson.CodeWithScope{Code: "y", Scope: bson.D{{Key: "z", Value: bson.D{}}}}},
			}}},
		})},
		{"code with scope in array", one(bson.A{bson.CodeWithScope{Code: "q", Scope: bson.D{{Key: "k", Value: "v"}}}, 1})},

		// Decimal128.
		{"decimal128 plain", mustMarshal(bson.D{
			{Key: "0", Value: mustDecimal("0")}, {Key: "-0", Value: mustDecimal("-0")},
			{Key: "1", Value: mustDecimal("1")}, {Key: "-1", Value: mustDecimal("-1")},
			{Key: "1.5", Value: mustDecimal("1.5")}, {Key: "0.001", Value: mustDecimal("0.001")},
			{Key: "0.000001", Value: mustDecimal("0.000001")}, {Key: "-0.00", Value: mustDecimal("-0.00")},
			{Key: "0.0", Value: mustDecimal("0.0")}, {Key: "123.4500", Value: mustDecimal("123.4500")},
			{Key: "34 digits", Value: mustDecimal("1234567890123456789012345678901234")},
			{Key: "34 digits frac", Value: mustDecimal("1.234567890123456789012345678901234")},
			{Key: "max", Value: mustDecimal("9999999999999999999999999999999999")},
		})},
		{"decimal128 scientific", mustMarshal(bson.D{
			{Key: "1E+3", Value: mustDecimal("1E+3")}, {Key: "1.050E+3", Value: mustDecimal("1.050E+3")},
			{Key: "0E+3", Value: mustDecimal("0E+3")}, {Key: "0E-7", Value: mustDecimal("0E-7")},
			{Key: "1E-7", Value: mustDecimal("1E-7")}, {Key: "12E-8", Value: mustDecimal("12E-8")},
			{Key: "-1.00E-8", Value: mustDecimal("-1.00E-8")}, {Key: "max exp", Value: mustDecimal("1E+6144")},
			{Key: "min exp", Value: mustDecimal("1E-6176")}, {Key: "big", Value: mustDecimal("9.999999999999999999999999999999999E+6144")},
		})},
		{"decimal128 special and non-canonical", mustMarshal(bson.D{
			{Key: "nan", Value: bson.NewDecimal128(0x7c00000000000000, 0)},
			{Key: "-nan", Value: bson.NewDecimal128(0xfc00000000000000, 0)},
			{Key: "snan", Value: bson.NewDecimal128(0x7e00000000000000, 0)},
			{Key: "inf", Value: bson.NewDecimal128(0x7800000000000000, 0)},
			{Key: "-inf", Value: bson.NewDecimal128(0xf800000000000000, 0)},
			{Key: "combination 11", Value: bson.NewDecimal128(0x6c10000000000000, 0)},
			{Key: "-combination 11", Value: bson.NewDecimal128(0xee00000000000000, 7)},
			{Key: "coefficient over 10^34", Value: bson.NewDecimal128(0x3041ed09bead87c0, 0x378d8e6400000000)},
			{Key: "coefficient 2^113-1", Value: bson.NewDecimal128(0x3041ffffffffffff, 0xffffffffffffffff)},
			{Key: "tiny coefficient big exp", Value: bson.NewDecimal128(0x5ffe000000000000, 1)},
		})},
	}
	return cases
}

// controlChars is every byte from 0x00 to 0x1f.
func controlChars() string {
	var b strings.Builder
	for c := range 0x20 {
		b.WriteByte(byte(c))
	}
	return b.String()
}

// deepDoc nests depth documents (or arrays) inside each other with a value
// at the bottom, built with bsoncore so depth is not limited by reflection.
func deepDoc(depth int, arrays bool) []byte {
	inner := bsoncore.NewDocumentBuilder().AppendString("leaf", "bottom").Build()
	for range depth {
		if arrays {
			inner = bsoncore.NewDocumentBuilder().AppendArray("a", bsoncore.Array(bsoncore.NewDocumentBuilder().AppendDocument("0", inner).Build())).Build()
		} else {
			inner = bsoncore.NewDocumentBuilder().AppendDocument("d", inner).AppendInt32("n", 1).Build()
		}
	}
	return inner
}

// quirkCases are inputs a strict reading of the BSON spec would reject but
// the driver accepts; the package must give the driver's output for them.
func quirkCases() []namedDoc {
	return []namedDoc{
		{"trailing bytes after document", append(mustMarshal(bson.D{{Key: "a", Value: 1}}), 0xde, 0xad)},
		{"array with arbitrary keys", rawDoc(rawElem(bson.TypeArray, "arr", rawDoc(
			rawElem(bson.TypeInt32, "x", le32(1)),
			rawElem(bson.TypeInt32, "x", le32(2)),
			rawElem(bson.TypeString, "", rawStr("s")),
		)))},
		{"array with index keys out of order", rawDoc(rawElem(bson.TypeArray, "arr", rawDoc(
			rawElem(bson.TypeInt32, "5", le32(1)),
			rawElem(bson.TypeInt32, "0", le32(2)),
		)))},
		{"code with scope code not NUL-terminated", rawDoc(rawElem(bson.TypeCodeWithScope, "c",
			le32(4+4+3+5), le32(3), []byte("abc"), rawDoc()))},
		{"string with embedded NUL", rawDoc(rawElem(bson.TypeString, "s", le32(4), []byte("a\x00b\x00")))},
		{"top-level old binary with short inner length", rawDoc(
			rawElem(bson.TypeBinary, "b", le32(10), []byte{0x02}, le32(2), []byte("abcdef")),
			rawElem(bson.TypeInt32, "after", le32(7)),
		)},
		{"top-level old binary with zero inner length", rawDoc(
			rawElem(bson.TypeBinary, "b", le32(8), []byte{0x02}, le32(0), []byte("abcd")),
		)},
		{"top-level old binary length 4 without inner length", rawDoc(
			rawElem(bson.TypeBinary, "b", le32(4), []byte{0x02}, []byte("wxyz")),
		)},
		{"nested old binary read by inner length", rawDoc(rawElem(bson.TypeEmbeddedDocument, "d", rawDoc(
			// Outer length 1000 is ignored; the value ends after 3 inner bytes.
			rawElem(bson.TypeBinary, "b", le32(1000), []byte{0x02}, le32(3), []byte("xyz")),
			rawElem(bson.TypeInt32, "after", le32(7)),
		)))},
		{"nested old binary whose leftover bytes parse as an element", rawDoc(rawElem(bson.TypeEmbeddedDocument, "d", rawDoc(
			// Outer length says 4+1+5 bytes of data, inner says 1: the
			// other bytes are read as a null element "abc".
			rawElem(bson.TypeBinary, "b", le32(10), []byte{0x02}, le32(1), []byte("Z"), rawElem(bson.TypeNull, "abc")),
		)))},
	}
}
