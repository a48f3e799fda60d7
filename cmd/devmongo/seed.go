package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/exportd/exportd/internal/devmongo"
)

// progressEvery is the least time between two progress lines.
const progressEvery = time.Second

// seed inserts the tasks that cfg names and prints progress and a summary.
func seed(ctx context.Context, cfg seedConfig, stderr io.Writer) (err error) {
	// Fail in 10 s rather than the driver's 30 s when nothing listens at the
	// URI; a serverSelectionTimeoutMS in the URI wins.
	client, err := mongo.Connect(options.Client().SetServerSelectionTimeout(10 * time.Second).ApplyURI(cfg.uri))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.uri, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = errors.Join(err, client.Disconnect(dctx))
	}()
	coll := client.Database(cfg.db).Collection(cfg.collection)
	ns := cfg.db + "." + cfg.collection

	if cfg.drop {
		if err := coll.Drop(ctx); err != nil {
			return fmt.Errorf("drop %s: %w", ns, err)
		}
		fmt.Fprintf(stderr, "devmongo: dropped %s\n", ns)
	}

	began := time.Now()
	last := began
	inserted, err := devmongo.Seed(ctx, coll, cfg.start, cfg.n, devmongo.SeedOptions{
		BatchSize: cfg.batchSize,
		Workers:   cfg.workers,
		Progress: func(done int64) {
			now := time.Now()
			if now.Sub(last) < progressEvery || done == cfg.n {
				return // the summary covers the end
			}
			last = now
			fmt.Fprintf(stderr, "devmongo: %d/%d tasks (%.0f%%), %.0f docs/s\n",
				done, cfg.n, 100*float64(done)/float64(cfg.n), float64(done)/now.Sub(began).Seconds())
		},
	})
	elapsed := time.Since(began)
	fmt.Fprintf(stderr, "devmongo: inserted %d tasks (seq %d to %d) into %s in %s: %.0f docs/s\n",
		inserted, cfg.start, cfg.start+cfg.n-1, ns, elapsed.Round(time.Millisecond), float64(inserted)/elapsed.Seconds())
	if err != nil {
		return fmt.Errorf("seed %s: %w", ns, err)
	}
	return nil
}
