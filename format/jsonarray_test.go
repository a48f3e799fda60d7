package format_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/pipeline"
	"github.com/exportd/exportd/request"
)

// tasks are the first n devmongo tasks.
func tasks(n int) []bson.Raw {
	docs := make([]bson.Raw, n)
	for i := range docs {
		docs[i] = devmongo.Task(int64(i))
	}
	return docs
}

// extJSON is each document's Extended JSON, as the driver writes it.
func extJSON(t *testing.T, canonical bool, docs []bson.Raw) [][]byte {
	t.Helper()
	out := make([][]byte, len(docs))
	for i, d := range docs {
		b, err := bson.MarshalExtJSON(d, canonical, false)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// A bare array is "[", each document on a line of its own with a comma
// between, and "]": the documents are those of ndjson, and the array's
// inside is the envelope's, byte for byte.
func TestJSONArrayBytes(t *testing.T) {
	docs := append([]bson.Raw{allTypes(t)}, tasks(5)...)
	for _, tc := range []struct {
		name string
		docs []bson.Raw
		want string // "" to build it from the documents
	}{
		{"empty", nil, "[\n]\n"},
		{"one record", docs[1:2], ""},
		{"several", docs, ""},
	} {
		for _, mode := range []string{"relaxed", "canonical"} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				bare := compile(t, request.Request{Format: request.JSON, JSONArray: true, JSONFormat: mode})
				got := encodeAll(t, bare, tc.docs...)
				lines := extJSON(t, mode == "canonical", tc.docs)
				want := tc.want
				if want == "" {
					want = "[\n" + string(bytes.Join(lines, []byte(",\n"))) + "\n]\n"
				}
				if string(got) != want {
					t.Fatalf("got %q\nwant %q", got, want)
				}
				var arr []json.RawMessage
				if err := json.Unmarshal(got, &arr); err != nil || len(arr) != len(tc.docs) {
					t.Fatalf("%d elements: %v", len(arr), err)
				}
				for i, el := range arr {
					if !bytes.Equal(el, lines[i]) {
						t.Fatalf("element %d is %s, not the document's %s", i, el, lines[i])
					}
				}
				if len(tc.docs) == 0 {
					return
				}
				env := encodeAll(t, compile(t, request.Request{Format: request.JSON, JSONFormat: mode}), tc.docs...)
				inside := got[len("[\n") : len(got)-len("\n]\n")]
				if !bytes.Contains(env, append(append([]byte(":[\n"), inside...), "\n]}\n"...)) {
					t.Fatalf("the array's inside is not the envelope's:\n%q\n%q", got, env)
				}
			})
		}
	}
}

// The golden bare array: the envelope golden's documents.
func TestJSONArrayGolden(t *testing.T) {
	when := bson.DateTime(time.Date(2024, 3, 5, 6, 7, 8, 9e6, time.UTC).UnixMilli())
	var docs []bson.Raw
	for i, id := range []string{"64b7f0c2a1b2c3d4e5f60718", "64b7f0c2a1b2c3d4e5f60719"} {
		raw, _ := bson.Marshal(bson.D{{Key: "_id", Value: mustOID(id)}, {Key: "n", Value: int32(i + 1)}, {Key: "when", Value: when}})
		docs = append(docs, raw)
	}
	golden(t, "array.json", encodeAll(t, compile(t, request.Request{Format: request.JSON, JSONArray: true}), docs...))
}

// A bare array says nothing of the export but its documents: the bytes do
// not depend on the export's creation time, and the header and footer are
// fixed.
func TestJSONArrayNoExportInfo(t *testing.T) {
	p := compile(t, request.Request{Format: request.JSON, JSONArray: true})
	a, err := format.New(p, format.Info{GeneratedAt: generatedAt})
	if err != nil {
		t.Fatal(err)
	}
	b, err := format.New(p, format.Info{GeneratedAt: generatedAt.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if string(a.Header()) != "[" || string(b.Header()) != "[" || string(a.Footer()) != "\n]\n" || string(b.Footer()) != "\n]\n" {
		t.Fatalf("header %q %q, footer %q %q", a.Header(), b.Header(), a.Footer(), b.Footer())
	}
}

// The plans the encoder cannot honour are refused, even if they did not
// come from Compile.
func TestJSONArrayOtherFormats(t *testing.T) {
	for _, f := range []request.Format{request.NDJSON, request.CSV} {
		p := compile(t, request.Request{Format: f, Fields: []string{"_id"}})
		p.JSONArray = true
		if _, err := format.New(p, format.Info{}); err == nil {
			t.Fatalf("a bare array with format %s accepted", f)
		}
	}
}

// Through the pipeline: only chunk 0 starts with "[" and only the last
// ends with "]"; the chunks concatenated, compressed or not, are one JSON
// array of every document; a run resumed at a later chunk writes the same
// chunks.
func TestJSONArrayChunks(t *testing.T) {
	docs := tasks(1000)
	lines := extJSON(t, false, docs)
	for _, c := range []request.Compression{request.Gzip, request.Zstd, request.None} {
		t.Run(string(c), func(t *testing.T) {
			p := compile(t, request.Request{Format: request.JSON, JSONArray: true, Compression: c, ChunkRecords: 300, BatchSize: 64})
			full := runChunks(t, p, docs, pipeline.Position{})
			if len(full.chunks) != 4 {
				t.Fatalf("%d chunks, want 4", len(full.chunks))
			}
			last := len(full.files) - 1
			var joined, inflated []byte
			for i, f := range full.files {
				alone := inflate(t, p, f)
				if got := bytes.HasPrefix(alone, []byte("[")); got != (i == 0) {
					t.Errorf("chunk %d starts with [: %v", i, got)
				}
				if got := bytes.HasSuffix(alone, []byte("\n]\n")); got != (i == last) {
					t.Errorf("chunk %d ends with ]: %v", i, got)
				}
				joined = append(joined, f...)
				inflated = append(inflated, alone...)
			}
			whole := inflate(t, p, joined)
			if !bytes.Equal(whole, inflated) {
				t.Fatal("the chunks concatenated do not decompress to the chunks one by one")
			}
			if want := "[\n" + string(bytes.Join(lines, []byte(",\n"))) + "\n]\n"; string(whole) != want {
				t.Fatalf("the export (%d bytes) is not the array of the documents (%d bytes)", len(whole), len(want))
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(whole, &arr); err != nil || len(arr) != len(docs) {
				t.Fatalf("%d elements: %v", len(arr), err)
			}
			wantResumed(t, p, docs, full, 1, 3)
		})
	}
}

// An empty export is one chunk holding the empty array.
func TestJSONArrayEmptyExport(t *testing.T) {
	p := compile(t, request.Request{Format: request.JSON, JSONArray: true, Compression: request.Zstd})
	r := runChunks(t, p, nil, pipeline.Position{})
	if len(r.chunks) != 1 || r.chunks[0].Records != 0 {
		t.Fatalf("%d chunks: %+v", len(r.chunks), r.chunks)
	}
	if got := inflate(t, p, r.files[0]); string(got) != "[\n]\n" || r.chunks[0].RawBytes != int64(len(got)) {
		t.Fatalf("empty export %q, rawBytes %d", got, r.chunks[0].RawBytes)
	}
}

// wantResumed runs the export again from each chunk of from, as a resume
// after it does, and checks that it writes the chunks of full from there,
// byte for byte.
func wantResumed(t *testing.T, p *request.Plan, docs []bson.Raw, full *chunkRun, from ...int) {
	t.Helper()
	for _, k := range from {
		start := pipeline.Position{Chunk: k}
		for _, c := range full.chunks[:k] {
			start.Record += c.Records
		}
		part := runChunks(t, p, docs, start)
		if len(part.chunks) != len(full.chunks)-k {
			t.Fatalf("from chunk %d: %d chunks, want %d", k, len(part.chunks), len(full.chunks)-k)
		}
		for i, c := range part.chunks {
			want := full.chunks[k+i]
			if c.SHA256 != want.SHA256 || c.Name != want.Name || c.RawBytes != want.RawBytes || !bytes.Equal(part.files[i], full.files[k+i]) {
				t.Fatalf("from chunk %d: chunk %d differs", k, c.Index)
			}
		}
	}
}
