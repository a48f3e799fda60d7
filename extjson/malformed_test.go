package extjson

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// malformedCase is an input both the driver and this package reject.
type malformedCase struct {
	name   string
	doc    []byte
	offset int    // expected MalformedError.Offset
	path   string // expected MalformedError.Path
	reason string // a substring of MalformedError.Reason
}

// malformedCases returns the malformed inputs; they are also fuzz seeds.
func malformedCases() []malformedCase {
	valid := mustMarshal(bson.D{{Key: "a", Value: "xyz"}})
	truncate := func(b []byte, n int) []byte { return append([]byte(nil), b[:len(b)-n]...) }
	setLen := func(b []byte, n int32) []byte {
		out := append([]byte(nil), b...)
		copy(out, le32(n))
		return out
	}
	nested := func(elems ...[]byte) []byte {
		return rawDoc(rawElem(bson.TypeEmbeddedDocument, "outer", rawDoc(elems...)))
	}
	return []malformedCase{
		{"empty input", nil, 0, "", "shorter than its 4-byte length"},
		{"three bytes", []byte{5, 0, 0}, 0, "", "shorter than its 4-byte length"},
		{"length below 5", []byte{4, 0, 0, 0, 0}, 0, "", "less than the minimum of 5"},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff, 0}, 0, "", "less than the minimum of 5"},
		{"length beyond input", setLen(valid, int32(len(valid)+1)), 0, "", "exceeds the"},
		{"truncated document", truncate(valid, 1), 0, "", "exceeds the"},
		{"missing terminator", append(le32(6), 0x0a, 'a'), 5, "", "not terminated"},
		{"terminator not 0x00", []byte{5, 0, 0, 0, 1}, 4, "", "expected the terminating 0x00"},
		{"terminator before end", append(le32(7), 0, 0, 0), 4, "", "ends at offset 4 but its length says it ends at 6"},
		{"unknown type", rawDoc(rawElem(0x14, "bad")), 4, "bad", "unknown BSON type 0x14"},
		{"unknown type 0x80", rawDoc(rawElem(bson.TypeNull, "ok"), rawElem(0x80, "x")), 8, "x", "unknown BSON type 0x80"},
		{"string length zero", rawDoc(rawElem(bson.TypeString, "s", le32(0))), 7, "s", "not positive"},
		{"string length negative", rawDoc(rawElem(bson.TypeString, "s", le32(-3), []byte{0})), 7, "s", "not positive"},
		{"string too long", rawDoc(rawElem(bson.TypeString, "s", le32(50), []byte("ab\x00"))), 11, "s", "needs 50 bytes"},
		{"string without NUL", rawDoc(rawElem(bson.TypeString, "s", le32(3), []byte("abc"))), 13, "s", "does not end with 0x00"},
		{"truncated double", rawDoc(rawElem(bson.TypeDouble, "d", []byte{1, 2, 3})), 7, "d", "double needs 8 bytes"},
		{"truncated int32", rawDoc(rawElem(bson.TypeInt32, "i", []byte{1, 2})), 7, "i", "int32 needs 4 bytes"},
		{"truncated decimal", rawDoc(rawElem(bson.TypeDecimal128, "n", make([]byte, 15))), 7, "n", "decimal128 needs 16 bytes"},
		{"truncated ObjectId", rawDoc(rawElem(bson.TypeObjectID, "o", make([]byte, 11))), 7, "o", "ObjectId needs 12 bytes"},
		{"boolean 2", rawDoc(rawElem(bson.TypeBoolean, "b", []byte{2})), 7, "b", "boolean byte is 0x02"},
		{"nested boolean 0xff", nested(rawElem(bson.TypeBoolean, "b", []byte{0xff})), 18, "outer.b", "boolean byte is 0xff"},
		{"nested length below 5", rawDoc(rawElem(bson.TypeEmbeddedDocument, "d", le32(4))), 7, "d", "less than the minimum of 5"},
		{"nested document overruns parent", rawDoc(rawElem(bson.TypeEmbeddedDocument, "d", le32(6), []byte{0})), 7, "d", "document needs 6 bytes"},
		{"nested document ends early", rawDoc(rawElem(bson.TypeEmbeddedDocument, "d", le32(7), []byte{0, 0, 0})), 11, "d", "ends at offset 11 but its length says it ends at 13"},
		{"nested key unterminated", nested(append([]byte{byte(bson.TypeNull)}, "abc"...)), 16, "outer", "key is not terminated"},
		{"array element truncated", rawDoc(rawElem(bson.TypeArray, "arr", rawDoc(rawElem(bson.TypeInt64, "0", []byte{1})))), 16, "arr.0", "int64 needs 8 bytes"},
		{"deep error path", rawDoc(rawElem(bson.TypeEmbeddedDocument, "a", rawDoc(rawElem(bson.TypeArray, "b", rawDoc(rawElem(0x33, "7")))))), 18, "a.b.7", "unknown BSON type 0x33"},
		{"binary negative length", rawDoc(rawElem(bson.TypeBinary, "b", le32(-1), []byte{0})), 7, "b", "binary length -1 is negative"},
		{"binary too long", rawDoc(rawElem(bson.TypeBinary, "b", le32(9), []byte{0}, []byte("abc"))), 12, "b", "binary data needs 9 bytes"},
		{"old binary inner too long at top", rawDoc(rawElem(bson.TypeBinary, "b", le32(6), []byte{2}, le32(3), []byte("ab"))), 16, "b", "old binary data needs 3 bytes, only 2 left"},
		{"old binary inner negative", rawDoc(rawElem(bson.TypeBinary, "b", le32(6), []byte{2}, le32(-2), []byte("ab"))), 12, "b", "inner length -2 is negative"},
		{"nested old binary inner too long", nested(rawElem(bson.TypeBinary, "b", le32(6), []byte{2}, le32(9), []byte("ab"))), 27, "outer.b", "old binary data needs 9 bytes"},
		{"regex pattern unterminated", rawDoc(rawElem(bson.TypeRegex, "r", []byte("abc"))), 7, "r", "regex pattern is not terminated"},
		{"regex options unterminated", rawDoc(rawElem(bson.TypeRegex, "r", []byte("abc\x00im"))), 11, "r", "regex options are not terminated"},
		{"dbpointer truncated ObjectId", rawDoc(rawElem(bson.TypeDBPointer, "p", rawStr("ns"), make([]byte, 5))), 14, "p", "DBPointer ObjectId needs 12 bytes"},
		{"javascript without NUL", rawDoc(rawElem(bson.TypeJavaScript, "j", le32(1), []byte("x"))), 11, "j", "JavaScript code does not end with 0x00"},
		{"symbol length zero", rawDoc(rawElem(bson.TypeSymbol, "y", le32(0))), 7, "y", "symbol length 0 is not positive"},
		{"code with scope total mismatch", rawDoc(rawElem(bson.TypeCodeWithScope, "c", le32(99), rawStr("x"), rawDoc())), 7, "c", "does not match its parts"},
		{"code with scope code length zero", rawDoc(rawElem(bson.TypeCodeWithScope, "c", le32(13), le32(0), rawDoc())), 11, "c", "code length 0 is not positive"},
		{"code with scope scope overrun", rawDoc(rawElem(bson.TypeCodeWithScope, "c", le32(4+6+20), rawStr("x"), le32(20), []byte{0})), 17, "c", "scope document needs 20 bytes"},
		{"code with scope bad scope element", rawDoc(rawElem(bson.TypeCodeWithScope, "c", le32(4+6+9), rawStr("x"), rawDoc(rawElem(bson.TypeBoolean, "v", []byte{7})))), 24, "c.v", "boolean byte is 0x07"},
	}
}

// TestMalformed checks that malformed input gives a *MalformedError wrapping
// ErrMalformed with the expected offset, path and reason, that dst comes back
// unchanged, and that the driver rejects the input too.
func TestMalformed(t *testing.T) {
	for _, c := range malformedCases() {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range modes {
				dst := []byte("keep")
				out, err := AppendDocument(dst, c.doc, m.canonical)
				if err == nil {
					t.Fatalf("%s: no error, output %q", m.name, out)
				}
				checkMalformed(t, err, out, dst)
				var me *MalformedError
				asMalformed(err, &me)
				if me.Offset != c.offset || me.Path != c.path || !strings.Contains(me.Reason, c.reason) {
					t.Errorf("%s: got offset %d path %q reason %q\nwant offset %d path %q reason containing %q",
						m.name, me.Offset, me.Path, me.Reason, c.offset, c.path, c.reason)
				}
				if _, derr := driverDocument(c.doc, m.canonical); derr == nil {
					t.Errorf("%s: the driver accepts this input", m.name)
				}
			}
		})
	}
}

// TestMalformedValue covers AppendValue's own error cases.
func TestMalformedValue(t *testing.T) {
	cases := []struct {
		name   string
		value  bson.RawValue
		offset int
		path   string
		reason string
	}{
		{"zero type", bson.RawValue{}, 0, "", "unknown BSON type 0x00"},
		{"unknown type", bson.RawValue{Type: 0x20, Value: []byte{1}}, 0, "", "unknown BSON type 0x20"},
		{"truncated int64", bson.RawValue{Type: bson.TypeInt64, Value: []byte{1, 2}}, 0, "", "int64 needs 8 bytes"},
		{"document without bytes", bson.RawValue{Type: bson.TypeEmbeddedDocument}, 0, "", "document length needs 4 bytes"},
		{"bad element in document", bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: rawDoc(rawElem(bson.TypeBoolean, "b", []byte{3}))}, 7, "b", "boolean byte is 0x03"},
		{"bad array element", bson.RawValue{Type: bson.TypeArray, Value: rawDoc(rawElem(bson.TypeString, "0", le32(-1)))}, 7, "0", "not positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, m := range modes {
				dst := []byte("keep")
				out, err := AppendValue(dst, c.value, m.canonical)
				if err == nil {
					t.Fatalf("%s: no error, output %q", m.name, out)
				}
				checkMalformed(t, err, out, dst)
				var me *MalformedError
				asMalformed(err, &me)
				if me.Offset != c.offset || me.Path != c.path || !strings.Contains(me.Reason, c.reason) {
					t.Errorf("%s: got offset %d path %q reason %q\nwant offset %d path %q reason containing %q",
						m.name, me.Offset, me.Path, me.Reason, c.offset, c.path, c.reason)
				}
				if _, derr := driverValue(c.value, m.canonical); derr == nil {
					t.Errorf("%s: the driver accepts this value", m.name)
				}
			}
		})
	}
}

// TestMalformedErrorText checks the message a log line would carry.
func TestMalformedErrorText(t *testing.T) {
	_, err := AppendDocument(nil, rawDoc(rawElem(bson.TypeBoolean, "flag", []byte{9})), false)
	const want = `extjson: malformed BSON at offset 10 (key "flag"): boolean byte is 0x09, not 0x00 or 0x01`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestCorruptions truncates the all-types document at every length and
// changes every byte of it, and of every table document under 1 KiB, in three
// ways (each change costs a full parse, so the deep-nesting cases would be
// slow). Each result must fail or succeed exactly as the driver does, with
// identical output on success, and without panicking.
func TestCorruptions(t *testing.T) {
	doc := allTypesDocument(t)
	for n := range len(doc) {
		cut := doc[:n]
		if n >= 4 {
			cut = append(le32(int32(n)), doc[4:n]...)
		}
		for _, m := range modes {
			checkDocument(t, cut, m.canonical)
		}
	}
	docs := append(typeCases(), quirkCases()...)
	docs = append(docs, namedDoc{"all types", doc})
	for _, d := range docs {
		if len(d.doc) > 1024 {
			continue
		}
		for i := range d.doc {
			for _, delta := range []byte{1, 0xff, 0x80} {
				bad := append([]byte(nil), d.doc...)
				bad[i] += delta
				for _, m := range modes {
					checkDocument(t, bad, m.canonical)
				}
			}
		}
	}
}
