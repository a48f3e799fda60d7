package extjson

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// FuzzAppendDocument feeds arbitrary bytes to AppendDocument and to the
// driver. The property, in both modes, is the package guarantee:
//
//   - if the driver succeeds, AppendDocument succeeds with identical bytes
//     (this includes every input where bson.Raw.Validate and the driver both
//     succeed, the property the brief asks for);
//   - if the driver fails (including inputs Validate accepts, such as a
//     boolean byte of 2 or a malformed nested document), AppendDocument fails
//     too, with a *MalformedError wrapping ErrMalformed and dst unchanged;
//   - neither panics.
//
// The corpus is seeded with the golden all-types document, the benchmark
// document and every table case, valid, quirky and malformed. An input the
// fuzzer finds that breaks the property belongs in
// testdata/fuzz/FuzzAppendDocument once fixed (none has so far).
func FuzzAppendDocument(f *testing.F) {
	f.Add(allTypesDocument(f))
	f.Add(taskDocument(f))
	for _, c := range append(typeCases(), quirkCases()...) {
		f.Add(c.doc)
	}
	for _, c := range malformedCases() {
		f.Add(c.doc)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range modes {
			checkDocument(t, data, m.canonical)
		}
	})
}

// FuzzValues builds well-formed documents from fuzzed scalars so the fuzzer
// spends its time on value formatting (float bits, string bytes, dates,
// decimal bits, binary subtypes, regex options) rather than on framing. Each
// value appears at the top level, in a nested document, in an array and in
// a code-with-scope scope. The property is the same as FuzzAppendDocument's,
// for AppendDocument and for AppendValue on every top-level element; since
// the documents are well-formed, both must also succeed.
func FuzzValues(f *testing.F) {
	f.Add(math.Float64bits(1.5), "a \"quoted\"\n\u2028 é \xff", "key", int64(1704164645120), int64(-42),
		uint64(0x3040000000000000), uint64(12345), []byte("bin"), byte(0x02), "xmi", uint64(1700000000)<<32|7)
	f.Add(math.Float64bits(math.Copysign(0, -1)), "", "", int64(-1), int64(math.MinInt64),
		uint64(0x7c00000000000000), uint64(0), []byte{}, byte(0x04), "", uint64(0))
	f.Add(math.Float64bits(1e21), "\x00\x01\x1f\x7f", "\xff\xfe", int64(maxISODate), int64(math.MaxInt64),
		uint64(0x6c10000000000000), uint64(1), []byte{0, 1, 2, 3, 4, 5}, byte(0x80), "\xffé\"", uint64(math.MaxUint64))
	f.Add(math.Float64bits(math.NaN()), strings.Repeat("long plain text ", 8), "k.e.y", int64(maxISODate+1), int64(0),
		uint64(0x3041ffffffffffff), uint64(math.MaxUint64), []byte("x"), byte(0x09), "zyx", uint64(1))
	f.Fuzz(func(t *testing.T, f64 uint64, s, key string, date, i64 int64, decHi, decLo uint64,
		bin []byte, subtype byte, options string, ts uint64) {
		key = strings.ReplaceAll(key, "\x00", "")
		cstr := strings.ReplaceAll(s, "\x00", "")
		options = strings.ReplaceAll(options, "\x00", "")
		var id [12]byte
		copy(id[:], bin)

		scalars := func(dst []byte) []byte {
			dst = bsoncore.AppendDoubleElement(dst, key, math.Float64frombits(f64))
			dst = bsoncore.AppendStringElement(dst, key+"s", s)
			dst = bsoncore.AppendDateTimeElement(dst, key+"d", date)
			dst = bsoncore.AppendInt64Element(dst, key+"l", i64)
			dst = bsoncore.AppendInt32Element(dst, key+"i", int32(i64))
			dst = bsoncore.AppendDecimal128Element(dst, key+"m", decHi, decLo)
			dst = bsoncore.AppendBinaryElement(dst, key+"b", subtype, bin)
			dst = bsoncore.AppendRegexElement(dst, key+"r", cstr, options)
			dst = bsoncore.AppendJavaScriptElement(dst, key+"j", s)
			dst = bsoncore.AppendSymbolElement(dst, key+"y", s)
			dst = bsoncore.AppendTimestampElement(dst, key+"t", uint32(ts>>32), uint32(ts))
			dst = bsoncore.AppendDBPointerElement(dst, key+"p", s, id)
			dst = bsoncore.AppendObjectIDElement(dst, key+"o", id)
			dst = bsoncore.AppendBooleanElement(dst, key+"B", f64&1 == 1)
			return dst
		}
		inner := bsoncore.BuildDocument(nil, scalars(nil))
		var arr []byte
		arrIdx, arr := bsoncore.AppendArrayStart(arr)
		for i := range 3 {
			arr = bsoncore.AppendDoubleElement(arr, strconv.Itoa(i), math.Float64frombits(f64+uint64(i)))
		}
		arr = bsoncore.AppendStringElement(arr, "3", s)
		arr = bsoncore.AppendDocumentElement(arr, "4", inner)
		arr, _ = bsoncore.AppendArrayEnd(arr, arrIdx)

		doc := bsoncore.BuildDocument(nil,
			scalars(nil),
			bsoncore.AppendDocumentElement(nil, "nested", inner),
			bsoncore.AppendArrayElement(nil, "array", arr),
			bsoncore.AppendCodeWithScopeElement(nil, "cws", s, inner),
		)
		for _, m := range modes {
			if _, err := AppendDocument(nil, doc, m.canonical); err != nil {
				t.Fatalf("well-formed document rejected: %v", err)
			}
			checkDocument(t, doc, m.canonical)
		}
		checkElements(t, bson.Raw(doc))
	})
}
