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
	docs := append([]bson.Raw{allTypes(t)}, devmongo.Tasks(5)...)
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
	golden(t, "array.json", encodeAll(t, compile(t, request.Request{Format: request.JSON, JSONArray: true}), goldenDocs()...))
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
	docs := devmongo.Tasks(1000)
	lines := extJSON(t, false, docs)
	for _, c := range []request.Compression{request.Gzip, request.Zstd, request.None} {
		t.Run(string(c), func(t *testing.T) {
			p := compile(t, request.Request{Format: request.JSON, JSONArray: true, Compression: c, ChunkRecords: 300, BatchSize: 64})
			full := runChunks(t, p, docs, pipeline.Position{})
			if len(full.chunks) != 4 {
				t.Fatalf("%d chunks, want 4", len(full.chunks))
			}
			last := len(full.files) - 1
			whole := joinChunks(t, p, full, func(i int, alone []byte) {
				if got := bytes.HasPrefix(alone, []byte("[")); got != (i == 0) {
					t.Errorf("chunk %d starts with [: %v", i, got)
				}
				if got := bytes.HasSuffix(alone, []byte("\n]\n")); got != (i == last) {
					t.Errorf("chunk %d ends with ]: %v", i, got)
				}
			})
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
