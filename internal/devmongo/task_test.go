package devmongo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/internal/devmongo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// checkTask fails t unless doc is a well-formed task number i: the field order,
// the types, the invariants that AppendTask documents, and only BSON that
// FerretDB 1.24 stores exactly.
func checkTask(t testing.TB, i int64, doc bson.Raw) {
	t.Helper()
	if err := doc.Validate(); err != nil {
		t.Fatalf("task %d: invalid BSON: %v", i, err)
	}
	elems, _ := doc.Elements()
	var keys []string
	for _, e := range elems {
		keys = append(keys, e.Key())
	}
	want := []string{"_id", "title", "description", "status", "priority", "tags", "assignee", "createdAt", "updatedAt"}
	if doc.Lookup("dueDate").Type != 0 {
		want = append(want, "dueDate")
	}
	if doc.Lookup("completedAt").Type != 0 {
		want = append(want, "completedAt")
	}
	want = append(want, "estimatedHours", "seq")
	if !slices.Equal(keys, want) {
		t.Fatalf("task %d: fields %v, want %v", i, keys, want)
	}

	id := doc.Lookup("_id").ObjectID()
	if id != devmongo.TaskID(i) {
		t.Errorf("task %d: _id %s, TaskID says %s", i, id.Hex(), devmongo.TaskID(i).Hex())
	}
	for _, f := range []string{"title", "description", "status", "priority"} {
		if s := doc.Lookup(f).StringValue(); !utf8.ValidString(s) {
			t.Errorf("task %d: %s is not UTF-8: %q", i, f, s)
		}
	}
	if doc.Lookup("title").StringValue() == "" {
		t.Errorf("task %d: empty title", i)
	}
	status := doc.Lookup("status").StringValue()
	if !slices.Contains([]string{devmongo.StatusTodo, devmongo.StatusInProgress, devmongo.StatusCompleted, devmongo.StatusCancelled}, status) {
		t.Errorf("task %d: status %q", i, status)
	}
	if p := doc.Lookup("priority").StringValue(); !slices.Contains([]string{"low", "medium", "high", "urgent"}, p) {
		t.Errorf("task %d: priority %q", i, p)
	}

	tags, _ := doc.Lookup("tags").Array().Values()
	seen := map[string]bool{}
	for _, tag := range tags {
		if s := tag.StringValue(); s == "" || seen[s] {
			t.Errorf("task %d: empty or repeated tag %q", i, s)
		} else {
			seen[s] = true
		}
	}
	if len(tags) > 4 {
		t.Errorf("task %d: %d tags", i, len(tags))
	}
	assignee := doc.Lookup("assignee").Document()
	if assignee.Lookup("name").StringValue() == "" || !strings.Contains(assignee.Lookup("email").StringValue(), "@") {
		t.Errorf("task %d: assignee %s", i, assignee)
	}

	created := doc.Lookup("createdAt").Time()
	updated := doc.Lookup("updatedAt").Time()
	if created.Before(devmongo.CreatedFrom) || !created.Before(devmongo.CreatedUntil) {
		t.Errorf("task %d: createdAt %s out of range", i, created)
	}
	if updated.Before(created) {
		t.Errorf("task %d: updatedAt %s before createdAt %s", i, updated, created)
	}
	if got, want := id.Timestamp(), created.Truncate(time.Second); !got.Equal(want) {
		t.Errorf("task %d: _id time %s, createdAt %s", i, got, created)
	}
	if due := doc.Lookup("dueDate"); due.Type != 0 && !due.Time().After(created) {
		t.Errorf("task %d: dueDate %s not after createdAt %s", i, due.Time(), created)
	}
	switch completed := doc.Lookup("completedAt"); {
	case status == devmongo.StatusCompleted:
		if completed.Type != bson.TypeDateTime || completed.Time().Before(created) || completed.Time().After(updated) {
			t.Errorf("task %d: completed, but completedAt %s is not a date in [createdAt, updatedAt]", i, completed)
		}
	case completed.Type != 0 && completed.Type != bson.TypeNull:
		t.Errorf("task %d: %s, but completedAt is %s", i, status, completed)
	}

	h := doc.Lookup("estimatedHours").Double()
	if !(h > 0) || math.IsInf(h, 0) {
		t.Errorf("task %d: estimatedHours %v", i, h)
	}
	if seq := doc.Lookup("seq"); seq.Type != bson.TypeInt64 || seq.Int64() != i {
		t.Errorf("task %d: seq %s", i, seq)
	}
}

func TestTaskFields(t *testing.T) {
	ids := map[bson.ObjectID]int64{}
	for i := range int64(10_000) {
		checkTask(t, i, devmongo.Task(i))
		id := devmongo.TaskID(i)
		if j, dup := ids[id]; dup {
			t.Fatalf("tasks %d and %d have _id %s", j, i, id.Hex())
		}
		ids[id] = i
	}
	for _, i := range []int64{-1, math.MinInt64, math.MaxInt64, 1 << 40} {
		checkTask(t, i, devmongo.Task(i))
	}
}

func TestTaskDeterministic(t *testing.T) {
	// Generated out of order, into a buffer that already holds data, twice.
	prefix := []byte("prefix")
	for _, i := range []int64{7, 3, 1_000_000, 3, -5, 7} {
		a := devmongo.Task(i)
		b := devmongo.AppendTask(slices.Clone(prefix), i)
		if !bytes.Equal(b[:len(prefix)], prefix) || !bytes.Equal(b[len(prefix):], a) {
			t.Fatalf("task %d: AppendTask after a prefix differs from Task", i)
		}
		if !bytes.Equal(devmongo.Task(i), a) {
			t.Fatalf("task %d: two calls differ", i)
		}
	}
}

// TestTaskGolden pins the data set: the same bytes on every run and machine.
// Tasks 0 to 19 and a few extremes are kept as canonical Extended JSON, to
// read; the SHA-256 of tasks 0 to 99,999 covers the rest.
func TestTaskGolden(t *testing.T) {
	var b strings.Builder
	for _, i := range []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
		-1, math.MinInt64, math.MaxInt64} {
		js, err := bson.MarshalExtJSON(devmongo.Task(i), true, false)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d\t%s\n", i, js)
	}
	h := sha256.New()
	var buf []byte
	for i := range int64(100_000) {
		buf = devmongo.AppendTask(buf[:0], i)
		h.Write(buf)
	}
	fmt.Fprintf(&b, "sha256 of tasks 0 to 99999\t%s\n", hex.EncodeToString(h.Sum(nil)))

	path := filepath.Join("testdata", "tasks.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("tasks differ from %s: the generator changed the data set; if that is intended, run with -update\ngot:\n%s", path, got)
	}
}

// taskStats counts the features of tasks that tests of exports rely on.
type taskStats struct {
	n, bytes                                      int
	noDue, nullCompleted, noCompleted, completed  int
	quote, comma, lf, crlf, tab, nonASCII, empty  int
	leadEq, leadPlus, leadMinus, leadAt           int
	wholeHours, fractionalHours, noTags, fourTags int
}

func statsOf(from, to int64) taskStats {
	var s taskStats
	for i := from; i < to; i++ {
		doc := devmongo.Task(i)
		s.n++
		s.bytes += len(doc)
		if doc.Lookup("dueDate").Type == 0 {
			s.noDue++
		}
		switch doc.Lookup("completedAt").Type {
		case 0:
			s.noCompleted++
		case bson.TypeNull:
			s.nullCompleted++
		default:
			s.completed++
		}
		d := doc.Lookup("description").StringValue()
		count := func(c *int, ok bool) {
			if ok {
				*c++
			}
		}
		count(&s.quote, strings.Contains(d, `"`))
		count(&s.comma, strings.Contains(d, ","))
		count(&s.lf, strings.Contains(strings.ReplaceAll(d, "\r\n", ""), "\n"))
		count(&s.crlf, strings.Contains(d, "\r\n"))
		count(&s.tab, strings.Contains(d, "\t"))
		count(&s.nonASCII, strings.ContainsFunc(d, func(r rune) bool { return r > 127 }))
		count(&s.empty, d == "")
		count(&s.leadEq, strings.HasPrefix(d, "="))
		count(&s.leadPlus, strings.HasPrefix(d, "+"))
		count(&s.leadMinus, strings.HasPrefix(d, "-"))
		count(&s.leadAt, strings.HasPrefix(d, "@"))
		h := doc.Lookup("estimatedHours").Double()
		count(&s.wholeHours, h == math.Trunc(h))
		count(&s.fractionalHours, h != math.Trunc(h))
		tags, _ := doc.Lookup("tags").Array().Values()
		count(&s.noTags, len(tags) == 0)
		count(&s.fourTags, len(tags) == 4)
	}
	return s
}

// TestTaskDistribution checks that the 2,000 tasks the tests seed hold every
// case an export must handle, often enough to be sure to meet it.
func TestTaskDistribution(t *testing.T) {
	s := statsOf(0, 2000)
	t.Logf("%+v", s)
	for _, c := range []struct {
		name     string
		got, min int
	}{
		{"missing dueDate", s.noDue, 300},
		{"null completedAt", s.nullCompleted, 300},
		{"missing completedAt", s.noCompleted, 300},
		{"completedAt date", s.completed, 300},
		{"description with a double quote", s.quote, 100},
		{"description with a comma", s.comma, 300},
		{"description with LF", s.lf, 100},
		{"description with CRLF", s.crlf, 40},
		{"description with a tab", s.tab, 40},
		{"description with non-ASCII", s.nonASCII, 100},
		{"empty description", s.empty, 10},
		{"description starting with =", s.leadEq, 10},
		{"description starting with +", s.leadPlus, 10},
		{"description starting with -", s.leadMinus, 10},
		{"description starting with @", s.leadAt, 10},
		{"whole estimatedHours", s.wholeHours, 100},
		{"fractional estimatedHours", s.fractionalHours, 100},
		{"no tags", s.noTags, 100},
		{"four tags", s.fourTags, 100},
	} {
		if c.got < c.min {
			t.Errorf("%s: %d of %d tasks, want at least %d", c.name, c.got, s.n, c.min)
		}
	}
}

func TestTaskSize(t *testing.T) {
	s := statsOf(0, 100_000)
	if avg := s.bytes / s.n; avg < 350 || avg > 450 {
		t.Errorf("average task is %d bytes, want 350 to 450", avg)
	}
}

func FuzzTask(f *testing.F) {
	for _, i := range []int64{0, 1, -1, math.MinInt64, math.MaxInt64} {
		f.Add(i)
	}
	f.Fuzz(func(t *testing.T, i int64) {
		doc := devmongo.Task(i)
		checkTask(t, i, doc)
		if !bytes.Equal(doc, devmongo.Task(i)) {
			t.Fatalf("task %d: two calls differ", i)
		}
	})
}

func BenchmarkAppendTask(b *testing.B) {
	b.ReportAllocs()
	var buf []byte
	var i, size int64
	for b.Loop() {
		buf = devmongo.AppendTask(buf[:0], i)
		size += int64(len(buf))
		i++
	}
	if i > 0 {
		b.SetBytes(size / i)
		b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "docs/s")
	}
	if len(buf) < 200 {
		b.Fatalf("last task is %d bytes", len(buf))
	}
}
