package source

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The server quirks: how a FerretDB differs from a MongoDB in what an
// export asks of it.

// FerretDBUnstorable are the BSON types that FerretDB refuses to store (and
// whose $type codes it refuses to parse): minKey, maxKey, undefined,
// dbPointer, JavaScript, symbol, JavaScript with scope and decimal128. No
// record on such a server has them, so conditions can leave them out.
var FerretDBUnstorable = TypeSet{-1: true, 127: true, 6: true, 12: true, 13: true, 14: true, 15: true, 19: true}

// Unstorable asks the server which BSON types it cannot store (see After):
// none for MongoDB, FerretDBUnstorable for FerretDB.
func Unstorable(ctx context.Context, client *mongo.Client) (TypeSet, error) {
	ferret, err := isFerretDB(ctx, client)
	if err != nil || !ferret {
		return nil, err
	}
	return FerretDBUnstorable, nil
}

// isFerretDB reports whether client's server is a FerretDB: its buildInfo
// has a ferretdbVersion.
func isFerretDB(ctx context.Context, client *mongo.Client) (bool, error) {
	var info bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("buildInfo: %w", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}
