package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

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
// the export and slow it.
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
