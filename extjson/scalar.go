package extjson

import (
	"encoding/base64"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendDouble writes a BSON double the way the driver's formatDouble and
// WriteDouble do: strconv's shortest 'G' form with ".0" added when that form
// has neither '.' nor 'E' (so 1 -> "1.0", 1e6 -> "1E+06", -0 -> "-0.0").
// Relaxed mode writes the bare number, except NaN and ±Infinity, which are
// wrapped in $numberDouble; canonical mode always wraps.
func appendDouble(dst []byte, f float64, canonical bool) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `{"$numberDouble":"NaN"}`...)
	case math.IsInf(f, 1):
		return append(dst, `{"$numberDouble":"Infinity"}`...)
	case math.IsInf(f, -1):
		return append(dst, `{"$numberDouble":"-Infinity"}`...)
	}
	if canonical {
		dst = append(dst, `{"$numberDouble":"`...)
	}
	// Whole numbers below 1e6 in magnitude print in 'G' form as plain
	// integers; -0 is excluded because it must keep its sign.
	if f > -1e6 && f < 1e6 && f == math.Trunc(f) && (f != 0 || !math.Signbit(f)) {
		dst = strconv.AppendInt(dst, int64(f), 10)
		dst = append(dst, '.', '0')
	} else {
		start := len(dst)
		dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
		whole := true
		for _, c := range dst[start:] {
			if c == '.' || c == 'E' {
				whole = false
				break
			}
		}
		if whole {
			dst = append(dst, '.', '0')
		}
	}
	if canonical {
		dst = append(dst, '"', '}')
	}
	return dst
}

// appendInt writes an int32 or int64: a bare number in relaxed mode, the
// number as a string under wrapper ("$numberInt" or "$numberLong") in
// canonical mode.
func appendInt(dst []byte, v int64, canonical bool, wrapper string) []byte {
	if !canonical {
		return strconv.AppendInt(dst, v, 10)
	}
	dst = append(dst, `{"`...)
	dst = append(dst, wrapper...)
	dst = append(dst, `":"`...)
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"', '}')
}

// maxISODate is 9999-12-31T23:59:59.999Z in milliseconds since the epoch:
// the last instant the driver writes as an ISO-8601 string in relaxed mode.
const maxISODate = 253402300799999

// appendDateTime writes a BSON datetime. Relaxed mode uses
// {"$date":"YYYY-MM-DDTHH:MM:SS[.fff]Z"} for years 1970 through 9999, the
// driver's time layout "2006-01-02T15:04:05.999Z07:00" in UTC, which drops
// trailing zeros of the milliseconds and the dot when they are all zero.
// Every other instant, and every instant in canonical mode, is written as
// {"$date":{"$numberLong":"<ms>"}}.
func appendDateTime(dst []byte, ms int64, canonical bool) []byte {
	if canonical || ms < 0 || ms > maxISODate {
		dst = append(dst, `{"$date":{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, ms, 10)
		return append(dst, `"}}`...)
	}
	days := ms / 86400000
	msOfDay := int(ms % 86400000)
	year, month, day := CivilDate(days)
	sec := msOfDay / 1000
	milli := msOfDay % 1000

	dst = append(dst, `{"$date":"`...)
	dst = append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+sec/36000), byte('0'+sec/3600%10), ':',
		byte('0'+sec/600%6), byte('0'+sec/60%10), ':',
		byte('0'+sec%60/10), byte('0'+sec%10))
	if milli != 0 {
		dst = append(dst, '.', byte('0'+milli/100))
		if milli%100 != 0 {
			dst = append(dst, byte('0'+milli/10%10))
			if milli%10 != 0 {
				dst = append(dst, byte('0'+milli%10))
			}
		}
	}
	return append(dst, `Z"}`...)
}

// CivilDate converts a count of days since 1970-01-01 to a proleptic
// Gregorian year, month and day, for any day from 0000-03-01 on (days ≥
// -719468). It counts in 400-year eras that start on March 1st, so that the
// leap day is the last day of each counted year.
func CivilDate(days int64) (year, month, day int) {
	const (
		daysTo0000Mar1 = 719468 // days from 0000-03-01 to 1970-01-01
		daysPerEra     = 146097 // days in 400 Gregorian years
	)
	z := days + daysTo0000Mar1
	era := z / daysPerEra
	doe := int(z - era*daysPerEra)                         // day of era, 0..146096
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, 0..399
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of year from March 1st, 0..365
	mp := (5*doy + 2) / 153                                // month from March, 0..11
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = int(era)*400 + yoe
	if month <= 2 {
		year++
	}
	return year, month, day
}

// appendBinary writes {"$binary":{"base64":"...","subType":"xx"}}, the same
// in both modes.
func appendBinary(dst, data []byte, subtype byte) []byte {
	dst = append(dst, `{"$binary":{"base64":"`...)
	dst = base64.StdEncoding.AppendEncode(dst, data)
	dst = append(dst, `","subType":"`...)
	dst = append(dst, hexDigits[subtype>>4], hexDigits[subtype&0xf])
	return append(dst, `"}}`...)
}

// appendObjectID writes the 12 bytes of oid as {"$oid":"<24 hex digits>"}.
func appendObjectID(dst, oid []byte) []byte {
	dst = append(dst, `{"$oid":"`...)
	for _, b := range oid[:12] {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return append(dst, '"', '}')
}

// appendRegex writes {"$regularExpression":{"pattern":...,"options":...}}.
// The driver sorts the options by code point after converting them to runes,
// so invalid UTF-8 in the options turns into real U+FFFD characters (written
// as UTF-8, not as \ufffd) that sort after everything else.
func appendRegex(dst, pattern, options []byte) []byte {
	dst = append(dst, `{"$regularExpression":{"pattern":`...)
	dst = appendString(dst, pattern)
	dst = append(dst, `,"options":`...)
	dst = appendString(dst, sortOptions(options))
	return append(dst, '}', '}')
}

// sortOptions returns the regex options sorted by code point. Options are
// almost always a few distinct ASCII letters already in order; that case
// returns opts itself. Other ASCII-only options are counting-sorted into a
// small stack buffer when they fit; anything else is sorted on the heap.
func sortOptions(opts []byte) []byte {
	ascii, sorted := true, true
	for i, c := range opts {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if i > 0 && c < opts[i-1] {
			sorted = false
		}
	}
	if ascii {
		if sorted {
			return opts
		}
		var counts [utf8.RuneSelf]int
		for _, c := range opts {
			counts[c]++
		}
		out := make([]byte, 0, len(opts))
		for c, n := range counts {
			for range n {
				out = append(out, byte(c))
			}
		}
		return out
	}
	runes := []rune(string(opts))
	slices.Sort(runes)
	return []byte(string(runes))
}

// appendTimestamp writes {"$timestamp":{"t":T,"i":I}}; T is the high and I
// the low 32 bits of the little-endian uint64.
func appendTimestamp(dst []byte, v uint64) []byte {
	dst = append(dst, `{"$timestamp":{"t":`...)
	dst = strconv.AppendUint(dst, v>>32, 10)
	dst = append(dst, `,"i":`...)
	dst = strconv.AppendUint(dst, v&0xffffffff, 10)
	return append(dst, '}', '}')
}

// appendDecimal128 writes {"$numberDecimal":"..."} in both modes, with the
// string the driver's Decimal128.String produces:
//
//   - any NaN (the five combination bits 11111) is "NaN", whatever its sign;
//     11110 is "Infinity" or "-Infinity";
//   - if the two bits after the sign are 11, the coefficient is taken as 0
//     and the exponent is read from the next 14 bits; otherwise the exponent
//     is the 14 bits after the sign and the coefficient the low 113 bits,
//     even when that exceeds the 34-digit maximum (the driver does not clamp);
//   - with C the coefficient's decimal digits (n of them, "0" for zero), E
//     the exponent and A = E+n-1: if E > 0 or A < -6 the form is scientific,
//     d[.ddd]E±A, keeping trailing zeros; otherwise plain, with a decimal
//     point -E digits from the right and "0." plus zeros when needed;
//   - a negative sign is written for every non-NaN value with the sign bit,
//     zero included ("-0", "-0.00").
func appendDecimal128(dst []byte, lo, hi uint64) []byte {
	dst = append(dst, `{"$numberDecimal":"`...)
	neg := hi>>63 != 0
	switch hi >> 58 & 0x1f {
	case 0x1f:
		return append(dst, `NaN"}`...)
	case 0x1e:
		if neg {
			dst = append(dst, '-')
		}
		return append(dst, `Infinity"}`...)
	}
	var exp int
	var ch, cl uint64
	if hi>>61&3 == 3 {
		exp = int(hi >> 47 & 0x3fff)
	} else {
		exp = int(hi >> 49 & 0x3fff)
		ch, cl = hi&(1<<49-1), lo
	}
	exp -= 6176
	if neg {
		dst = append(dst, '-')
	}

	var buf [40]byte
	digits := coefficientDigits(buf[:0], ch, cl)
	n := len(digits)
	adjusted := exp + n - 1
	switch {
	case exp == 0:
		dst = append(dst, digits...)
	case exp > 0 || adjusted < -6:
		dst = append(dst, digits[0])
		if n > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'E')
		if adjusted > 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(adjusted), 10)
	case n > -exp:
		dst = append(dst, digits[:n+exp]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n+exp:]...)
	default:
		dst = append(dst, '0', '.')
		for range -exp - n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	}
	return append(dst, '"', '}')
}

// coefficientDigits appends the decimal digits of the 128-bit number hi:lo,
// where hi < 2^49, without leading zeros ("0" for zero).
func coefficientDigits(dst []byte, hi, lo uint64) []byte {
	if hi == 0 {
		return strconv.AppendUint(dst, lo, 10)
	}
	const e19 = 10_000_000_000_000_000_000
	q, r := bits.Div64(hi, lo, e19) // hi < e19, so the quotient fits
	dst = strconv.AppendUint(dst, q, 10)
	var low [19]byte
	for i := len(low) - 1; i >= 0; i-- {
		low[i] = byte('0' + r%10)
		r /= 10
	}
	return append(dst, low[:]...)
}
