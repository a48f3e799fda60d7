package checkpoint

import (
	"crypto/rand"
	"encoding/base32"
	"regexp"
	"strings"
)

// idEncoding is lowercase base32 without padding: file-name and URL safe.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

var idPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

// NewID returns a random, unguessable export id (128 bits, 26 characters
// of lowercase base32).
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on a supported OS
	return idEncoding.EncodeToString(b[:])
}

// ValidID reports whether s has the form of an export id; only such
// strings are ever used to build a path.
func ValidID(s string) bool {
	return idPattern.MatchString(strings.TrimSpace(s)) && s == strings.TrimSpace(s)
}
