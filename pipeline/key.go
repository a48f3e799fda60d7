package pipeline

import (
	"encoding/json"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/exportd/exportd/extjson"
	"github.com/exportd/exportd/request"
)

// keyMaker reads a record's sort key: its sort fields and _id, as a
// document in canonical Extended JSON. A missing field is left out, which
// is how it differs from an explicit null.
type keyMaker struct {
	paths [][]string
	names []string
}

func newKeyMaker(keys []request.SortKey) *keyMaker {
	k := &keyMaker{}
	for _, s := range keys {
		k.paths = append(k.paths, strings.Split(s.Path, "."))
		k.names = append(k.names, s.Path)
	}
	return k
}

// Key returns the sort key document of doc.
func (k *keyMaker) doc(doc bson.Raw) bson.Raw {
	idx, buf := bsoncore.AppendDocumentStart(nil)
	for i, p := range k.paths {
		v, err := doc.LookupErr(p...)
		if err != nil {
			continue
		}
		buf = bsoncore.AppendHeader(buf, bsoncore.Type(v.Type), k.names[i])
		buf = append(buf, v.Value...)
	}
	buf, _ = bsoncore.AppendDocumentEnd(buf, idx)
	return bson.Raw(buf)
}

func (k *keyMaker) key(doc bson.Raw) json.RawMessage {
	out, err := extjson.AppendDocument(nil, k.doc(doc), true)
	if err != nil {
		return json.RawMessage("null")
	}
	return out
}
