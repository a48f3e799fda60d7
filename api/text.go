package api

import (
	"fmt"
	"unicode/utf8"
)

// Cut returns the longest prefix of s of at most n bytes that ends on a
// rune boundary: how much of a client's value a message may repeat.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clip is s cut to at most n bytes, with "…" marking a cut: what every
// error message does with a value too long to repeat.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Cut(s, n) + "…"
}

// Count is n followed by noun, in the plural unless n is 1: "1 chunk",
// "0 chunks", "3 chunks". Every message that counts something says it so.
// noun must take an "s" in the plural (chunk, record, byte, event, export).
func Count[N ~int | ~int32 | ~int64 | ~uint32 | ~uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
