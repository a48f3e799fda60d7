package source

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/exportd/exportd/request"
)

// Connect connects to the deployment at uri and checks that it answers
// within timeout, so an unreachable server is an error, not a hang.
func Connect(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetAppName("exportd")
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("mongo uri %s: %w", Redact(uri), err)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Redact(uri), err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	if err := client.Ping(pctx, readpref.PrimaryPreferred()); err != nil {
		return nil, errors.Join(fmt.Errorf("cannot reach MongoDB at %s within %s: %w", Redact(uri), timeout, err), client.Disconnect(context.Background()))
	}
	return client, nil
}

// Redact hides the password of a connection string, for logs and errors.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable uri)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}

// Total returns how many documents plan p will export, when that is cheap:
// for an unfiltered export on MongoDB, the collection's estimated count
// (metadata). With a filter, or on a server whose count reads every
// document (FerretDB), it answers ok=false: counting would cost as much as
// the export and slow it. Estimate says more, and says when it guesses.
func Total(ctx context.Context, client *mongo.Client, p *request.Plan) (n int64, ok bool, err error) {
	if len(p.Filter) > 0 {
		return 0, false, nil
	}
	ferret, err := isFerretDB(ctx, client)
	if err != nil || ferret {
		return 0, false, err
	}
	coll := client.Database(p.Database).Collection(p.Collection)
	n, err = coll.EstimatedDocumentCount(ctx)
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// Count is how many records an export writes, as Estimate found it.
type Count struct {
	// N is the number of records.
	N int64
	// Estimated is true unless N was counted, document by document, at
	// the moment Estimate ran: it then comes from the collection's
	// metadata or from a sample, and the export may write more or fewer.
	Estimated bool
	// Method says how N was found: MethodMetadata, MethodCount or
	// MethodSample.
	Method string
}

// How Estimate found a Count.
const (
	// MethodMetadata: the collection's document count as its metadata
	// keeps it (MongoDB's estimatedDocumentCount; FerretDB's collStats,
	// which counts SQLite's table cells). Not a scan, and an estimate:
	// MongoDB's can drift after an unclean shutdown or count orphans on a
	// sharded cluster, and the collection changes while the export reads
	// it.
	MethodMetadata = "metadata"
	// MethodCount: the matching documents counted (countDocuments), with
	// the plan's bounds. Exact when it ran.
	MethodCount = "count"
	// MethodSample: the share of SampleSize random documents ($sample)
	// that match the filter, times the metadata count.
	MethodSample = "sample"
)

const (
	// SampleSize is how many random documents a sampled estimate reads.
	// With k of them matching, the estimate's relative standard error is
	// about sqrt((1-k/SampleSize)/k): 10% at k = 100, 3% at k = 1,000.
	SampleSize = 1000
	// ExactBelow is the metadata count up to which a filtered export's
	// total is counted exactly: a scan of that many documents costs
	// milliseconds on MongoDB, and $sample would scan and sort the whole
	// collection anyway (its random cursor needs SampleSize to be under
	// 5% of the documents).
	ExactBelow = 20 * SampleSize
	// MinMatches is how many sampled documents must match the filter for
	// a sampled estimate to be given: with fewer the relative error passes
	// about 18%, and no total is better than a wrong one.
	MinMatches = 30
	// EstimateTimeout bounds each query of Estimate, on the server too
	// (the driver sends the deadline as maxTimeMS): a count that takes
	// longer is given up.
	EstimateTimeout = 5 * time.Second
)

// Estimate returns how many records plan p will export, as cheaply as the
// server allows, ok=false when it cannot tell cheaply:
//
//   - no filter: the metadata count (MethodMetadata, estimated);
//   - a filter on a collection of at most ExactBelow documents (by its
//     metadata), or a plan that exports at most ExactBelow of them:
//     countDocuments (MethodCount, exact);
//   - a filter on a larger collection, on MongoDB: a sample
//     (MethodSample, estimated), or ok=false when fewer than MinMatches of
//     the sampled documents match;
//   - a filter on a larger collection on FerretDB, which has no $sample and
//     counts by decoding every document: ok=false.
//
// The plan's skip and limit bound every answer. A query that fails, or
// that passes EstimateTimeout, is an error; the exception is the count of
// a plan whose limit is small, on a large collection whose matches are
// sparse: when it passes EstimateTimeout, a sample answers instead.
func Estimate(ctx context.Context, client *mongo.Client, p *request.Plan) (c Count, ok bool, err error) {
	bctx, cancel := context.WithTimeout(ctx, EstimateTimeout)
	ferret, err := isFerretDB(bctx, client)
	cancel()
	if err != nil {
		return Count{}, false, err
	}
	coll := client.Database(p.Database).Collection(p.Collection)
	all, err := metadataCount(ctx, coll, ferret)
	if err != nil {
		return Count{}, false, err
	}
	w := planWindow(p)
	if len(p.Filter) == 0 {
		return Count{N: w.apply(all), Estimated: true, Method: MethodMetadata}, true, nil
	}
	if small := all <= ExactBelow; small || w.Limit > 0 && w.Skip+w.Limit <= ExactBelow {
		n, err := countMatching(ctx, coll, p.Filter, w)
		if err == nil {
			return Count{N: n, Method: MethodCount}, true, nil
		}
		if small || !mongo.IsTimeout(err) {
			return Count{}, false, err
		}
	}
	if ferret {
		return Count{}, false, nil
	}
	drawn, matched, err := sample(ctx, coll, p.Filter)
	if err != nil {
		return Count{}, false, err
	}
	n, ok := fromSample(all, drawn, matched)
	if !ok {
		return Count{}, false, nil
	}
	return Count{N: w.apply(n), Estimated: true, Method: MethodSample}, true, nil
}

// window is the part of the matching documents that a plan exports: it
// skips Skip of them, then takes at most Limit (0: all).
type window struct{ Skip, Limit int64 }

// planWindow is the window of plan p: its skip and limit (both 0, every
// matching document, in plans stored before they existed).
func planWindow(p *request.Plan) window { return window{Skip: p.Skip, Limit: p.Limit} }

// apply is how many of n matching documents w keeps.
func (w window) apply(n int64) int64 {
	n = max(n-w.Skip, 0)
	if w.Limit > 0 {
		n = min(n, w.Limit)
	}
	return n
}

// metadataCount is the collection's document count from its metadata:
// MongoDB answers estimatedDocumentCount from it, FerretDB answers it with
// a scan but keeps a count of SQLite cells that collStats reports.
func metadataCount(ctx context.Context, coll *mongo.Collection, ferret bool) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, EstimateTimeout)
	defer cancel()
	if !ferret {
		n, err := coll.EstimatedDocumentCount(ctx)
		if err != nil {
			return 0, fmt.Errorf("estimatedDocumentCount: %w", err)
		}
		return n, nil
	}
	var stats struct {
		Count int64 `bson:"count"`
	}
	cmd := bson.D{{Key: "collStats", Value: coll.Name()}}
	if err := coll.Database().RunCommand(ctx, cmd).Decode(&stats); err != nil {
		return 0, fmt.Errorf("collStats: %w", err)
	}
	return stats.Count, nil
}

// countMatching counts the documents of coll that match filter, within w.
func countMatching(ctx context.Context, coll *mongo.Collection, filter bson.D, w window) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, EstimateTimeout)
	defer cancel()
	opts := options.Count()
	if w.Skip > 0 {
		opts.SetSkip(w.Skip)
	}
	if w.Limit > 0 {
		opts.SetLimit(w.Limit)
	}
	n, err := coll.CountDocuments(ctx, filter, opts)
	if err != nil {
		return 0, fmt.Errorf("countDocuments: %w", err)
	}
	return n, nil
}

// sample draws SampleSize random documents of coll and counts how many
// were drawn (fewer when the collection is smaller than its metadata
// said) and how many of those match filter. Only the two counts leave the
// server.
func sample(ctx context.Context, coll *mongo.Collection, filter bson.D) (drawn, matched int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, EstimateTimeout)
	defer cancel()
	pipe := mongo.Pipeline{
		{{Key: "$sample", Value: bson.D{{Key: "size", Value: SampleSize}}}},
		{{Key: "$facet", Value: bson.D{
			{Key: "drawn", Value: bson.A{bson.D{{Key: "$count", Value: "n"}}}},
			{Key: "matched", Value: bson.A{
				bson.D{{Key: "$match", Value: filter}},
				bson.D{{Key: "$count", Value: "n"}},
			}},
		}}},
	}
	cur, err := coll.Aggregate(ctx, pipe)
	if err != nil {
		return 0, 0, fmt.Errorf("$sample: %w", err)
	}
	var res []struct {
		Drawn   []struct{ N int64 } `bson:"drawn"`
		Matched []struct{ N int64 } `bson:"matched"`
	}
	if err := cur.All(ctx, &res); err != nil {
		return 0, 0, fmt.Errorf("$sample: %w", err)
	}
	if len(res) == 1 && len(res[0].Drawn) == 1 {
		drawn = res[0].Drawn[0].N
	}
	if len(res) == 1 && len(res[0].Matched) == 1 {
		matched = res[0].Matched[0].N
	}
	return drawn, matched, nil
}

// fromSample estimates how many of all documents match a filter that
// matched of drawn random ones match: all times the sampled share, rounded.
// ok is false when fewer than MinMatches matched: the share is too
// uncertain to show.
func fromSample(all, drawn, matched int64) (n int64, ok bool) {
	if drawn <= 0 || matched < MinMatches {
		return 0, false
	}
	return int64(math.Round(float64(all) * float64(matched) / float64(drawn))), true
}
