package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
)

// The daemon takes jsonArray and csvHeader as request fields over NATS:
// its chunks are the foreground export's of the same request, byte for
// byte, through the tasks profile too (whose arrayKey and column headers
// those requests turn off); a request that misuses them is refused with
// the field named.
func TestDaemonOutputOptions(t *testing.T) {
	coll := smallCollection(t)
	requests := []string{
		`{"database": "app", "collection": "` + coll + `", "format": "json", "jsonArray": true, "compression": "none", "chunkRecords": 200, "limit": 500}`,
		`{"profile": "tasks", "collection": "` + coll + `", "format": "json", "jsonArray": true, "chunkRecords": 200, "limit": 500}`,
		`{"profile": "tasks", "collection": "` + coll + `", "format": "csv", "csvHeader": false, "compression": "gzip", "chunkRecords": 200, "limit": 500}`,
	}
	var want [][]byte
	for _, req := range requests {
		file := filepath.Join(t.TempDir(), "req.json")
		os.WriteFile(file, []byte(req), 0o644)
		out := filepath.Join(t.TempDir(), "ref")
		runExportd(t, nil, "export", "--uri", database(t), "--profiles", "../../configs/profiles", "--quiet", "--request", file, "-o", out).wantCode(t, 0)
		want = append(want, concatChunks(t, out))
	}

	data := t.TempDir()
	d := serveDaemon(t, data, freeAddr(t), freeAddr(t))
	nc := connect(t, d.nats)
	defer nc.Close()
	for i, req := range requests {
		msg, err := nc.Request("exports.start", []byte(req), 30*time.Second)
		if err != nil || msg.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("start %d: %v %s", i, err, msg.Data)
		}
		var rep struct{ ID string }
		json.Unmarshal(msg.Data, &rep)
		deadline := time.Now().Add(3 * time.Minute)
		var m *api.Manifest
		for {
			m = status(t, nc, rep.ID)
			if m.State == api.StateCompleted || m.State == api.StateFailed || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if m.State != api.StateCompleted || m.Records != 500 || len(m.Chunks) != 3 {
			t.Fatalf("export %d: %s, %d records in %d chunks (%s)", i, m.State, m.Records, len(m.Chunks), m.Error)
		}
		var got []byte
		for _, c := range m.Chunks {
			b, err := os.ReadFile(filepath.Join(data, "exports", rep.ID, c.Name))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("export %d: the daemon's %d bytes are not the foreground's %d", i, len(got), len(want[i]))
		}
		switch doc := plain(t, m.Chunks[0].Name, got); i {
		case 0, 1:
			var arr []json.RawMessage
			if err := json.Unmarshal(doc, &arr); err != nil || len(arr) != 500 {
				t.Fatalf("export %d: %d array elements, %v", i, len(arr), err)
			}
		case 2:
			rows, err := csv.NewReader(bytes.NewReader(doc)).ReadAll()
			if err != nil || len(rows) != 500 || rows[0][0] == "ID" || len(rows[0]) != 13 {
				t.Fatalf("export %d: %d rows, the first %q: %v", i, len(rows), rows[0], err)
			}
		}
	}

	for _, tc := range []struct{ req, field string }{
		{`{"database": "app", "collection": "small", "format": "csv", "fields": ["_id"], "jsonArray": true}`, "jsonArray"},
		{`{"database": "app", "collection": "small", "format": "json", "jsonArray": true, "arrayKey": "tasks"}`, "arrayKey"},
		{`{"database": "app", "collection": "small", "csvHeader": false}`, "csvHeader"},
	} {
		msg, err := nc.Request("exports.start", []byte(tc.req), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code, text := msg.Header.Get("Nats-Service-Error-Code"), msg.Header.Get("Nats-Service-Error"); code != "400" || !strings.HasPrefix(text, tc.field+": ") && !strings.Contains(text, " "+tc.field+": ") {
			t.Fatalf("%s: error %s %q, want 400 naming %s", tc.req, code, text, tc.field)
		}
	}
}
