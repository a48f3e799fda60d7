package request

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/exportd/exportd/api"
)

// The limits on a request, checked before anything is stored. They keep a
// hostile request from costing more than an honest one, and they are the
// server's own where MongoDB has one, so that nothing exportd accepts is
// refused by the server later.
const (
	// MaxRequestBytes is the largest request accepted, as JSON.
	MaxRequestBytes = 1 << 20
	// MaxDepth is how deeply filter and sort may nest: the document itself
	// is level 1 and each object or array inside it adds one, as MongoDB
	// counts (it refuses documents nested deeper than 100 levels).
	MaxDepth = 100
	// MaxRequestIDLen bounds a client's requestId, in bytes.
	MaxRequestIDLen = 255
	// MaxNamespaceLen bounds "database.collection", in bytes: MongoDB's
	// namespace limit.
	MaxNamespaceLen = 255
	// maxHeaderLen bounds one csv header, as a field path is bounded.
	maxHeaderLen = maxFieldPathLen
	// maxShown is how much of a refused value an error message repeats.
	maxShown = 64
	// maxFieldName and maxMessage bound what a FieldError carries, so that
	// an error reply stays small whatever the request held.
	maxFieldName = 256
	maxMessage   = 1024
)

// extJSONWrap is how many JSON levels Extended JSON adds under a BSON
// value at most ({"$dbPointer": {"$id": {"$oid": …}}}).
const extJSONWrap = 3

// quote is %q of s, cut to its first maxShown bytes (on a rune boundary)
// with its length said when it is longer.
func quote(s string) string {
	if len(s) <= maxShown {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(api.Cut(s, maxShown)), len(s))
}

// jsonDepth reports whether data, a JSON text, nests objects and arrays
// deeper than limit. It only counts brackets outside strings, so it costs
// one pass and no allocation whatever the nesting; syntax is left to the
// decoder.
func jsonDepth(data []byte, limit int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > limit {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// CheckSize refuses a request larger than MaxRequestBytes, before
// anything reads it.
func CheckSize(data []byte) error {
	if len(data) > MaxRequestBytes {
		return fieldErr("request", "is %d bytes, at most %d", len(data), MaxRequestBytes)
	}
	return nil
}

// checkRequestID says what is wrong with a client's requestId, if anything.
func checkRequestID(id string) error {
	if len(id) > MaxRequestIDLen {
		return fieldErr("requestId", "is %d bytes, at most %d", len(id), MaxRequestIDLen)
	}
	if !utf8.ValidString(id) {
		return fieldErr("requestId", "must be UTF-8 text")
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return fieldErr("requestId", "must be printable text, got %s", quote(id))
		}
	}
	return nil
}
