package checkpoint

import (
	"cmp"
	"slices"
)

func sortByCreation(es []*Export) {
	slices.SortStableFunc(es, func(a, b *Export) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
