package api

import "unicode/utf8"

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
