package source_test

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

func ExampleAfter() {
	last, _ := bson.Marshal(bson.D{{Key: "priority", Value: "high"}, {Key: "_id", Value: int32(7)}})
	cond, _ := source.After([]request.SortKey{{Path: "priority", Desc: true}, {Path: "_id"}}, last, nil)
	out, _ := bson.MarshalExtJSON(cond, false, false)
	fmt.Println(string(out))
	// Output:
	// {"$or":[{"$and":[{"$or":[{"priority":{"$lt":"high"}},{"priority":{"$type":[-1,10,6,1,16,18,19]}},{"priority":{"$exists":false}}]}]},{"$and":[{"priority":{"$eq":"high"}},{"$or":[{"_id":{"$gt":7}},{"_id":{"$type":[2,14,3,4,5,7,8,9,17,11,12,13,15,127]}}]}]}]}
}
