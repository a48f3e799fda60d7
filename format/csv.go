package format

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/extjson"
)

// appendRow appends one RFC 4180 row: a cell per column, CRLF at the end.
func (e *Encoder) appendRow(dst []byte, doc bson.Raw) ([]byte, error) {
	for i, path := range e.columns {
		if i > 0 {
			dst = append(dst, ',')
		}
		v, err := doc.LookupErr(path...)
		if err != nil {
			continue // missing, or a path through a non-document: an empty cell
		}
		dst, err = e.appendValue(dst, v)
		if err != nil {
			return dst, err
		}
	}
	return append(dst, '\r', '\n'), nil
}

// appendValue appends one cell: dates as ISO-8601 UTC with milliseconds,
// ObjectIds as hex, null as empty, numbers as numbers, strings quoted where
// RFC 4180 needs it, anything else as relaxed Extended JSON.
func (e *Encoder) appendValue(dst []byte, v bson.RawValue) ([]byte, error) {
	switch v.Type {
	case bson.TypeString, bson.TypeSymbol:
		s, ok := rawString(v.Value)
		if !ok {
			return dst, fmt.Errorf("%w: bad string", extjson.ErrMalformed)
		}
		return appendCell(dst, s, e.guard), nil
	case bson.TypeNull, bson.TypeUndefined:
		return dst, nil
	case bson.TypeObjectID:
		oid := v.ObjectID()
		return appendHex(dst, oid[:]), nil
	case bson.TypeDateTime:
		return appendDate(dst, v.DateTime()), nil
	case bson.TypeInt32:
		return strconv.AppendInt(dst, int64(v.Int32()), 10), nil
	case bson.TypeInt64:
		return strconv.AppendInt(dst, v.Int64(), 10), nil
	case bson.TypeDouble:
		return appendNumber(dst, v.Double()), nil
	case bson.TypeBoolean:
		return strconv.AppendBool(dst, v.Boolean()), nil
	case bson.TypeDecimal128:
		return append(dst, v.Decimal128().String()...), nil
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
	// Quote in place: the text moves right by one, then each quote doubles.
	text := append([]byte(nil), out[start:]...)
	return appendCell(out[:start], text, false), nil
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
	t := time.UnixMilli(ms).UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		// ISO-8601's expanded years, as JavaScript's toISOString writes them.
		dst = fmt.Appendf(dst, "%+07d", y)
		return t.AppendFormat(dst, "-01-02T15:04:05.000Z07:00")
	}
	return t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
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
