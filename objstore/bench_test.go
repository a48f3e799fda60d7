package objstore_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/exportd/exportd/internal/s3test"
	"github.com/exportd/exportd/objstore"
)

// BenchmarkPutChunk uploads one chunk file to a versitygw on loopback, in
// one PUT and as a multipart upload; MB/s is the upload rate, SHA-256
// checks (client and server) included.
func BenchmarkPutChunk(b *testing.B) {
	for _, c := range []struct {
		name     string
		size     int
		partSize int64
	}{
		{"single-16MiB", 16 << 20, 0},
		{"multipart-48MiB-16MiB-parts", 48 << 20, 16 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv := s3test.Spawn(b)
			s := newStore(b, srv, "bench", func(cfg *objstore.Config) { cfg.PartSize = c.partSize })
			path, data, sum := writeChunk(b, b.TempDir(), c.size, 9)
			ctx := context.Background()
			b.SetBytes(int64(c.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.PutChunk(ctx, exportID, 0, "ndjson.zst", path, int64(c.size), sum); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			key, _ := s.ChunkKey(exportID, 0, "ndjson.zst")
			info, err := s.Stat(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			if info.Size != int64(len(data)) {
				b.Fatalf("stored %d bytes, put %d", info.Size, len(data))
			}
			if c.partSize == 0 {
				raw, _ := hex.DecodeString(sum)
				if info.ChecksumSHA256 != base64.StdEncoding.EncodeToString(raw) {
					b.Fatalf("stored SHA-256 %s, want %s", info.ChecksumSHA256, sum)
				}
			} else if info.ChecksumSHA256 == "" {
				b.Fatal("the multipart object has no SHA-256")
			}
		})
	}
}
