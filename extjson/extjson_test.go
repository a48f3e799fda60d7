package extjson

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestAppendDocumentMatchesDriver compares AppendDocument with the driver on
// every case of the type table and the driver-quirk table, in both modes.
func TestAppendDocumentMatchesDriver(t *testing.T) {
	for _, c := range append(typeCases(), quirkCases()...) {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					if _, err := AppendDocument(nil, c.doc, m.canonical); err != nil {
						t.Fatalf("AppendDocument: %v", err)
					}
					checkDocument(t, c.doc, m.canonical)
				})
			}
		})
	}
}

// TestAppendValueMatchesDriver compares AppendValue with the driver on every
// top-level value of the type table.
func TestAppendValueMatchesDriver(t *testing.T) {
	for _, c := range typeCases() {
		t.Run(c.name, func(t *testing.T) {
			checkElements(t, c.doc)
		})
	}
}

// TestAppendValueExpected spells out, independently of the driver, the
// output for the forms most likely to surprise a reader.
func TestAppendValueExpected(t *testing.T) {
	cases := []struct {
		name               string
		value              any
		relaxed, canonical string
	}{
		{"whole double", 1.0, `1.0`, `{"$numberDouble":"1.0"}`},
		{"negative zero", math.Copysign(0, -1), `-0.0`, `{"$numberDouble":"-0.0"}`},
		{"million", 1e6, `1E+06`, `{"$numberDouble":"1E+06"}`},
		{"1e21", 1e21, `1E+21`, `{"$numberDouble":"1E+21"}`},
		{"small", 1.5e-7, `1.5E-07`, `{"$numberDouble":"1.5E-07"}`},
		{"NaN", math.NaN(), `{"$numberDouble":"NaN"}`, `{"$numberDouble":"NaN"}`},
		{"-Infinity", math.Inf(-1), `{"$numberDouble":"-Infinity"}`, `{"$numberDouble":"-Infinity"}`},
		{"int32", int32(7), `7`, `{"$numberInt":"7"}`},
		{"int64", int64(-7), `-7`, `{"$numberLong":"-7"}`},
		{"date with ms", ms(utc(2024, 1, 2, 3, 4, 5, 120)), `{"$date":"2024-01-02T03:04:05.12Z"}`, `{"$date":{"$numberLong":"1704164645120"}}`},
		{"date without ms", ms(utc(2024, 1, 2, 3, 4, 5, 0)), `{"$date":"2024-01-02T03:04:05Z"}`, `{"$date":{"$numberLong":"1704164645000"}}`},
		{"date before 1970", bson.DateTime(-1), `{"$date":{"$numberLong":"-1"}}`, `{"$date":{"$numberLong":"-1"}}`},
		{"date after 9999", bson.DateTime(253402300800000), `{"$date":{"$numberLong":"253402300800000"}}`, `{"$date":{"$numberLong":"253402300800000"}}`},
		{"string escapes", "\"\\\n\x01<>&\u2028\xff", `"\"\\\n\u0001<>&\u2028\ufffd"`, `"\"\\\n\u0001<>&\u2028\ufffd"`},
		{"regex sorted options", bson.Regex{Pattern: "a", Options: "xmi"}, `{"$regularExpression":{"pattern":"a","options":"imx"}}`, `{"$regularExpression":{"pattern":"a","options":"imx"}}`},
		{"regex invalid UTF-8 option", bson.Regex{Pattern: "a", Options: "\xffi"}, "{\"$regularExpression\":{\"pattern\":\"a\",\"options\":\"i\ufffd\"}}", "{\"$regularExpression\":{\"pattern\":\"a\",\"options\":\"i\ufffd\"}}"},
		{"dbpointer unescaped", bson.DBPointer{DB: `a"b`}, `{"$dbPointer":{"$ref":"a"b","$id":{"$oid":"000000000000000000000000"}}}`, `{"$dbPointer":{"$ref":"a"b","$id":{"$oid":"000000000000000000000000"}}}`},
		{"binary", bson.Binary{Subtype: 0x80, Data: []byte{1, 2}}, `{"$binary":{"base64":"AQI=","subType":"80"}}`, `{"$binary":{"base64":"AQI=","subType":"80"}}`},
		{"timestamp", bson.Timestamp{T: 1, I: 2}, `{"$timestamp":{"t":1,"i":2}}`, `{"$timestamp":{"t":1,"i":2}}`},
		{"decimal parsed", mustDecimal("1.050E+3"), `{"$numberDecimal":"1050"}`, `{"$numberDecimal":"1050"}`},
		{"decimal positive exponent", bson.NewDecimal128((6176+1)<<49, 1050), `{"$numberDecimal":"1.050E+4"}`, `{"$numberDecimal":"1.050E+4"}`},
		{"decimal negative zero", mustDecimal("-0.00"), `{"$numberDecimal":"-0.00"}`, `{"$numberDecimal":"-0.00"}`},
		{"code with scope", bson.CodeWithScope{Code: "f", Scope: bson.D{}}, `{"$code":"f","$scope":{}}`, `{"$code":"f","$scope":{}}`},
		{"empty array", bson.A{}, `[]`, `[]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := bson.Raw(one(c.value)).Lookup("v")
			for _, m := range modes {
				want := c.relaxed
				if m.canonical {
					want = c.canonical
				}
				got, err := AppendValue(nil, v, m.canonical)
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if string(got) != want {
					t.Errorf("%s:\n got %s\nwant %s", m.name, got, want)
				}
				checkValue(t, v, m.canonical)
			}
		})
	}
}

// TestDoubleMatchesDriver checks the double formatting on random bit
// patterns and on random values near the switch points of the 'G' format.
func TestDoubleMatchesDriver(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		var f float64
		switch i % 4 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1:
			f = float64(r.IntN(4_000_000) - 2_000_000)
		case 2:
			f = float64(r.IntN(4_000_000)-2_000_000) / 8
		default:
			f = math.Pow(10, float64(r.IntN(60)-30)) * float64(r.IntN(20))
		}
		v := bson.RawValue{Type: bson.TypeDouble, Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))}
		for _, m := range modes {
			checkValue(t, v, m.canonical)
		}
	}
}

// TestDateTimeMatchesDriver checks datetimes around every edge of the ISO
// range and at random points over the whole int64 range.
func TestDateTimeMatchesDriver(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	edges := []int64{math.MinInt64, -1, 0, 1, 999, 1000, maxISODate, maxISODate + 1, math.MaxInt64}
	for i := range 20000 {
		var v int64
		switch {
		case i < len(edges):
			v = edges[i]
		case i%3 == 0:
			v = int64(r.Uint64())
		default:
			v = r.Int64N(maxISODate + 2)
		}
		rv := bson.RawValue{Type: bson.TypeDateTime, Value: binary.LittleEndian.AppendUint64(nil, uint64(v))}
		for _, m := range modes {
			checkValue(t, rv, m.canonical)
		}
	}
}

// TestCivilDate checks the calendar conversion against the time package for
// every day the relaxed format can show.
func TestCivilDate(t *testing.T) {
	day := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for days := int64(0); day.Year() < 10000; days++ {
		y, m, d := CivilDate(days)
		if y != day.Year() || m != int(day.Month()) || d != day.Day() {
			t.Fatalf("CivilDate(%d) = %d-%d-%d, want %s", days, y, m, d, day.Format(time.DateOnly))
		}
		day = day.AddDate(0, 0, 1)
	}
}

// TestDecimal128MatchesDriver checks decimal formatting on random bit
// patterns and on random coefficients and exponents chosen so that every
// branch (plain, leading zeros, scientific) is hit often.
func TestDecimal128MatchesDriver(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		var hi, lo uint64
		switch i % 3 {
		case 0:
			hi, lo = r.Uint64(), r.Uint64()
		default:
			exp := uint64(6176 + r.IntN(60) - 40)
			digits := r.IntN(36)
			coeff := r.Uint64() % pow10(min(digits, 19))
			hi = exp<<49 | uint64(r.IntN(2))<<63
			lo = coeff
			if i%3 == 2 {
				hi |= r.Uint64() & (1<<49 - 1) >> uint(r.IntN(49))
			}
		}
		v := bson.RawValue{Type: bson.TypeDecimal128, Value: binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, lo), hi)}
		checkValue(t, v, false)
	}
}

func pow10(n int) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// TestAppendDocumentReusesDst checks the append contract: output goes after
// what dst holds, in place when dst has room.
func TestAppendDocumentReusesDst(t *testing.T) {
	doc := mustMarshal(bson.D{{Key: "a", Value: "b"}})
	dst := make([]byte, 0, 64)
	dst = append(dst, "x:"...)
	got, err := AppendDocument(dst, doc, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `x:{"a":"b"}` {
		t.Fatalf("got %q", got)
	}
	if &got[0] != &dst[:1][0] {
		t.Fatal("AppendDocument reallocated although dst had room")
	}
}

// TestZeroAllocs checks that AppendDocument allocates nothing when dst has
// room, for the benchmark document and for one with every type.
func TestZeroAllocs(t *testing.T) {
	docs := []namedDoc{{"task", taskDocument(t)}, {"all types", allTypesDocument(t)}}
	for _, d := range docs {
		for _, m := range modes {
			t.Run(d.name+"/"+m.name, func(t *testing.T) {
				dst := make([]byte, 0, 64<<10)
				allocs := testing.AllocsPerRun(100, func() {
					out, err := AppendDocument(dst[:0], d.doc, m.canonical)
					if err != nil || len(out) == 0 {
						t.Fatalf("AppendDocument: %v", err)
					}
				})
				if allocs != 0 {
					t.Fatalf("%v allocations per document, want 0", allocs)
				}
			})
		}
	}
}

// TestDeepNesting checks a document nested far beyond the inline stack, in
// documents and in arrays, against the driver.
func TestDeepNesting(t *testing.T) {
	for _, arrays := range []bool{false, true} {
		doc := nestedDoc(10000, arrays)
		for _, m := range modes {
			checkDocument(t, doc, m.canonical)
		}
	}
}

// nestedDoc builds depth containers nested in one another in O(depth): each
// level is a length, one element of type 0x03 or 0x04 with key "0", the
// next level, and a terminator; the innermost level is empty.
func nestedDoc(depth int, arrays bool) []byte {
	t := byte(bson.TypeEmbeddedDocument)
	if arrays {
		t = byte(bson.TypeArray)
	}
	size := 5 + 8*depth
	out := make([]byte, 0, size)
	for i := range depth {
		out = binary.LittleEndian.AppendUint32(out, uint32(size-8*i))
		out = append(out, t, '0', 0)
	}
	out = append(out, 5, 0, 0, 0, 0)
	for range depth {
		out = append(out, 0)
	}
	return out
}
