package chunker_test

import (
	"testing"

	"github.com/exportd/exportd/chunker"
)

func TestBounds(t *testing.T) {
	b := chunker.Bounds{Records: 3, Bytes: 100}
	for _, tc := range []struct {
		name                string
		records, raw, size  int64
		overflows, fullThen bool
	}{
		{"first record", 0, 0, 10, false, false},
		{"a record larger than the bound, alone", 0, 0, 500, false, true},
		{"fits", 1, 50, 40, false, false},
		{"exactly to the bound", 1, 50, 50, false, true},
		{"one byte over", 1, 50, 51, true, false},
		{"third record", 2, 20, 10, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.Overflows(tc.records, tc.raw, tc.size); got != tc.overflows {
				t.Fatalf("Overflows = %v", got)
			}
			if tc.overflows {
				return
			}
			if got := b.Full(tc.records+1, tc.raw+tc.size); got != tc.fullThen {
				t.Fatalf("Full after adding it = %v", got)
			}
		})
	}
}
