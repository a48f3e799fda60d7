package api

import "testing"

// TestCount: a count says its noun in the singular for one only.
func TestCount(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{Count(0, "chunk"), "0 chunks"},
		{Count(1, "chunk"), "1 chunk"},
		{Count(2, "chunk"), "2 chunks"},
		{Count(int64(1), "record"), "1 record"},
		{Count(uint64(1<<63), "byte"), "9223372036854775808 bytes"},
		{Count(int32(-1), "event"), "-1 events"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
