package extjson

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// taskDocument is a realistic document of the export workload: 440
// bytes of BSON, mostly strings, with dates, numbers and small nesting.
func taskDocument(tb testing.TB) []byte {
	tb.Helper()
	return marshal(tb, bson.D{
		{Key: "_id", Value: oid("65a1b2c3d4e5f60718293a4b")},
		{Key: "title", Value: "Migrate billing to the new queue"},
		{Key: "description", Value: "Queue drops messages, see \"INC-1042\".\nDrain, switch, verify; ask équipe Zürich."},
		{Key: "status", Value: "in_progress"},
		{Key: "priority", Value: int32(2)},
		{Key: "tags", Value: bson.A{"billing", "infra", "queue", "q3-roadmap"}},
		{Key: "assignee", Value: bson.D{
			{Key: "name", Value: "Renée Dubois"},
			{Key: "email", Value: "renee.dubois@example.com"},
		}},
		{Key: "createdAt", Value: ms(utc(2024, 3, 14, 9, 26, 53, 589))},
		{Key: "updatedAt", Value: ms(utc(2024, 6, 2, 17, 5, 0, 120))},
		{Key: "dueDate", Value: ms(utc(2024, 7, 1, 0, 0, 0, 0))},
		{Key: "estimatedHours", Value: 12.5},
		{Key: "seq", Value: int64(1048577)},
	})
}

// BenchmarkAppendDocument measures this package on the task document.
func BenchmarkAppendDocument(b *testing.B) {
	doc := taskDocument(b)
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			want, err := driverDocument(doc, m.canonical)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, 4096)
			if got, err := AppendDocument(dst, doc, m.canonical); err != nil || !bytes.Equal(got, want) {
				b.Fatalf("output differs from the driver (err %v)\n got: %s\nwant: %s", err, got, want)
			}
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				out, err := AppendDocument(dst[:0], doc, m.canonical)
				if err != nil || len(out) != len(want) {
					b.Fatalf("AppendDocument: %v, %d bytes", err, len(out))
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

// BenchmarkDriverMarshalExtJSON measures bson.MarshalExtJSON on the same
// document, for comparison.
func BenchmarkDriverMarshalExtJSON(b *testing.B) {
	doc := bson.Raw(taskDocument(b))
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				out, err := bson.MarshalExtJSON(doc, m.canonical, false)
				if err != nil || len(out) == 0 {
					b.Fatalf("MarshalExtJSON: %v", err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
