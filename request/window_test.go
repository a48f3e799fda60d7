package request_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/exportd/exportd/request"
)

// skip and limit are checked, kept in the plan and its stored form, and
// absent from the stored form of a plan without them, so that a plan
// stored before they existed compares equal to the same request's plan
// now (exportd export resumes by comparing them).
func TestSkipLimit(t *testing.T) {
	for _, tc := range []struct {
		req   string
		field string
	}{
		{`{"database": "app", "collection": "tasks", "skip": -1}`, "skip"},
		{`{"database": "app", "collection": "tasks", "limit": -3}`, "limit"},
		{`{"database": "app", "collection": "tasks", "limit": 1.5}`, "limit"},
	} {
		r, err := request.Decode([]byte(tc.req))
		if err == nil {
			_, err = request.Compile(r)
		}
		var fe *request.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error about %s", tc.req, err, tc.field)
		}
	}
	plain, err := request.Compile(&request.Request{Database: "app", Collection: "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(plain)
	if strings.Contains(string(data), `"skip"`) || strings.Contains(string(data), `"limit"`) {
		t.Fatalf("a plan without skip or limit stores them: %s", data)
	}
	r, err := request.Decode([]byte(`{"database": "app", "collection": "tasks", "skip": 10, "limit": 25}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := request.Compile(r)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = json.Marshal(p)
	var back request.Plan
	if err := json.Unmarshal(data, &back); err != nil || back.Skip != 10 || back.Limit != 25 {
		t.Fatalf("stored plan %s read back as skip %d limit %d (%v)", data, back.Skip, back.Limit, err)
	}
}
