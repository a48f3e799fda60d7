package request

import (
	"encoding/json"
	"strings"
	"testing"
)

const jsonReq = `{"database": "app", "collection": "tasks", "format": "json"`

func TestJSONArrayAccepted(t *testing.T) {
	cases := []struct {
		name, req string
		bare      bool
	}{
		{"envelope by default", jsonReq + `}`, false},
		{"bare array", jsonReq + `, "jsonArray": true}`, true},
		{"off said out loud", jsonReq + `, "jsonArray": false}`, false},
		{"off with ndjson", `{"database": "app", "collection": "tasks", "jsonArray": false}`, false},
		{"off with csv", csvReq + `, "jsonArray": false}`, false},
		{"canonical", jsonReq + `, "jsonArray": true, "jsonFormat": "canonical"}`, true},
		{"envelope with an array key", jsonReq + `, "arrayKey": "tasks"}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := compileJSON(t, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if p.JSONArray != tc.bare {
				t.Fatalf("jsonArray %v, want %v", p.JSONArray, tc.bare)
			}
		})
	}
}

func TestJSONArrayRefusals(t *testing.T) {
	cases := []struct {
		name, req, field, msg string
	}{
		{"with ndjson", `{"database": "app", "collection": "tasks", "jsonArray": true}`, "jsonArray", `applies only to format "json", not "ndjson"`},
		{"with ndjson said", `{"database": "app", "collection": "tasks", "format": "ndjson", "jsonArray": true}`, "jsonArray", `applies only to format "json", not "ndjson"`},
		{"with csv", csvReq + `, "jsonArray": true}`, "jsonArray", `applies only to format "json", not "csv"`},
		{"with an array key", jsonReq + `, "jsonArray": true, "arrayKey": "tasks"}`, "arrayKey", "jsonArray writes no envelope"},
		{"not a boolean", jsonReq + `, "jsonArray": "yes"}`, "jsonArray", "must be a JSON boolean"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantRefused(t, tc.req, tc.field, tc.msg)
		})
	}
}

// jsonArray is in the plan only when on: the plan of an envelope is the
// one stored before the option existed, and a stored plan without it (an
// export begun before) reads back as the envelope.
func TestPlanJSONArray(t *testing.T) {
	p, err := compileJSON(t, jsonReq+`}`)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const before = `{"database":"app","collection":"tasks","format":"json","compression":"zstd","canonical":false,` +
		`"sortKeys":[{"path":"_id"}],"chunkRecords":100000,"chunkBytes":67108864,"batchSize":1000,` +
		`"progressEvery":1000,"formulaGuard":true,"arrayKey":"documents","sort":{"_id":{"$numberInt":"1"}}}`
	if string(data) != before {
		t.Fatalf("plan JSON changed:\n got %s\nwant %s", data, before)
	}
	var old Plan
	if err := json.Unmarshal([]byte(before), &old); err != nil {
		t.Fatal(err)
	}
	if old.JSONArray || old.CSVNoHeader {
		t.Fatalf("a plan stored before: jsonArray %v, csvNoHeader %v", old.JSONArray, old.CSVNoHeader)
	}

	p, err = compileJSON(t, jsonReq+`, "jsonArray": true}`)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = json.Marshal(p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"jsonArray":true`) {
		t.Fatalf("plan JSON %s", data)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !back.JSONArray {
		t.Fatalf("read back: %s", data)
	}
}

// The tasks profile names its envelope's array "tasks": a bare array has
// no name, so the profile's is not applied (and not refused), while a
// request's own arrayKey with jsonArray still is.
func TestTasksProfileJSONArray(t *testing.T) {
	p := tasksProfile(t)
	plan, err := applyJSON(t, p, `{"profile": "tasks", "format": "json"}`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.JSONArray || plan.ArrayKey != "tasks" {
		t.Fatalf("envelope through the profile: jsonArray %v, arrayKey %q", plan.JSONArray, plan.ArrayKey)
	}
	plan, err = applyJSON(t, p, `{"profile": "tasks", "format": "json", "jsonArray": true, "filters": {"status": "done"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.JSONArray || plan.Filter == nil || plan.SortKeys[0].Path != "createdAt" {
		t.Fatalf("bare array through the profile: %+v", plan)
	}
	_, err = applyJSON(t, p, `{"profile": "tasks", "format": "json", "jsonArray": true, "arrayKey": "tasks"}`)
	if fe, ok := err.(*FieldError); !ok || fe.Field != "arrayKey" {
		t.Fatalf("arrayKey with jsonArray through the profile: %v", err)
	}
	if _, err := applyJSON(t, p, `{"profile": "tasks", "jsonArray": true}`); err == nil {
		t.Fatal("jsonArray with the default format accepted through the profile")
	}
}
