package source

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
)

// The sampled estimate: the share of the sample times the metadata count,
// and no estimate from too few matches.
func TestFromSample(t *testing.T) {
	cases := []struct {
		name                string
		all, drawn, matched int64
		want                int64
		ok                  bool
	}{
		{name: "half", all: 1_000_000, drawn: 1000, matched: 500, want: 500_000, ok: true},
		{name: "rounded", all: 100_001, drawn: 1000, matched: 333, want: 33_300, ok: true},
		{name: "every document", all: 50_000, drawn: 1000, matched: 1000, want: 50_000, ok: true},
		{name: "a smaller sample than asked", all: 40_000, drawn: 800, matched: 200, want: 10_000, ok: true},
		{name: "just enough matches", all: 1_000_000, drawn: 1000, matched: MinMatches, want: 30_000, ok: true},
		{name: "too few matches", all: 1_000_000, drawn: 1000, matched: MinMatches - 1},
		{name: "no match", all: 1_000_000, drawn: 1000},
		{name: "nothing drawn", all: 1_000_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := fromSample(tc.all, tc.drawn, tc.matched)
			if n != tc.want || ok != tc.ok {
				t.Fatalf("fromSample(%d, %d, %d) = %d, %v; want %d, %v", tc.all, tc.drawn, tc.matched, n, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSampleTolerance draws what $sample draws (SampleSize documents at
// random) from the seed's tasks and checks that the estimate is within
// four standard errors of the exact count, for a common and a less common
// filter (a third and a tenth of the tasks). devmongo has no $sample, so
// the draw is made here, from fixed seeds.
func TestSampleTolerance(t *testing.T) {
	const all = 100_000
	filters := []struct {
		name  string
		match func(i int64) bool
	}{
		{name: "status completed", match: func(i int64) bool {
			return devmongo.Task(i).Lookup(devmongo.FieldStatus).StringValue() == devmongo.StatusCompleted
		}},
		{name: "priority urgent", match: func(i int64) bool {
			return devmongo.Task(i).Lookup(devmongo.FieldPriority).StringValue() == "urgent"
		}},
	}
	for k, f := range filters {
		t.Run(f.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(k), 1))
			var exact int64
			for i := range int64(all) {
				if f.match(i) {
					exact++
				}
			}
			var matched int64
			for range SampleSize {
				if f.match(rng.Int64N(all)) {
					matched++
				}
			}
			n, ok := fromSample(all, SampleSize, matched)
			if !ok {
				t.Fatalf("%d of %d sampled tasks match: no estimate", matched, SampleSize)
			}
			// Four standard errors of the share: a wrong estimator fails,
			// a correct one fails once in about 16,000 seeds (and the seed
			// is fixed).
			p := float64(exact) / all
			tol := 4 * math.Sqrt(p*(1-p)/SampleSize) * all
			if math.Abs(float64(n-exact)) > tol {
				t.Fatalf("estimate %d, exact %d: off by more than %.0f", n, exact, tol)
			}
			t.Logf("estimate %d, exact %d (%.1f%% off, tolerance %.1f%%)", n, exact, 100*math.Abs(float64(n-exact))/float64(exact), 100*tol/float64(exact))
		})
	}
}

// A plan's skip and limit bound every total.
func TestWindow(t *testing.T) {
	cases := []struct {
		name string
		w    window
		n    int64
		want int64
	}{
		{name: "all", n: 500, want: 500},
		{name: "limit below", w: window{Limit: 100}, n: 500, want: 100},
		{name: "limit above", w: window{Limit: 1000}, n: 500, want: 500},
		{name: "skip", w: window{Skip: 200}, n: 500, want: 300},
		{name: "skip past the end", w: window{Skip: 600}, n: 500, want: 0},
		{name: "skip and limit", w: window{Skip: 450, Limit: 100}, n: 500, want: 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.apply(tc.n); got != tc.want {
				t.Fatalf("%+v.apply(%d) = %d, want %d", tc.w, tc.n, got, tc.want)
			}
		})
	}
}

// The exact count takes a window's skip and limit to the server, and
// answers what the export would write.
func TestCountMatchingWindow(t *testing.T) {
	const tasks = 1000
	srv := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, srv.URI, "app", "tasks", tasks)
	coll := devmongotest.Client(t, srv.URI).Database("app").Collection("tasks")
	var completed int64
	for i := range int64(tasks) {
		if devmongo.Task(i).Lookup(devmongo.FieldStatus).StringValue() == devmongo.StatusCompleted {
			completed++
		}
	}
	filter := bson.D{{Key: devmongo.FieldStatus, Value: devmongo.StatusCompleted}}
	for _, w := range []window{{}, {Skip: 10}, {Limit: 50}, {Skip: 10, Limit: 50}, {Skip: completed - 5, Limit: 50}, {Skip: tasks}} {
		n, err := countMatching(context.Background(), coll, filter, w)
		if err != nil {
			t.Fatal(err)
		}
		if want := w.apply(completed); n != want {
			t.Errorf("count of %d completed tasks in %+v = %d, want %d", completed, w, n, want)
		}
	}
}
