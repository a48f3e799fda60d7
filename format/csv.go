package format

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/exportd/exportd/extjson"
)

// maxStackColumns is how many columns a row finds on the stack; wider rows
// allocate their lookup table.
const maxStackColumns = 32

// appendRow appends one RFC 4180 row: a cell per column, CRLF at the end.
// One pass over the document's top-level fields finds every column's value
// (a dotted path then looks inside its sub-document), instead of one scan
// of the document per column.
func (e *Encoder) appendRow(dst []byte, doc bson.Raw) ([]byte, error) {
	var stack [maxStackColumns]bson.RawValue
	vals := stack[:0]
	if len(e.columns) > maxStackColumns {
		vals = make([]bson.RawValue, 0, len(e.columns))
	}
	vals = vals[:len(e.columns)]
	if err := e.lookup(doc, vals); err != nil {
		return dst, err
	}
	for i, v := range vals {
		if i > 0 {
			dst = append(dst, ',')
		}
		if v.Type == 0 {
			continue // missing, or a path through a non-document: an empty cell
		}
		var err error
		if dst, err = e.appendValue(dst, v); err != nil {
			return dst, err
		}
	}
	return append(dst, '\r', '\n'), nil
}

// lookup fills vals[i] with the value of column i; a zero Type where it is
// missing. The first of duplicate keys wins, as with bson.Raw.Lookup. It
// stops as soon as every column's first segment has been seen.
func (e *Encoder) lookup(doc bson.Raw, vals []bson.RawValue) error {
	if len(doc) < 5 {
		return fmt.Errorf("%w: document of %d bytes", extjson.ErrMalformed, len(doc))
	}
	var stack [maxStackColumns]bool
	seen := stack[:0]
	if len(e.tops) > maxStackColumns {
		seen = make([]bool, 0, len(e.tops))
	}
	seen = seen[:len(e.tops)] // the tops already met
	left := len(e.tops)
	rest := bsoncore.Document(doc)[4 : len(doc)-1]
	for len(rest) > 0 && left > 0 {
		el, next, ok := bsoncore.ReadElement(rest)
		if !ok {
			return fmt.Errorf("%w: truncated element at offset %d", extjson.ErrMalformed, len(doc)-1-len(rest))
		}
		rest = next
		key := el.KeyBytes()
		for k, top := range e.tops {
			if top != string(key) || seen[k] {
				continue
			}
			seen[k] = true
			left--
			v := el.Value()
			for _, i := range e.byTop[k] {
				path := e.columns[i]
				if len(path) == 1 {
					vals[i] = bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}
					continue
				}
				if sub, ok := v.DocumentOK(); ok {
					if found, err := bson.Raw(sub).LookupErr(path[1:]...); err == nil {
						vals[i] = found
					}
				}
			}
			break
		}
	}
	return nil
}

// appendValue appends one cell: dates as ISO-8601 UTC with milliseconds,
// ObjectIds as hex, null as empty, numbers as numbers, strings quoted where
// RFC 4180 needs it, arrays joined when the plan says so, anything else as
// relaxed Extended JSON.
func (e *Encoder) appendValue(dst []byte, v bson.RawValue) ([]byte, error) {
	switch v.Type {
	case bson.TypeString, bson.TypeSymbol:
		s, ok := rawString(v.Value)
		if !ok {
			return dst, fmt.Errorf("%w: bad string", extjson.ErrMalformed)
		}
		return appendCell(dst, s, e.guard), nil
	case bson.TypeArray:
		if e.sep != "" {
			return e.appendJoined(dst, v.Value)
		}
	}
	if out, ok := appendScalar(dst, v); ok {
		return out, nil
	}
	// Documents, arrays and the rarer types: their relaxed Extended JSON,
	// quoted as a cell.
	start := len(dst)
	out, err := extjson.AppendValue(dst, v, false)
	if err != nil {
		return dst, err
	}
	if !needsQuote(out[start:]) {
		return out, nil
	}
	return quoteInPlace(out, start), nil
}

// appendScalar appends the text of a value whose text never needs quoting:
// null, ObjectId, date, number or boolean. It reports false, appending
// nothing, for any other type.
func appendScalar(dst []byte, v bson.RawValue) ([]byte, bool) {
	switch v.Type {
	case bson.TypeNull, bson.TypeUndefined:
		return dst, true
	case bson.TypeObjectID:
		oid := v.ObjectID()
		return appendHex(dst, oid[:]), true
	case bson.TypeDateTime:
		return appendDate(dst, v.DateTime()), true
	case bson.TypeInt32:
		return strconv.AppendInt(dst, int64(v.Int32()), 10), true
	case bson.TypeInt64:
		return strconv.AppendInt(dst, v.Int64(), 10), true
	case bson.TypeDouble:
		return appendNumber(dst, v.Double()), true
	case bson.TypeBoolean:
		return strconv.AppendBool(dst, v.Boolean()), true
	case bson.TypeDecimal128:
		return append(dst, v.Decimal128().String()...), true
	}
	return dst, false
}

// appendJoined appends a BSON array as one cell: each item's text, e.sep
// between items. An item's text is what its own cell would hold, unquoted:
// a string as it is, null as nothing, dates, ObjectIds and numbers as
// always; a document, an array inside the array and the rarer types as
// relaxed Extended JSON. The joined text is then one cell: quoted where
// RFC 4180 needs it and guarded, as a string is, when it starts like a
// formula. An empty array is an empty cell.
func (e *Encoder) appendJoined(dst []byte, arr []byte) ([]byte, error) {
	if len(arr) < 5 {
		return dst, fmt.Errorf("%w: array of %d bytes", extjson.ErrMalformed, len(arr))
	}
	bp := scratch.Get().(*[]byte)
	defer scratch.Put(bp)
	text := (*bp)[:0]
	rest := bsoncore.Array(arr)[4 : len(arr)-1]
	for first := true; len(rest) > 0; first = false {
		el, next, ok := bsoncore.ReadElement(rest)
		if !ok {
			return dst, fmt.Errorf("%w: truncated array item at offset %d", extjson.ErrMalformed, len(arr)-1-len(rest))
		}
		rest = next
		if !first {
			text = append(text, e.sep...)
		}
		var err error
		if text, err = appendItem(text, bson.RawValue{Type: bson.Type(el.Value().Type), Value: el.Value().Data}); err != nil {
			return dst, err
		}
	}
	*bp = text // the pool keeps the grown buffer
	return appendCell(dst, text, e.guard), nil
}

// appendItem appends the unquoted text of one item of a joined array.
func appendItem(dst []byte, v bson.RawValue) ([]byte, error) {
	switch v.Type {
	case bson.TypeString, bson.TypeSymbol:
		s, ok := rawString(v.Value)
		if !ok {
			return dst, fmt.Errorf("%w: bad string", extjson.ErrMalformed)
		}
		return append(dst, s...), nil
	}
	if out, ok := appendScalar(dst, v); ok {
		return out, nil
	}
	return extjson.AppendValue(dst, v, false)
}

// quoteInPlace makes out[start:] one quoted cell, doubling its quotes, by
// moving the text right from its end: no copy of it is made.
func quoteInPlace(out []byte, start int) []byte {
	end := len(out)
	quotes := 0
	for _, c := range out[start:] {
		if c == '"' {
			quotes++
		}
	}
	out = append(out, make([]byte, quotes+2)...)
	w := len(out) - 1
	out[w] = '"'
	for r := end - 1; r >= start; r-- {
		w--
		out[w] = out[r]
		if out[r] == '"' {
			w--
			out[w] = '"'
		}
	}
	out[start] = '"'
	return out
}

// rawString is the bytes of a BSON string value (int32 length, bytes, NUL),
// without copying.
func rawString(v []byte) ([]byte, bool) {
	if len(v) < 5 {
		return nil, false
	}
	n := int(int32(binary.LittleEndian.Uint32(v)))
	if n < 1 || n > len(v)-4 || v[4+n-1] != 0 {
		return nil, false
	}
	return v[4 : 4+n-1], true
}

const hexDigits = "0123456789abcdef"

func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

func appendDate(dst []byte, ms int64) []byte {
	const msPerDay = 86_400_000
	days, rem := ms/msPerDay, ms%msPerDay
	if rem < 0 {
		days, rem = days-1, rem+msPerDay
	}
	year, month, day := extjson.CivilDate(days)
	if days < 0 || year > 9999 {
		// Before 1970 (rare: the slow, general path) or ISO-8601's
		// expanded years, as JavaScript's toISOString writes them.
		t := time.UnixMilli(ms).UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			dst = fmt.Appendf(dst, "%+07d", y)
			return t.AppendFormat(dst, "-01-02T15:04:05.000Z07:00")
		}
		return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	}
	dst = appendDigits(dst, year, 4)
	dst = append(dst, '-')
	dst = appendDigits(dst, month, 2)
	dst = append(dst, '-')
	dst = appendDigits(dst, day, 2)
	dst = append(dst, 'T')
	dst = appendDigits(dst, int(rem/3_600_000), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, int(rem/60_000%60), 2)
	dst = append(dst, ':')
	dst = appendDigits(dst, int(rem/1000%60), 2)
	dst = append(dst, '.')
	dst = appendDigits(dst, int(rem%1000), 3)
	return append(dst, 'Z')
}

// appendDigits writes n, which is non-negative, in exactly width digits.
func appendDigits(dst []byte, n, width int) []byte {
	var b [4]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, b[:width]...)
}

// appendNumber writes a double as a spreadsheet reads it: no exponent for
// ordinary magnitudes, no trailing ".0".
func appendNumber(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

func needsQuote(b []byte) bool {
	for _, c := range b {
		if c == ',' || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// formulaStart reports whether a spreadsheet would run a cell starting with c.
func formulaStart(c byte) bool {
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'
}

// appendCell appends s as one RFC 4180 cell, quoted when it holds a comma,
// a quote or a line break, and with a leading ' when guard is set and a
// spreadsheet would read it as a formula.
func appendCell[T string | []byte](dst []byte, s T, guard bool) []byte {
	guarded := guard && len(s) > 0 && formulaStart(s[0])
	quote := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		if guarded {
			dst = append(dst, '\'')
		}
		return append(dst, s...)
	}
	dst = append(dst, '"')
	if guarded {
		dst = append(dst, '\'')
	}
	for {
		i := indexQuote(s)
		if i < 0 {
			break
		}
		dst = append(dst, s[:i+1]...)
		dst = append(dst, '"')
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

func indexQuote[T string | []byte](s T) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return i
		}
	}
	return -1
}
