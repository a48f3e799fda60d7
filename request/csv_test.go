package request

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const csvReq = `{"database": "app", "collection": "tasks", "format": "csv", "fields": ["_id", "tags"]`

func TestCSVOptionsAccepted(t *testing.T) {
	cases := []struct {
		name, req string
		sep       string
		bom       bool
	}{
		{"none", csvReq + `}`, "", false},
		{"join, default separator", csvReq + `, "csvArrays": "join"}`, DefaultCSVArraySeparator, false},
		{"join, own separator", csvReq + `, "csvArrays": "join", "csvArraySeparator": " | "}`, " | ", false},
		{"join, comma separator", csvReq + `, "csvArrays": "join", "csvArraySeparator": ","}`, ",", false},
		{"json said out loud", csvReq + `, "csvArrays": "json"}`, "", false},
		{"bom", csvReq + `, "csvBom": true}`, "", true},
		{"bom off", csvReq + `, "csvBom": false}`, "", false},
		{"both", csvReq + `, "csvArrays": "join", "csvBom": true}`, DefaultCSVArraySeparator, true},
		{"ndjson with the defaults said", `{"database": "app", "collection": "tasks", "csvArrays": "json", "csvBom": false}`, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compileJSON(t, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.CSVArraySeparator != tc.sep || p.CSVBOM != tc.bom {
				t.Fatalf("separator %q, bom %v; want %q, %v", p.CSVArraySeparator, p.CSVBOM, tc.sep, tc.bom)
			}
		})
	}
}

func TestCSVOptionRefusals(t *testing.T) {
	cases := []struct {
		name, req, field, msg string
	}{
		{"unknown mode", csvReq + `, "csvArrays": "flatten"}`, "csvArrays", `unknown array mode "flatten" (one of "json", "join")`},
		{"separator without join", csvReq + `, "csvArraySeparator": "|"}`, "csvArraySeparator", `needs csvArrays "join"`},
		{"separator with json", csvReq + `, "csvArrays": "json", "csvArraySeparator": "|"}`, "csvArraySeparator", `needs csvArrays "join"`},
		{"separator too long", csvReq + `, "csvArrays": "join", "csvArraySeparator": "` + strings.Repeat("-", 17) + `"}`, "csvArraySeparator", "17 bytes, at most 16"},
		{"separator line break", csvReq + `, "csvArrays": "join", "csvArraySeparator": "\n"}`, "csvArraySeparator", "control character"},
		{"separator tab", csvReq + `, "csvArrays": "join", "csvArraySeparator": "\t"}`, "csvArraySeparator", "control character"},
		{"join with ndjson", `{"database": "app", "collection": "tasks", "csvArrays": "join"}`, "csvArrays", `applies only to format "csv", not "ndjson"`},
		{"bom with json", `{"database": "app", "collection": "tasks", "format": "json", "csvBom": true}`, "csvBom", `applies only to format "csv", not "json"`},
		{"bom not a boolean", csvReq + `, "csvBom": "yes"}`, "csvBom", "must be a JSON boolean"},
		{"mode not a string", csvReq + `, "csvArrays": 1}`, "csvArrays", "must be a JSON string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tc.req, tc.field, tc.msg)
		})
	}
	if msg := checkArraySeparator("\xff"); msg != "must be UTF-8 text" {
		t.Errorf("invalid UTF-8 separator: %q", msg)
	}
}

// A request without the csv options compiles to the plan JSON of before
// they existed, byte for byte: stored plans keep their meaning, and
// `exportd export` run again over an old --out finds the same plan. (Every
// field added to Plan must keep this: omitempty, zero meaning "as before".)
func TestPlanJSONWithoutCSVOptions(t *testing.T) {
	p, err := compileJSON(t, `{"database": "app", "collection": "tasks", "format": "csv", "compression": "gzip",
		"fields": ["_id", "tags"], "headers": ["ID", "Tags"]}`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const before = `{"database":"app","collection":"tasks","format":"csv","compression":"gzip","canonical":false,` +
		`"sortKeys":[{"path":"_id"}],"fields":["_id","tags"],"chunkRecords":100000,"chunkBytes":67108864,"batchSize":1000,` +
		`"progressEvery":1000,"formulaGuard":true,"arrayKey":"documents","headers":["ID","Tags"],` +
		`"sort":{"_id":{"$numberInt":"1"}},"projection":{"_id":{"$numberInt":"1"},"tags":{"$numberInt":"1"}}}`
	if string(got) != before {
		t.Fatalf("plan JSON changed:\n got %s\nwant %s", got, before)
	}
}

func TestPlanJSONWithCSVOptions(t *testing.T) {
	p, err := compileJSON(t, csvReq+`, "csvArrays": "join", "csvArraySeparator": " / ", "csvBom": true}`)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"csvArraySeparator":" / ","csvBom":true`) {
		t.Fatalf("plan JSON %s", data)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.CSVArraySeparator != " / " || !back.CSVBOM {
		t.Fatalf("read back: %q %v", back.CSVArraySeparator, back.CSVBOM)
	}
}

func TestTasksProfileCSVOptions(t *testing.T) {
	p := tasksProfile(t)
	cases := []struct {
		name, req string
		sep       string
		bom       bool
	}{
		{"profile's", `{"profile": "tasks", "format": "csv"}`, "; ", false},
		{"request's separator", `{"profile": "tasks", "format": "csv", "csvArraySeparator": "|"}`, "|", false},
		{"request keeps JSON", `{"profile": "tasks", "format": "csv", "csvArrays": "json"}`, "", false},
		{"request asks for a bom", `{"profile": "tasks", "format": "csv", "csvBom": true}`, "; ", true},
		{"json format ignores them", `{"profile": "tasks", "format": "json"}`, "", false},
		{"ndjson by default ignores them", `{"profile": "tasks"}`, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := applyJSON(t, p, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if plan.CSVArraySeparator != tc.sep || plan.CSVBOM != tc.bom {
				t.Fatalf("separator %q, bom %v; want %q, %v", plan.CSVArraySeparator, plan.CSVBOM, tc.sep, tc.bom)
			}
		})
	}
	if _, err := applyJSON(t, p, `{"profile": "tasks", "format": "json", "csvBom": true}`); err == nil {
		t.Fatal("csvBom with format json accepted through the profile")
	}
}

func writeProfile(t *testing.T, yaml string) (map[string]*Profile, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadProfiles(dir)
}

func TestProfileCSVOptions(t *testing.T) {
	ps, err := writeProfile(t, "database: app\ncollection: tasks\ncolumns: [{header: Tags, field: tags}]\ncsvArrays: join\ncsvBom: true\n")
	if err != nil {
		t.Fatal(err)
	}
	p := ps["p"]
	plan, err := applyJSON(t, p, `{"profile": "p", "format": "csv"}`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.CSVArraySeparator != DefaultCSVArraySeparator || !plan.CSVBOM {
		t.Fatalf("separator %q, bom %v", plan.CSVArraySeparator, plan.CSVBOM)
	}
	plan, err = applyJSON(t, p, `{"profile": "p", "format": "csv", "csvBom": false}`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.CSVBOM {
		t.Fatal("csvBom false did not turn off the profile's byte order mark")
	}
	for _, tc := range []struct{ name, yaml, msg string }{
		{"unknown mode", "csvArrays: flat\n", `csvArrays "flat" is not "json" or "join"`},
		{"separator without join", "csvArraySeparator: \"|\"\n", `csvArraySeparator needs csvArrays "join"`},
		{"bad separator", "csvArrays: join\ncsvArraySeparator: \"\\n\"\n", "control character"},
		{"bom not a boolean", "csvBom: sometimes\n", "cannot unmarshal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := writeProfile(t, "database: app\ncollection: tasks\n"+tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want one saying %q", err, tc.msg)
			}
		})
	}
}

// Whatever csv options a request holds, an accepted plan's are ones the
// encoder can honour, and they survive the plan's JSON.
func FuzzCSVOptions(f *testing.F) {
	f.Add("csv", "join", "; ", true)
	f.Add("ndjson", "json", "", false)
	f.Add("csv", "", "|", false)
	f.Add("json", "join", "\x00", true)
	f.Fuzz(func(t *testing.T, format, arrays, sep string, bom bool) {
		r := &Request{Database: "app", Collection: "tasks", Format: Format(format), Fields: []string{"tags"},
			CSVArrays: arrays, CSVArraySeparator: sep, CSVBOM: &bom}
		p, err := Compile(r)
		if err != nil {
			return
		}
		if p.Format != CSV && (p.CSVArraySeparator != "" || p.CSVBOM) {
			t.Fatalf("csv options on %s: %+v", p.Format, p)
		}
		if p.CSVArraySeparator != "" && checkArraySeparator(p.CSVArraySeparator) != "" {
			t.Fatalf("bad separator accepted: %q", p.CSVArraySeparator)
		}
		if (p.CSVArraySeparator != "") != (arrays == CSVArraysJoin) || p.CSVBOM != bom {
			t.Fatalf("request %q %q %v gave plan %q %v", arrays, sep, bom, p.CSVArraySeparator, p.CSVBOM)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Plan
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back.CSVArraySeparator != p.CSVArraySeparator || back.CSVBOM != p.CSVBOM {
			t.Fatalf("plan JSON changed the csv options: %q %v", back.CSVArraySeparator, back.CSVBOM)
		}
	})
}
