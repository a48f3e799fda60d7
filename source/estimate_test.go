package source_test

import (
	"context"
	"encoding/json"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/request"
	"github.com/exportd/exportd/source"
)

// estimateTasks is how many tasks TestEstimate seeds: a collection that
// Estimate counts exactly when filtered.
const estimateTasks = 2000

// TestEstimate asks devmongo for the totals of plans. Unfiltered, the
// total is the metadata count, labelled an estimate; on a fresh SQLite
// table FerretDB's cell count equals the documents, so the test compares
// it exactly. Filtered, on a collection of at most ExactBelow documents,
// the total is counted and exact: it is compared with the seed's own
// tasks, decoded here. On a larger collection FerretDB has no $sample and
// Estimate gives no total for a filter (the sampled estimate is checked by
// TestFromSample).
func TestEstimate(t *testing.T) {
	srv := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, srv.URI, "app", "tasks", estimateTasks)
	client := devmongotest.Client(t, srv.URI)
	ctx := context.Background()

	// A collection one document larger than ExactBelow, of small
	// documents: quicker to insert than tasks.
	big := client.Database("app").Collection("big")
	docs := make([]any, 0, 1000)
	for i := range int64(source.ExactBelow + 1) {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "even", Value: i%2 == 0}})
		if len(docs) == cap(docs) || i == source.ExactBelow {
			if _, err := big.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}

	completed := 0 // the seed's completed tasks
	for i := range int64(estimateTasks) {
		if devmongo.Task(i).Lookup(devmongo.FieldStatus).StringValue() == devmongo.StatusCompleted {
			completed++
		}
	}
	cases := []struct {
		name       string
		collection string
		filter     string
		// skip and limit are the plan's window.
		skip, limit int64
		want        source.Count
		noTotal     bool
	}{
		{name: "unfiltered", collection: "tasks",
			want: source.Count{N: estimateTasks, Estimated: true, Method: source.MethodMetadata}},
		{name: "filtered, small collection", collection: "tasks", filter: `{"status": "completed"}`,
			want: source.Count{N: int64(completed), Method: source.MethodCount}},
		{name: "filter that matches nothing", collection: "tasks", filter: `{"status": "archived"}`,
			want: source.Count{N: 0, Method: source.MethodCount}},
		{name: "missing collection", collection: "nothing",
			want: source.Count{N: 0, Estimated: true, Method: source.MethodMetadata}},
		{name: "unfiltered, large collection", collection: "big",
			want: source.Count{N: source.ExactBelow + 1, Estimated: true, Method: source.MethodMetadata}},
		{name: "filtered, large collection", collection: "big", filter: `{"even": true}`, noTotal: true},
		{name: "unfiltered, limited", collection: "tasks", limit: 500,
			want: source.Count{N: 500, Estimated: true, Method: source.MethodMetadata}},
		{name: "unfiltered, skipped and limited", collection: "tasks", skip: estimateTasks - 30, limit: 500,
			want: source.Count{N: 30, Estimated: true, Method: source.MethodMetadata}},
		{name: "unfiltered, skipped past the end", collection: "tasks", skip: estimateTasks + 1,
			want: source.Count{N: 0, Estimated: true, Method: source.MethodMetadata}},
		{name: "filtered, skipped and limited", collection: "tasks", filter: `{"status": "completed"}`, skip: 10, limit: 50,
			want: source.Count{N: min(max(int64(completed)-10, 0), 50), Method: source.MethodCount}},
		{name: "filtered, large collection, small limit", collection: "big", filter: `{"even": true}`, limit: 40,
			want: source.Count{N: 40, Method: source.MethodCount}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &request.Request{Database: "app", Collection: tc.collection, Skip: tc.skip, Limit: tc.limit}
			if tc.filter != "" {
				r.Filter = json.RawMessage(tc.filter)
			}
			p, err := request.Compile(r)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := source.Estimate(ctx, client, p)
			if err != nil {
				t.Fatal(err)
			}
			if tc.noTotal {
				if ok {
					t.Fatalf("Estimate = %+v, want no total", got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("Estimate = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
}
