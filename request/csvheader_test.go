package request

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCSVHeaderAccepted(t *testing.T) {
	cases := []struct {
		name, req string
		noHeader  bool
	}{
		{"header by default", csvReq + `}`, false},
		{"header said out loud", csvReq + `, "csvHeader": true}`, false},
		{"no header", csvReq + `, "csvHeader": false}`, true},
		{"no header with a bom", csvReq + `, "csvHeader": false, "csvBom": true}`, true},
		{"header said with ndjson", `{"database": "app", "collection": "tasks", "csvHeader": true}`, false},
		{"header said with json", jsonReq + `, "csvHeader": true}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compileJSON(t, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.CSVNoHeader != tc.noHeader {
				t.Fatalf("csvNoHeader %v, want %v", p.CSVNoHeader, tc.noHeader)
			}
		})
	}
}

func TestCSVHeaderRefusals(t *testing.T) {
	cases := []struct {
		name, req, field, msg string
	}{
		{"off with ndjson", `{"database": "app", "collection": "tasks", "csvHeader": false}`, "csvHeader", `applies only to format "csv", not "ndjson"`},
		{"off with json", jsonReq + `, "csvHeader": false}`, "csvHeader", `applies only to format "csv", not "json"`},
		{"off with headers", csvReq + `, "csvHeader": false, "headers": ["ID", "Tags"]}`, "headers", "csvHeader is false"},
		{"not a boolean", csvReq + `, "csvHeader": 0}`, "csvHeader", "must be a JSON boolean"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tc.req, tc.field, tc.msg)
		})
	}
}

// The plan says csvNoHeader only when the line is off: a plan stored
// before (TestPlanJSONWithoutCSVOptions) keeps its header line.
func TestPlanJSONCSVHeader(t *testing.T) {
	for _, tc := range []struct {
		req  string
		want string
	}{
		{csvReq + `, "csvHeader": true}`, ""},
		{csvReq + `, "csvHeader": false}`, `"csvNoHeader":true`},
	} {
		p, err := compileJSON(t, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(data), "csvNoHeader"); got != (tc.want != "") || !strings.Contains(string(data), tc.want) {
			t.Fatalf("%s: plan JSON %s", tc.req, data)
		}
		var back Plan
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back.CSVNoHeader != p.CSVNoHeader {
			t.Fatalf("%s: read back csvNoHeader %v", tc.req, back.CSVNoHeader)
		}
	}
}

// The tasks profile's columns give a csv its fields and their headers;
// with csvHeader false it gives the fields alone (there is no line to name
// them in), and its other csv options still apply.
func TestTasksProfileCSVHeader(t *testing.T) {
	p := tasksProfile(t)
	with, err := applyJSON(t, p, `{"profile": "tasks", "format": "csv"}`)
	if err != nil {
		t.Fatal(err)
	}
	without, err := applyJSON(t, p, `{"profile": "tasks", "format": "csv", "csvHeader": false}`)
	if err != nil {
		t.Fatal(err)
	}
	if with.CSVNoHeader || len(with.Headers) != len(with.Fields) || with.Headers[0] != "ID" {
		t.Fatalf("with the header: csvNoHeader %v, headers %q", with.CSVNoHeader, with.Headers)
	}
	if !without.CSVNoHeader || without.Headers != nil || strings.Join(without.Fields, ",") != strings.Join(with.Fields, ",") {
		t.Fatalf("without the header: csvNoHeader %v, headers %q, fields %q", without.CSVNoHeader, without.Headers, without.Fields)
	}
	if without.CSVArraySeparator != with.CSVArraySeparator || without.CSVArraySeparator == "" {
		t.Fatalf("separator %q, with the header %q", without.CSVArraySeparator, with.CSVArraySeparator)
	}
	// The request's own fields need no headers either way.
	plan, err := applyJSON(t, p, `{"profile": "tasks", "format": "csv", "csvHeader": false, "fields": ["_id", "title"]}`)
	if err != nil || plan.Headers != nil || len(plan.Fields) != 2 {
		t.Fatalf("own fields: %v, %+v", err, plan)
	}
}
