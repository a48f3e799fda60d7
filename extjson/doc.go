// Package extjson writes MongoDB Extended JSON straight from raw BSON bytes.
//
// It is the encoder of the export hot path: AppendDocument turns a bson.Raw
// into Extended JSON in one front-to-back pass, without decoding into maps
// or structs and without allocating when the destination buffer has room.
//
// # Guarantee
//
// For every input, AppendDocument(dst, doc, canonical) fails exactly when
// bson.MarshalExtJSON(doc, canonical, false) of go.mongodb.org/mongo-driver/v2
// v2.10.0 fails, and otherwise appends exactly the bytes the driver returns,
// in relaxed (canonical=false) and canonical (canonical=true) mode. The
// tests check this against the driver for every BSON type and edge case, on
// golden files, and with two fuzz targets; a driver upgrade must re-run them.
//
// The driver's output has these features, all reproduced:
//
//   - No whitespace, keys in document order, duplicate keys kept as they are,
//     no trailing newline.
//   - Strings, keys, code, symbols and regex parts are escaped with
//     escapeHTML=false: \" \\ \n \r \t \b \f, \u00XX for other control
//     bytes, \u2028 and \u2029; < > & and 0x7f are left as they are. Each
//     byte of invalid UTF-8 becomes \ufffd, so the output is valid UTF-8
//     (except in a DBPointer namespace, below).
//   - Doubles use strconv's shortest 'G' form, with ".0" added to whole
//     numbers: 1.0, -0.0, 123456.0, 1E+06, 1.5E-07, 1E+21. Relaxed mode
//     wraps only NaN, Infinity and -Infinity in $numberDouble.
//   - Relaxed datetimes are {"$date":"2024-01-02T03:04:05.12Z"} (milliseconds
//     without trailing zeros, none when zero) for years 1970 through 9999,
//     and {"$date":{"$numberLong":"..."}} otherwise.
//   - Decimal128 uses the driver's own formatting: scientific notation
//     (1.050E+4, 1E-7) when the exponent is positive or the adjusted
//     exponent is below -6, plain otherwise (0.000001, -0.00); the sign of
//     zero is kept, and non-canonical coefficients above 10^34-1 are printed
//     rather than read as zero.
//   - Regex options are sorted by code point.
//   - Timestamps are {"$timestamp":{"t":T,"i":I}}, binary is
//     {"$binary":{"base64":...,"subType":"xx"}} in both modes.
//
// # Driver quirks callers should know
//
// These are the driver's behaviour, kept for byte-identity:
//
//   - The namespace of a DBPointer is written without any escaping, so a
//     namespace containing '"', '\\', control bytes or invalid UTF-8 gives
//     invalid JSON.
//   - Invalid UTF-8 in regex options becomes a literal U+FFFD character
//     (three UTF-8 bytes) sorted after the other options, not the escape
//     \ufffd used everywhere else.
//   - Bytes after the document's declared length are ignored.
//   - Nested documents and arrays are not checked by bson.Raw.Validate, but
//     the driver (and this package) reject them when malformed. Array keys
//     are not checked at all: any key is accepted and ignored.
//   - A code-with-scope value's code string loses its last byte without a
//     check that the byte is 0x00.
//   - Old binary (subtype 0x02) with a length above 4 is read through its
//     inner length. For a direct element of the document the outer length
//     still bounds the value; for a nested element the value ends where the
//     inner length says, whatever the outer length is. For well-formed old
//     binary (inner = outer-4) both give the expected result.
//   - A boolean byte other than 0 or 1 is an error, although
//     bson.Raw.Validate accepts it.
//
// # Differences from the driver
//
// None are known for any input. Two things are outside the comparison: the
// error values differ (this package returns a *MalformedError wrapping
// ErrMalformed, with the offset and key path), and on deep nesting this
// package keeps an explicit stack where the driver recurses, so it neither
// overflows the goroutine stack nor imposes a depth limit.
package extjson
