package source

import (
	"fmt"
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// bracket is MongoDB's order between BSON types: values of a lower bracket
// sort first, and comparison operators ($gt, $lt) match only within the
// bracket of their operand. Missing fields sort as null.
func bracket(t bson.Type) int {
	switch t {
	case bson.TypeMinKey:
		return 0
	case bson.TypeUndefined, bson.TypeNull:
		return 1
	case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeDecimal128:
		return 2
	case bson.TypeString, bson.TypeSymbol:
		return 3
	case bson.TypeEmbeddedDocument:
		return 4
	case bson.TypeArray:
		return 5
	case bson.TypeBinary:
		return 6
	case bson.TypeObjectID:
		return 7
	case bson.TypeBoolean:
		return 8
	case bson.TypeDateTime:
		return 9
	case bson.TypeTimestamp:
		return 10
	case bson.TypeRegex:
		return 11
	case bson.TypeDBPointer:
		return 12
	case bson.TypeJavaScript:
		return 13
	case bson.TypeCodeWithScope:
		return 14
	case bson.TypeMaxKey:
		return 15
	}
	return -1
}

// bracketTypes are the $type codes of each bracket.
var bracketTypes = [][]int32{
	{-1}, {10, 6}, {1, 16, 18, 19}, {2, 14}, {3}, {4}, {5}, {7}, {8}, {9}, {17}, {11}, {12}, {13}, {15}, {127},
}

const nullBracket = 1

// TypeSet is a set of $type codes.
type TypeSet map[int32]bool

// After is the condition that matches exactly the records that come after
// the record whose sort key is last (a key document as the pipeline records
// it in a chunk's LastKey: the sort fields and _id, with a missing field
// left out), in the order of keys. It is exact for
// missing, null and mixed-type sort values, ascending or descending.
// unstorable lists $type codes the server cannot hold, which the condition
// leaves out (nil for MongoDB).
func After(keys []request.SortKey, last bson.Raw, unstorable TypeSet) (bson.D, error) {
	var or bson.A
	var equal bson.A
	for _, k := range keys {
		v, err := last.LookupErr(k.Path)
		if err != nil {
			v = bson.RawValue{Type: bson.TypeNull} // missing sorts as null
		}
		if v.Type == bson.TypeArray {
			return nil, fmt.Errorf("%w: %s", pipeline.ErrArraySortKey, k.Path)
		}
		term := append(bson.A{}, equal...)
		term = append(term, after(k.Path, v, k.Desc, unstorable))
		or = append(or, bson.D{{Key: "$and", Value: term}})
		equal = append(equal, bson.D{{Key: k.Path, Value: bson.D{{Key: "$eq", Value: v}}}})
	}
	return bson.D{{Key: "$or", Value: or}}, nil
}

// after matches the values of path that sort strictly after v.
func after(path string, v bson.RawValue, desc bool, unstorable TypeSet) bson.D {
	b := bracket(v.Type)
	var terms bson.A
	// Within v's bracket.
	op := "$gt"
	if desc {
		op = "$lt"
	}
	switch {
	case b == 0 || b == nullBracket || b == len(bracketTypes)-1:
		// minKey, null and maxKey are each a single value.
	case v.Type == bson.TypeDouble && math.IsNaN(v.Double()):
		// NaN sorts below every other number.
		if !desc {
			terms = append(terms, bson.D{{Key: path, Value: bson.D{{Key: "$gte", Value: math.Inf(-1)}}}})
		}
	default:
		terms = append(terms, bson.D{{Key: path, Value: bson.D{{Key: op, Value: v}}}})
	}
	// Whole brackets on the far side of v's.
	var types bson.A
	withMissing := false
	for i, ts := range bracketTypes {
		if (!desc && i > b) || (desc && i < b) {
			for _, t := range ts {
				if !unstorable[t] {
					types = append(types, t)
				}
			}
			withMissing = withMissing || i == nullBracket
		}
	}
	if len(types) > 0 {
		terms = append(terms, bson.D{{Key: path, Value: bson.D{{Key: "$type", Value: types}}}})
	}
	if withMissing {
		terms = append(terms, bson.D{{Key: path, Value: bson.D{{Key: "$exists", Value: false}}}})
	}
	if len(terms) == 0 {
		// Nothing sorts after v on this key: a condition that never holds.
		return bson.D{{Key: path, Value: bson.D{{Key: "$in", Value: bson.A{}}}}}
	}
	return bson.D{{Key: "$or", Value: terms}}
}
