package extjson

import (
	"encoding/binary"
	"unicode/utf8"
)

// The driver escapes strings (values, keys, code, symbols, regex parts) with
// escapeHTML=false, so:
//
//   - '"' and '\\' become \" and \\;
//   - \n, \r, \t, \b and \f use their short forms; every other byte below 0x20
//     becomes \u00XX with lower-case hex;
//   - 0x7f and all other printable ASCII (including < > &) pass through;
//   - every byte of an invalid UTF-8 sequence becomes the six characters
//     \ufffd (one per byte, as utf8.DecodeRune reports them);
//   - U+2028 and U+2029 become \u2028 and \u2029;
//   - every other valid multi-byte rune passes through unchanged.

const hexDigits = "0123456789abcdef"

// plain[c] is true for bytes that are copied as they are: 0x20..0x7f except
// '"' and '\\'. Bytes >= 0x80 are not plain; they need a UTF-8 check.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// shortEscape[c] is the letter of the two-character escape for c, or 0.
var shortEscape = [256]byte{'"': '"', '\\': '\\', '\n': 'n', '\r': 'r', '\t': 't', '\b': 'b', '\f': 'f'}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special8 reports whether any of the eight little-endian bytes in x is not
// plain: a byte >= 0x80, < 0x20, '"' or '\\'. It may not say which; the
// byte loop does that.
func special8(x uint64) bool {
	lt := (x - 0x20*lsb) &^ x // high bit set in bytes < 0x20 (exact for "any")
	q := x ^ ('"' * lsb)      // zero byte where x has '"'
	bs := x ^ ('\\' * lsb)    // zero byte where x has '\\'
	hq := (q - lsb) &^ q      // high bit set in zero bytes of q
	hb := (bs - lsb) &^ bs    // high bit set in zero bytes of bs
	return (x|lt|hq|hb)&msb != 0
}

// appendString appends s as a quoted, escaped JSON string, exactly as the
// driver's writeStringWithEscapes does with escapeHTML=false.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start, i := 0, 0
	for {
		// Skip plain bytes eight at a time, then one at a time.
		for i+8 <= len(s) && !special8(binary.LittleEndian.Uint64(s[i:])) {
			i += 8
		}
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			if e := shortEscape[c]; e != 0 {
				dst = append(dst, '\\', e)
			} else {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
		default:
			i += size
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
