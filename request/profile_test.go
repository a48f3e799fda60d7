package request

import (
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func tasksProfile(t *testing.T) *Profile {
	t.Helper()
	ps, err := LoadProfiles("../configs/profiles")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := ps["tasks"]
	if !ok {
		t.Fatal("no tasks profile")
	}
	return p
}

func applyJSON(t *testing.T, p *Profile, s string) (*Plan, error) {
	t.Helper()
	r, err := Decode([]byte(s))
	if err != nil {
		return nil, err
	}
	if err := p.Apply(r); err != nil {
		return nil, err
	}
	return Compile(r)
}

func TestTasksProfileOldRequestShape(t *testing.T) {
	p := tasksProfile(t)
	plan, err := applyJSON(t, p, `{"profile": "tasks", "format": "csv",
		"filters": {"status": "completed", "priority": ["high", "urgent"], "createdAtRange": {"start": "2024-01-01", "end": "2024-12-31"}, "search": "a.b (c)"},
		"options": {"sortBy": "completedAt", "sortOrder": "desc"}}`)
	if err != nil {
		t.Fatal(err)
	}
	filter, _ := bson.MarshalExtJSON(plan.Filter, false, false)
	// In the filters' name order: createdAtRange, priority, search, status.
	want := `{"createdAt":{"$gte":{"$date":"2024-01-01T00:00:00Z"},"$lt":{"$date":"2025-01-01T00:00:00Z"}},"priority":{"$in":["high","urgent"]},` +
		`"$or":[{"title":{"$regularExpression":{"pattern":"a\\.b \\(c\\)","options":"i"}}},{"description":{"$regularExpression":{"pattern":"a\\.b \\(c\\)","options":"i"}}}],` +
		`"status":"completed"}`
	if string(filter) != want {
		t.Errorf("filter\n got %s\nwant %s", filter, want)
	}
	if plan.Database != "app" || plan.Collection != "tasks" {
		t.Errorf("namespace %s.%s", plan.Database, plan.Collection)
	}
	if len(plan.SortKeys) != 2 || plan.SortKeys[0] != (SortKey{Path: "completedAt", Desc: true}) {
		t.Errorf("sort %+v", plan.SortKeys)
	}
	if strings.Join(plan.Headers, ",") != "ID,Title,Description,Status,Priority,Tags,Assignee,Assignee Email,Due Date,Created At,Updated At,Completed At,Estimated Hours" {
		t.Errorf("headers %v", plan.Headers)
	}
	if len(plan.Fields) != 13 || plan.Fields[6] != "assignee.name" {
		t.Errorf("fields %v", plan.Fields)
	}
}

func TestTasksProfileDefaultsAndEnvelope(t *testing.T) {
	plan, err := applyJSON(t, tasksProfile(t), `{"profile": "tasks", "format": "json"}`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.ArrayKey != "tasks" || plan.SortKeys[0] != (SortKey{Path: "createdAt", Desc: true}) || plan.Filter != nil {
		t.Fatalf("plan %+v", plan)
	}
}

func TestProfileRefusals(t *testing.T) {
	p := tasksProfile(t)
	cases := []struct{ name, req, field string }{
		{"unknown filter", `{"filters": {"colour": "red"}}`, "filters.colour"},
		{"bad status", `{"filters": {"status": 5}}`, "filters.status"},
		{"bad range", `{"filters": {"createdAtRange": {"start": "yesterday"}}}`, "filters.createdAtRange.start"},
		{"range field", `{"filters": {"createdAtRange": {"from": "2024-01-01"}}}`, "filters.createdAtRange"},
		{"bad search", `{"filters": {"search": 1}}`, "filters.search"},
		{"bad sortBy", `{"options": {"sortBy": "password"}}`, "options.sortBy"},
		{"bad sortOrder", `{"options": {"sortBy": "title", "sortOrder": "up"}}`, "options.sortOrder"},
		{"filters not object", `{"filters": [1]}`, "filters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyJSON(t, p, tc.req)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
	if _, err := compileJSON(t, `{"database": "app", "collection": "tasks", "filters": {"status": "x"}}`); err == nil {
		t.Fatal("filters without a profile accepted")
	}
}
