package pipeline_test

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// The benchmarks below measure exports of benchDocs task documents (about
// 400 bytes of BSON each) held in memory: one benchmark operation is one
// whole export, two chunks of the default 100,000 records. SetBytes counts
// the documents' BSON, so MB/s is input bytes for every benchmark, stages
// and pipeline alike, and docs/s compares directly across them.
//
// BenchmarkPipeline runs pipeline.Run; BenchmarkCeiling runs the same
// encoder and compressor in a plain loop on one goroutine, with no channel,
// copy or file: what the stages cost by themselves. bench/cmd/benchtable
// runs both at 1 and 2 cores and compares them.
const benchDocs = 200_000

// benchFields are the csv columns a user exporting tasks asks for.
var benchFields = []string{"_id", "title", "description", "status", "priority", "tags",
	"assignee.name", "assignee.email", "createdAt", "dueDate", "completedAt", "estimatedHours"}

// benchCases are the exports BenchmarkPipeline runs, with each request's
// defaults (zstd's default level, gzip's level 6, 100,000 records a chunk,
// batches of 1,000 documents).
var benchCases = []struct {
	name string
	req  request.Request
}{
	{"ndjson-zstd", request.Request{Format: request.NDJSON, Compression: request.Zstd}},
	{"csv-gzip", request.Request{Format: request.CSV, Compression: request.Gzip, Fields: benchFields}},
	{"json-zstd", request.Request{Format: request.JSON, Compression: request.Zstd}},
	{"ndjson-none", request.Request{Format: request.NDJSON, Compression: request.None}},
	{"csv-zstd", request.Request{Format: request.CSV, Compression: request.Zstd, Fields: benchFields}},
	{"ndjson-gzip", request.Request{Format: request.NDJSON, Compression: request.Gzip}},
	{"json-none", request.Request{Format: request.JSON, Compression: request.None}},
	{"json-gzip", request.Request{Format: request.JSON, Compression: request.Gzip}},
	{"csv-none", request.Request{Format: request.CSV, Compression: request.None, Fields: benchFields}},
}

var benchCorpus struct {
	once sync.Once
	docs []bson.Raw
	size int64 // bytes of BSON in docs
}

// benchTasks returns the benchmark documents and their total size. They are
// generated once per process, into one buffer as a cursor batch holds them,
// so that the garbage collector has few objects to scan.
func benchTasks() ([]bson.Raw, int64) {
	benchCorpus.once.Do(func() {
		buf := make([]byte, 0, benchDocs*450)
		ends := make([]int, benchDocs)
		for i := range ends {
			buf = devmongo.AppendTask(buf, int64(i))
			ends[i] = len(buf)
		}
		docs := make([]bson.Raw, benchDocs)
		start := 0
		for i, end := range ends {
			docs[i] = bson.Raw(buf[start:end:end])
			start = end
		}
		benchCorpus.docs, benchCorpus.size = docs, int64(len(buf))
	})
	return benchCorpus.docs, benchCorpus.size
}

// benchGeneratedAt fixes the json envelope, so every run's bytes are equal.
var benchGeneratedAt = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func benchEncoder(tb testing.TB, req request.Request) (*request.Plan, *format.Encoder) {
	tb.Helper()
	req.Database, req.Collection = "app", "tasks"
	p, err := request.Compile(&req)
	if err != nil {
		tb.Fatal(err)
	}
	if p.ChunkRecords != request.DefaultChunkRecords || p.BatchSize != request.DefaultBatchSize {
		tb.Fatalf("plan has %d records a chunk and batches of %d: not the defaults", p.ChunkRecords, p.BatchSize)
	}
	enc, err := format.New(p, format.Info{GeneratedAt: benchGeneratedAt})
	if err != nil {
		tb.Fatal(err)
	}
	return p, enc
}

// benchSum is what an export's uncompressed stream must be: its length and
// CRC-32, from the header to the footer.
type benchSum struct {
	size int64
	crc  uint32
}

func (s *benchSum) add(b []byte) {
	s.size += int64(len(b))
	s.crc = crc32.Update(s.crc, crc32.IEEETable, b)
}

var benchSums = map[request.Format]benchSum{}

// benchWant encodes docs record by record without the pipeline, once per
// format and process, and returns the stream's sum.
func benchWant(tb testing.TB, f request.Format, enc *format.Encoder, docs []bson.Raw) benchSum {
	tb.Helper()
	if s, ok := benchSums[f]; ok {
		return s
	}
	var s benchSum
	s.add(enc.Header())
	var buf []byte
	for i, d := range docs {
		var err error
		if buf, err = enc.Append(buf[:0], d, int64(i)); err != nil {
			tb.Fatal(err)
		}
		s.add(buf)
	}
	s.add(enc.Footer())
	benchSums[f] = s
	return s
}

// benchMeter counts the documents, heap allocations and CPU time of a
// benchmark's timed operations. It reports docs/s (wall clock), allocs/doc,
// and docs/cpu-s: documents per second of CPU used by the whole process,
// garbage collector included, which a machine shared with other work does
// not distort as much as the wall clock.
type benchMeter struct {
	ms               runtime.MemStats
	from, mallocs    uint64
	cpuFrom, cpuTime time.Duration
	docs             int64
}

func (m *benchMeter) start() {
	runtime.ReadMemStats(&m.ms)
	m.from = m.ms.Mallocs
	m.cpuFrom = benchCPU()
}

func (m *benchMeter) stop(docs int) {
	m.cpuTime += benchCPU() - m.cpuFrom
	runtime.ReadMemStats(&m.ms)
	m.mallocs += m.ms.Mallocs - m.from
	m.docs += int64(docs)
}

func (m *benchMeter) report(b *testing.B) {
	if m.docs == 0 {
		return
	}
	b.ReportMetric(float64(m.docs)/b.Elapsed().Seconds(), "docs/s")
	b.ReportMetric(float64(m.mallocs)/float64(m.docs), "allocs/doc")
	if m.cpuTime > 0 {
		b.ReportMetric(float64(m.docs)/m.cpuTime.Seconds(), "docs/cpu-s")
	}
}

// benchCPU is the CPU time the process has used, user and system.
func benchCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipeline measures pipeline.Run from an in-memory source to
// sealed chunk files in a temporary directory, with GOMAXPROCS encoders.
// Every run's chunks are checked (records, raw bytes and file sizes), and
// the first run's are decompressed and compared with the stream encoded
// without the pipeline. seal-ms/op is the wall time the writer spends
// sealing chunks (sync, rename, directory sync), during which the stages
// before it can only fill the channels.
func BenchmarkPipeline(b *testing.B) {
	docs, size := benchTasks()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			p, enc := benchEncoder(b, bc.req)
			want := benchWant(b, p.Format, enc, docs)
			dir := b.TempDir()
			var chunks []api.Chunk
			// The writer seals a chunk (sync, rename, directory sync) between
			// the AfterWrite hook and Commit: sealing is how long that is.
			var sealFrom time.Time
			var sealing time.Duration
			cfg := pipeline.Config{
				Plan: p, Encoder: enc, Dir: dir,
				Hooks: chunker.Hooks{AfterWrite: func(string) { sealFrom = time.Now() }},
				Commit: func(_ context.Context, c api.Chunk, _ bool) error {
					sealing += time.Since(sealFrom)
					chunks = append(chunks, c)
					return nil
				},
			}
			b.SetBytes(size)
			b.ReportAllocs()
			var m benchMeter
			first := true
			for b.Loop() {
				chunks = chunks[:0]
				cfg.Source = pipeline.NewSlice(docs)
				m.start()
				if _, err := pipeline.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				m.stop(len(docs))
				b.StopTimer()
				benchCheckChunks(b, dir, p.Compression, chunks, int64(len(docs)), want, first)
				first = false
				b.StartTimer()
			}
			m.report(b)
			b.ReportMetric(float64(sealing.Milliseconds())/float64(b.N), "seal-ms/op")
		})
	}
}

// benchCheckChunks checks one export's chunks and removes their files;
// with full set, it also decompresses them and compares the result with
// want.
func benchCheckChunks(b *testing.B, dir string, c request.Compression, chunks []api.Chunk, docs int64, want benchSum, full bool) {
	b.Helper()
	var records, raw int64
	var got benchSum
	var out []byte
	for i, ch := range chunks {
		path := filepath.Join(dir, ch.Name)
		if ch.Index != i {
			b.Fatalf("chunk %d has index %d", i, ch.Index)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		if fi.Size() != ch.Bytes {
			b.Fatalf("chunk %d: %d bytes on disk, committed %d", i, fi.Size(), ch.Bytes)
		}
		records += ch.Records
		raw += ch.RawBytes
		if full {
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			out = benchDecompress(b, c, data, out[:0])
			if int64(len(out)) != ch.RawBytes {
				b.Fatalf("chunk %d: %d bytes decompressed, committed %d raw bytes", i, len(out), ch.RawBytes)
			}
			got.add(out)
		}
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
	}
	if records != docs || raw != want.size {
		b.Fatalf("chunks hold %d records and %d raw bytes, want %d and %d", records, raw, docs, want.size)
	}
	if full && got != want {
		b.Fatalf("decompressed chunks (%d bytes, crc %08x) differ from the stream encoded without the pipeline (%d bytes, crc %08x)",
			got.size, got.crc, want.size, want.crc)
	}
}

// benchDecompress appends the decompressed data to dst.
func benchDecompress(tb testing.TB, c request.Compression, data, dst []byte) []byte {
	tb.Helper()
	switch c {
	case request.Zstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			tb.Fatal(err)
		}
		defer d.Close()
		out, err := d.DecodeAll(data, dst)
		if err != nil {
			tb.Fatal(err)
		}
		return out
	case request.Gzip:
		r, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			tb.Fatal(err)
		}
		w := bytes.NewBuffer(dst)
		if _, err := io.Copy(w, r); err != nil {
			tb.Fatal(err)
		}
		return w.Bytes()
	}
	return append(dst, data...)
}

// BenchmarkCeiling measures the stages alone, in a plain loop on one
// goroutine over the same documents and with the pipeline's settings:
// encode-* is format.Encoder.Append into a reused buffer; zstd and gzip
// compress the already encoded ndjson and csv streams; encode+* does both,
// a batch of 1,000 records at a time, as the pipeline's stages do. Each
// chunk of 100,000 records is one zstd frame or gzip member.
func BenchmarkCeiling(b *testing.B) {
	ndjson := request.Request{Format: request.NDJSON, Compression: request.Zstd}
	csv := request.Request{Format: request.CSV, Compression: request.Gzip, Fields: benchFields}
	b.Run("encode-ndjson", func(b *testing.B) { benchCeilingEncode(b, ndjson) })
	b.Run("encode-csv", func(b *testing.B) { benchCeilingEncode(b, csv) })
	b.Run("zstd", func(b *testing.B) { benchCeilingCompress(b, ndjson, false) })
	b.Run("gzip", func(b *testing.B) { benchCeilingCompress(b, csv, false) })
	b.Run("encode+zstd-ndjson", func(b *testing.B) { benchCeilingCompress(b, ndjson, true) })
	b.Run("encode+gzip-csv", func(b *testing.B) { benchCeilingCompress(b, csv, true) })
}

func benchCeilingEncode(b *testing.B, req request.Request) {
	docs, size := benchTasks()
	p, enc := benchEncoder(b, req)
	want := benchWant(b, p.Format, enc, docs)
	batch := int(p.BatchSize)
	buf := make([]byte, 0, 1<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	var m benchMeter
	first := true
	for b.Loop() {
		m.start()
		var got benchSum
		got.add(enc.Header())
		for from := 0; from < len(docs); from += batch {
			buf = buf[:0]
			for i := from; i < min(from+batch, len(docs)); i++ {
				var err error
				if buf, err = enc.Append(buf, docs[i], int64(i)); err != nil {
					b.Fatal(err)
				}
			}
			if first {
				got.add(buf)
			} else {
				got.size += int64(len(buf))
			}
		}
		got.add(enc.Footer())
		m.stop(len(docs))
		if got.size != want.size || first && got.crc != want.crc {
			b.Fatalf("encoded %d bytes (crc %08x), want %d (crc %08x)", got.size, got.crc, want.size, want.crc)
		}
		first = false
	}
	m.report(b)
}

// benchStream is an export's whole encoded stream and where each record
// ends in it.
type benchStream struct {
	data []byte
	ends []int
}

func benchEncodeAll(tb testing.TB, enc *format.Encoder, docs []bson.Raw) *benchStream {
	tb.Helper()
	s := &benchStream{data: append([]byte(nil), enc.Header()...), ends: make([]int, len(docs))}
	for i, d := range docs {
		var err error
		if s.data, err = enc.Append(s.data, d, int64(i)); err != nil {
			tb.Fatal(err)
		}
		s.ends[i] = len(s.data)
	}
	s.data = append(s.data, enc.Footer()...)
	return s
}

// from is where record i starts; the header belongs to record 0.
func (s *benchStream) from(i int) int {
	if i == 0 {
		return 0
	}
	return s.ends[i-1]
}

// benchFrame makes the pipeline's compressor for c at its default level:
// zstd SpeedDefault without background goroutines, or gzip level 6.
func benchFrame(tb testing.TB, c request.Compression) interface {
	io.WriteCloser
	Reset(io.Writer)
} {
	tb.Helper()
	switch c {
	case request.Zstd:
		z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
		if err != nil {
			tb.Fatal(err)
		}
		return z
	case request.Gzip:
		g, err := gzip.NewWriterLevel(io.Discard, 6)
		if err != nil {
			tb.Fatal(err)
		}
		return g
	}
	tb.Fatalf("no ceiling for compression %q", c)
	return nil
}

// benchBuffer collects compressed bytes in memory, reused across runs.
type benchBuffer struct{ b []byte }

func (w *benchBuffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// benchCeilingCompress compresses the export one chunk per frame; with
// encode set it encodes each batch just before compressing it, else it
// compresses the stream encoded beforehand. Each run's compressed size must
// equal the first's (the compressors are deterministic), and the first
// run's chunks are decompressed and compared with the stream.
func benchCeilingCompress(b *testing.B, req request.Request, encode bool) {
	docs, size := benchTasks()
	p, enc := benchEncoder(b, req)
	want := benchWant(b, p.Format, enc, docs)
	var stream *benchStream
	if !encode {
		stream = benchEncodeAll(b, enc, docs)
	}
	frame := benchFrame(b, p.Compression)
	per, batch := int(p.ChunkRecords), int(p.BatchSize)
	outs := make([]benchBuffer, (len(docs)+per-1)/per)
	for k := range outs { // room for chunks at least twice smaller, so that no run grows them
		outs[k].b = make([]byte, 0, want.size/int64(len(outs))/2)
	}
	buf := make([]byte, 0, 1<<20)
	write := func(data []byte) {
		if _, err := frame.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var m benchMeter
	var firstSize int64
	for b.Loop() {
		m.start()
		var total int64
		for k := range outs {
			out := &outs[k]
			out.b = out.b[:0]
			frame.Reset(out)
			lo, hi := k*per, min((k+1)*per, len(docs))
			if encode && lo == 0 {
				write(enc.Header())
			}
			for from := lo; from < hi; from += batch {
				to := min(from+batch, hi)
				if !encode {
					write(stream.data[stream.from(from):stream.ends[to-1]])
					continue
				}
				buf = buf[:0]
				for i := from; i < to; i++ {
					var err error
					if buf, err = enc.Append(buf, docs[i], int64(i)); err != nil {
						b.Fatal(err)
					}
				}
				write(buf)
			}
			if hi == len(docs) {
				if encode {
					write(enc.Footer())
				} else {
					write(stream.data[stream.ends[hi-1]:])
				}
			}
			if err := frame.Close(); err != nil {
				b.Fatal(err)
			}
			total += int64(len(out.b))
		}
		m.stop(len(docs))
		if firstSize == 0 {
			b.StopTimer()
			var got benchSum
			var dec []byte
			for _, out := range outs {
				dec = benchDecompress(b, p.Compression, out.b, dec[:0])
				got.add(dec)
			}
			if got != want {
				b.Fatalf("decompressed %d bytes (crc %08x), want %d (crc %08x)", got.size, got.crc, want.size, want.crc)
			}
			firstSize = total
			b.StartTimer()
		}
		if total != firstSize {
			b.Fatalf("compressed %d bytes, the first run %d", total, firstSize)
		}
	}
	m.report(b)
	b.ReportMetric(float64(want.size)/float64(firstSize), "x-smaller")
}
