package format_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"testing"

	"github.com/exportd/exportd/format"
	"github.com/exportd/exportd/internal/devmongo"
	"github.com/exportd/exportd/request"
)

// Whatever the format and output options of a request, a plan Compile
// accepts is one the encoder takes, and n records encode to one valid
// file of n records: a JSON array of n, an envelope whose array holds n,
// n ndjson lines, or n csv rows after the header line if there is one.
func FuzzOutputOptions(f *testing.F) {
	f.Add("json", true, true, false, uint8(3))
	f.Add("json", false, true, false, uint8(0))
	f.Add("csv", false, false, true, uint8(2))
	f.Add("csv", true, false, false, uint8(1))
	f.Add("ndjson", false, false, false, uint8(4))
	f.Fuzz(func(t *testing.T, fmtName string, bare, header, mark bool, n uint8) {
		r := request.Request{Database: "app", Collection: "tasks", Format: request.Format(fmtName), Fields: []string{"_id", "title", "tags"},
			JSONArray: bare, CSVHeader: &header, CSVBOM: &mark}
		p, err := request.Compile(&r)
		if err != nil {
			return
		}
		if p.JSONArray != bare || p.CSVNoHeader == header && p.Format == request.CSV {
			t.Fatalf("request jsonArray %v csvHeader %v gave plan %v %v", bare, header, p.JSONArray, p.CSVNoHeader)
		}
		if _, err := format.New(p, format.Info{GeneratedAt: generatedAt}); err != nil {
			t.Fatalf("an accepted plan the encoder refuses: %v (%+v)", err, p)
		}
		docs := devmongo.Tasks(int(n % 8))
		out := encodeAll(t, p, docs...)
		switch p.Format {
		case request.JSON:
			var got []json.RawMessage
			if p.JSONArray {
				err = json.Unmarshal(out, &got)
			} else {
				var env map[string]json.RawMessage
				if err = json.Unmarshal(out, &env); err == nil {
					err = json.Unmarshal(env[p.ArrayKey], &got)
				}
			}
			if err != nil || len(got) != len(docs) {
				t.Fatalf("%d documents: %v\n%s", len(got), err, out)
			}
		case request.NDJSON:
			if c := bytes.Count(out, []byte("\n")); c != len(docs) || !bytes.HasPrefix(out, []byte("{")) && len(docs) > 0 {
				t.Fatalf("%d lines", c)
			}
		case request.CSV:
			out, _ = bytes.CutPrefix(out, []byte(bom))
			rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
			want := len(docs)
			if !p.CSVNoHeader {
				want++
			}
			if err != nil || len(rows) != want {
				t.Fatalf("%d rows, want %d: %v", len(rows), want, err)
			}
			if !p.CSVNoHeader && rows[0][0] != "_id" {
				t.Fatalf("header %q", rows[0])
			}
		}
	})
}
