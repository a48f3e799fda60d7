package httpapi

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/chunker"
	"github.com/exportd/exportd/request"
)

// benchSize is the size of a benchmark export: large enough that a
// download is dominated by copying, not by the request.
const benchSize = 256 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// benchExport writes a completed export of size bytes in count chunks
// of pseudo-random data, and returns its id and the CRC-32C of each of
// parts equal slices of the whole (the last one takes the remainder) and
// of the whole.
func benchExport(b *testing.B, fx *fixture, size int64, count, parts int) (id string, partSums []uint32, sum uint32) {
	b.Helper()
	id = checkpoint.NewID()
	dir := filepath.Join(fx.exports.root, id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	const block = 1 << 20
	buf := make([]byte, block)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < block; i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	finished := fx.created
	m := &api.Manifest{ID: id, Request: []byte(`{"format":"ndjson","compression":"zstd"}`), State: api.StateCompleted,
		Format: api.NDJSON, Compression: api.Zstd, Ext: "ndjson.zst",
		CreatedAt: fx.created, FinishedAt: &finished}
	partSums = make([]uint32, parts)
	partSize := size / int64(parts)
	var off int64
	for i := range count {
		name := chunker.Name(i, request.Ext(request.NDJSON, request.Zstd))
		f, err := chunker.Create(dir, name, chunker.Hooks{})
		if err != nil {
			b.Fatal(err)
		}
		for end := size * int64(i+1) / int64(count); off < end; {
			binary.LittleEndian.PutUint64(buf, uint64(off)) // every block differs
			n := min(int64(block), end-off)
			// Split the write where a part ends, to keep per-part sums.
			if p := off / partSize; p < int64(parts)-1 {
				n = min(n, (p+1)*partSize-off)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				b.Fatal(err)
			}
			p := min(off/partSize, int64(parts)-1)
			partSums[p] = crc32.Update(partSums[p], castagnoli, buf[:n])
			sum = crc32.Update(sum, castagnoli, buf[:n])
			off += n
		}
		n, sha, err := f.Seal()
		if err != nil {
			b.Fatal(err)
		}
		m.Chunks = append(m.Chunks, api.Chunk{Index: i, Name: name, Bytes: n, SHA256: sha})
		m.Bytes += n
	}
	if err := chunker.WriteManifest(dir, m); err != nil {
		b.Fatal(err)
	}
	return id, partSums, sum
}

// benchGet downloads path (with a Range header if rng is not empty)
// and returns the CRC-32C and length of the body.
func benchGet(client *http.Client, url, rng string, wantStatus int) (uint32, int64, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, 0, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != wantStatus {
		return 0, 0, fmt.Errorf("status %d, want %d", resp.StatusCode, wantStatus)
	}
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, resp.Body)
	return h.Sum32(), n, err
}

// BenchmarkDownload serves a 256 MiB export over loopback: one chunk
// file as a whole and as 8 parallel Range requests, and the same bytes in
// 4 chunks through /data (the virtual file). Every body is checked
// against the CRC-32C of the bytes written.
func BenchmarkHTTPDownload(b *testing.B) {
	const parallel = 8
	fx := newFixture(b, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: parallel, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)

	oneChunk, oneSums, oneSum := benchExport(b, fx, benchSize, 1, parallel)
	fourChunks, fourSums, fourSum := benchExport(b, fx, benchSize, 4, parallel)

	for _, bc := range []struct {
		name string
		path string
		sums []uint32
		sum  uint32
	}{
		{"chunk", "/exports/" + oneChunk + "/chunks/0", oneSums, oneSum},
		{"data-4chunks", "/exports/" + fourChunks + "/data", fourSums, fourSum},
	} {
		url := fx.srv.URL + bc.path
		wantWhole := bc.sum
		b.Run(bc.name+"/whole", func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				sum, n, err := benchGet(client, url, "", http.StatusOK)
				if err != nil || n != benchSize || sum != wantWhole {
					b.Fatalf("GET: %d bytes, crc %08x, %v; want %d bytes, crc %08x", n, sum, err, benchSize, wantWhole)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/ranges%d", bc.name, parallel), func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			part := int64(benchSize / parallel)
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make([]error, parallel)
				for i := range parallel {
					wg.Go(func() {
						first, last := int64(i)*part, int64(i+1)*part-1
						if i == parallel-1 {
							last = benchSize - 1
						}
						sum, n, err := benchGet(client, url, fmt.Sprintf("bytes=%d-%d", first, last), http.StatusPartialContent)
						if err == nil && (n != last-first+1 || sum != bc.sums[i]) {
							err = fmt.Errorf("range %d: %d bytes, crc %08x; want %d bytes, crc %08x", i, n, sum, last-first+1, bc.sums[i])
						}
						errs[i] = err
					})
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
