package extjson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// modes are the two Extended JSON modes, named for subtests.
var modes = []struct {
	name      string
	canonical bool
}{
	{"relaxed", false},
	{"canonical", true},
}

// driverDocument is the reference: the driver's MarshalExtJSON of doc. A
// panic in the driver counts as a failure.
func driverDocument(doc []byte, canonical bool) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("driver panicked: %v", r)
		}
	}()
	return bson.MarshalExtJSON(bson.Raw(doc), canonical, false)
}

// driverValue is the reference for AppendValue: the driver's text for v as
// the only field of a document, without the surrounding {"k": and }.
func driverValue(v bson.RawValue, canonical bool) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("driver panicked: %v", r)
		}
	}()
	out, err = bson.MarshalExtJSON(bson.D{{Key: "k", Value: v}}, canonical, false)
	if err != nil {
		return nil, err
	}
	const prefix = `{"k":`
	if !bytes.HasPrefix(out, []byte(prefix)) || out[len(out)-1] != '}' {
		return nil, fmt.Errorf("unexpected driver output %q", out)
	}
	return out[len(prefix) : len(out)-1], nil
}

// checkDocument asserts the property the package guarantees: AppendDocument
// fails exactly when the driver fails, and otherwise appends exactly the
// driver's bytes (after a prefix already in dst, which must survive).
func checkDocument(tb testing.TB, doc []byte, canonical bool) {
	tb.Helper()
	want, wantErr := driverDocument(doc, canonical)
	prefix := []byte("prefix,")
	got, err := AppendDocument(prefix, doc, canonical)
	switch {
	case wantErr != nil && err == nil:
		tb.Fatalf("canonical=%v: driver fails (%v) but AppendDocument gives %q\ndoc: %x", canonical, wantErr, got, doc)
	case wantErr == nil && err != nil:
		tb.Fatalf("canonical=%v: AppendDocument fails (%v) but driver gives %q\ndoc: %x", canonical, err, want, doc)
	case err != nil:
		checkMalformed(tb, err, got, prefix)
	case !bytes.Equal(got[:len(prefix)], prefix):
		tb.Fatalf("canonical=%v: prefix overwritten: %q", canonical, got)
	case !bytes.Equal(got[len(prefix):], want):
		tb.Fatalf("canonical=%v: output differs from the driver\n got: %s\nwant: %s\ndoc: %x", canonical, got[len(prefix):], want, doc)
	}
}

// checkValue is checkDocument for AppendValue.
func checkValue(tb testing.TB, v bson.RawValue, canonical bool) {
	tb.Helper()
	want, wantErr := driverValue(v, canonical)
	prefix := []byte("[")
	got, err := AppendValue(prefix, v, canonical)
	switch {
	case wantErr != nil && err == nil:
		tb.Fatalf("canonical=%v: driver fails (%v) but AppendValue gives %q\nvalue: %v %x", canonical, wantErr, got, v.Type, v.Value)
	case wantErr == nil && err != nil:
		tb.Fatalf("canonical=%v: AppendValue fails (%v) but driver gives %q\nvalue: %v %x", canonical, err, want, v.Type, v.Value)
	case err != nil:
		checkMalformed(tb, err, got, prefix)
	case !bytes.Equal(got[len(prefix):], want):
		tb.Fatalf("canonical=%v: output differs from the driver\n got: %s\nwant: %s\nvalue: %v %x", canonical, got[len(prefix):], want, v.Type, v.Value)
	}
}

// checkMalformed asserts what every error must look like: a *MalformedError
// wrapping ErrMalformed, with dst given back at its original length.
func checkMalformed(tb testing.TB, err error, got, dst []byte) {
	tb.Helper()
	var me *MalformedError
	if !asMalformed(err, &me) {
		tb.Fatalf("error %v (%T) is not a *MalformedError wrapping ErrMalformed", err, err)
	}
	if !bytes.Equal(got, dst) {
		tb.Fatalf("on error dst must come back unchanged, got %q", got)
	}
}

// asMalformed reports whether err is a *MalformedError (stored in target)
// that wraps ErrMalformed.
func asMalformed(err error, target **MalformedError) bool {
	return errors.As(err, target) && errors.Is(err, ErrMalformed)
}

// checkElements runs checkValue on every element of doc, both modes.
func checkElements(tb testing.TB, doc bson.Raw) {
	tb.Helper()
	elems, err := doc.Elements()
	if err != nil {
		tb.Fatalf("Elements: %v", err)
	}
	for _, el := range elems {
		for _, m := range modes {
			checkValue(tb, el.Value(), m.canonical)
		}
	}
}

// marshal is bson.Marshal that fails the test on error.
func marshal(tb testing.TB, v any) bson.Raw {
	tb.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		tb.Fatalf("bson.Marshal: %v", err)
	}
	return b
}

// Hand-built BSON, for inputs bson.Marshal cannot produce.

// rawDoc frames elements into a document: length, elements, terminator.
func rawDoc(elems ...[]byte) []byte {
	body := bytes.Join(elems, nil)
	out := binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)+1))
	out = append(out, body...)
	return append(out, 0)
}

// rawElem is a type byte, a key and the value bytes.
func rawElem(t bson.Type, key string, value ...[]byte) []byte {
	out := append([]byte{byte(t)}, key...)
	out = append(out, 0)
	return append(out, bytes.Join(value, nil)...)
}

// le32 is a little-endian int32.
func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// rawStr is a BSON string value: length including the NUL, bytes, NUL.
func rawStr(s string) []byte { return append(append(le32(int32(len(s)+1)), s...), 0) }
