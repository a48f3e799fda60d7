package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.yaml.in/yaml/v3"
)

// Profile maps an application's request shape (named filters, sort
// options, column headers) onto a collection's fields, so that its
// requests work unchanged. Profiles are YAML files.
type Profile struct {
	// Name is the profile's name (its file name without .yaml).
	Name string `yaml:"name"`
	// Database and Collection are used when the request names none.
	Database   string `yaml:"database"`
	Collection string `yaml:"collection"`
	// ArrayKey names the json envelope's array.
	ArrayKey string `yaml:"arrayKey"`
	// Filters maps each accepted filter name to its field and kind:
	// "equals" (a value or a list of values) or "dateRange" ({start, end}).
	// "search" is always accepted when SearchFields is set.
	Filters map[string]ProfileFilter `yaml:"filters"`
	// SearchFields are matched by filters.search: a case-insensitive
	// literal (regex-escaped) match on any of them.
	SearchFields []string `yaml:"searchFields"`
	// SortFields maps options.sortBy values onto field paths.
	SortFields map[string]string `yaml:"sortFields"`
	// DefaultSort is used when options.sortBy is absent.
	DefaultSort Options `yaml:"defaultSort"`
	// Columns are the csv columns when the request lists no fields.
	Columns []ProfileColumn `yaml:"columns"`
	// CSVArrays, CSVArraySeparator and CSVBOM are the csv requests'
	// csvArrays, csvArraySeparator and csvBom where the request leaves them
	// out; other formats ignore them.
	CSVArrays         string `yaml:"csvArrays"`
	CSVArraySeparator string `yaml:"csvArraySeparator"`
	CSVBOM            bool   `yaml:"csvBom"`
}

// ProfileFilter is one named filter of a profile.
type ProfileFilter struct {
	Field string `yaml:"field"`
	Kind  string `yaml:"kind"`
}

// ProfileColumn is one csv column of a profile.
type ProfileColumn struct {
	Header string `yaml:"header"`
	Field  string `yaml:"field"`
}

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// LoadProfiles reads every *.yaml file of dir. A profile that does not
// check out is an error naming the file.
func LoadProfiles(dir string) (map[string]*Profile, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]*Profile{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var p Profile
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("profile %s: %w", f, err)
		}
		if p.Name == "" {
			p.Name = strings.TrimSuffix(filepath.Base(f), ".yaml")
		}
		if err := p.check(); err != nil {
			return nil, fmt.Errorf("profile %s: %w", f, err)
		}
		out[p.Name] = &p
	}
	return out, nil
}

func (p *Profile) check() error {
	if !profileName.MatchString(p.Name) {
		return fmt.Errorf("name %q is not a plain name", p.Name)
	}
	for name, f := range p.Filters {
		if msg := checkPath(f.Field); msg != "" {
			return fmt.Errorf("filter %s: %s", name, msg)
		}
		if f.Kind != "equals" && f.Kind != "dateRange" {
			return fmt.Errorf("filter %s: kind %q is not equals or dateRange", name, f.Kind)
		}
	}
	for _, f := range p.SearchFields {
		if msg := checkPath(f); msg != "" {
			return fmt.Errorf("search field: %s", msg)
		}
	}
	for k, f := range p.SortFields {
		if msg := checkPath(f); msg != "" {
			return fmt.Errorf("sort field %s: %s", k, msg)
		}
	}
	for _, c := range p.Columns {
		if msg := checkPath(c.Field); msg != "" || c.Header == "" {
			return fmt.Errorf("column %q: %s", c.Header, msg)
		}
	}
	switch p.CSVArrays {
	case "", CSVArraysJSON:
		if p.CSVArraySeparator != "" {
			return fmt.Errorf("csvArraySeparator needs csvArrays %q", CSVArraysJoin)
		}
	case CSVArraysJoin:
		if p.CSVArraySeparator != "" {
			if msg := checkArraySeparator(p.CSVArraySeparator); msg != "" {
				return fmt.Errorf("csvArraySeparator %s", msg)
			}
		}
	default:
		return fmt.Errorf("csvArrays %q is not %q or %q", p.CSVArrays, CSVArraysJSON, CSVArraysJoin)
	}
	return nil
}

// Resolve applies r's profile, if it names one, and compiles r: the one way
// from a request as a client sent it to the plan an export runs. It
// changes r as Apply does.
func Resolve(r *Request, profiles map[string]*Profile) (*Plan, error) {
	if r.Profile != "" {
		prof, ok := profiles[r.Profile]
		if !ok {
			return nil, fieldErr("profile", "unknown profile %s (known: %s)", quote(r.Profile), strings.Join(sortedKeys(profiles), ", "))
		}
		if err := prof.Apply(r); err != nil {
			return nil, err
		}
	}
	return Compile(r)
}

// Apply turns the request's filters and options into its filter, sort,
// fields and envelope, as the profile says. Unknown filter names, sort
// options and malformed values are refused with a FieldError. What the
// request turns off is not filled in: no envelope name for a jsonArray, no
// column headers for a csv without its header line.
func (p *Profile) Apply(r *Request) error {
	if r.Database == "" {
		r.Database = p.Database
	}
	if r.Collection == "" {
		r.Collection = p.Collection
	}
	if r.ArrayKey == "" && !r.JSONArray {
		r.ArrayKey = p.ArrayKey // a bare array has no name
	}
	cond, err := p.filters(r.Filters)
	if err != nil {
		return err
	}
	if len(cond) > 0 {
		if own, err := parseExtJSON("filter", r.Filter); err != nil {
			return err
		} else if len(own) > 0 {
			cond = bson.D{{Key: "$and", Value: bson.A{own, cond}}}
		}
		if r.Filter, err = bson.MarshalExtJSON(cond, true, false); err != nil {
			return fieldErr("filters", "%v", err)
		}
	}
	if err := p.sort(r); err != nil {
		return err
	}
	if r.Format == CSV && len(r.Fields) == 0 {
		header := r.CSVHeader == nil || *r.CSVHeader // without the line, there is nothing to name
		for _, c := range p.Columns {
			r.Fields = append(r.Fields, c.Field)
			if header {
				r.Headers = append(r.Headers, c.Header)
			}
		}
	}
	if r.Format == CSV {
		p.applyCSV(r)
	}
	r.Filters, r.Options = nil, nil
	r.Profile = ""
	return nil
}

// applyCSV fills the csv options that r leaves out. The request's own
// choice wins: csvArrays "json" keeps arrays as JSON under any profile, and
// csvBom false turns the profile's byte order mark off.
func (p *Profile) applyCSV(r *Request) {
	if r.CSVArrays == "" {
		r.CSVArrays = p.CSVArrays
	}
	if r.CSVArrays == CSVArraysJoin && r.CSVArraySeparator == "" {
		r.CSVArraySeparator = p.CSVArraySeparator
	}
	if r.CSVBOM == nil && p.CSVBOM {
		on := true
		r.CSVBOM = &on
	}
}

func (p *Profile) filters(raw json.RawMessage) (bson.D, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fieldErr("filters", "must be a JSON object: %v", err)
	}
	var cond bson.D
	for _, name := range sortedKeys(in) {
		v := in[name]
		field := "filters." + name
		if name == "search" && len(p.SearchFields) > 0 {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fieldErr(field, "must be a string")
			}
			if s == "" {
				continue
			}
			var or bson.A
			for _, f := range p.SearchFields {
				or = append(or, bson.D{{Key: f, Value: bson.Regex{Pattern: regexp.QuoteMeta(s), Options: "i"}}})
			}
			cond = append(cond, bson.E{Key: "$or", Value: or})
			continue
		}
		f, ok := p.Filters[name]
		if !ok {
			return nil, fieldErr(field, "unknown filter (profile %s knows %s)", p.Name, strings.Join(p.known(), ", "))
		}
		switch f.Kind {
		case "equals":
			var one string
			var many []string
			switch {
			case json.Unmarshal(v, &one) == nil:
				cond = append(cond, bson.E{Key: f.Field, Value: one})
			case json.Unmarshal(v, &many) == nil && len(many) > 0:
				cond = append(cond, bson.E{Key: f.Field, Value: bson.D{{Key: "$in", Value: many}}})
			default:
				return nil, fieldErr(field, "must be a string or a list of strings")
			}
		case "dateRange":
			var rg struct {
				Start string `json:"start"`
				End   string `json:"end"`
			}
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&rg); err != nil {
				return nil, fieldErr(field, "must be {\"start\": date, \"end\": date}: %v", err)
			}
			var rng bson.D
			if rg.Start != "" {
				t, _, err := parseDay(rg.Start)
				if err != nil {
					return nil, fieldErr(field+".start", "%v", err)
				}
				rng = append(rng, bson.E{Key: "$gte", Value: bson.NewDateTimeFromTime(t)})
			}
			if rg.End != "" {
				t, day, err := parseDay(rg.End)
				if err != nil {
					return nil, fieldErr(field+".end", "%v", err)
				}
				if day { // a whole day: up to its end
					rng = append(rng, bson.E{Key: "$lt", Value: bson.NewDateTimeFromTime(t.AddDate(0, 0, 1))})
				} else {
					rng = append(rng, bson.E{Key: "$lte", Value: bson.NewDateTimeFromTime(t)})
				}
			}
			if len(rng) > 0 {
				cond = append(cond, bson.E{Key: f.Field, Value: rng})
			}
		}
	}
	return cond, nil
}

func (p *Profile) known() []string {
	names := sortedKeys(p.Filters)
	if len(p.SearchFields) > 0 {
		names = append(names, "search")
	}
	return names
}

// parseDay reads a date (2024-12-31, a whole day) or an RFC 3339 time.
func parseDay(s string) (t time.Time, day bool, err error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, errors.New("must be a date (2024-12-31) or an RFC 3339 time")
}

func (p *Profile) sort(r *Request) error {
	o := p.DefaultSort
	if r.Options != nil {
		if r.Options.SortBy != "" {
			o.SortBy = r.Options.SortBy
		}
		if r.Options.SortOrder != "" {
			o.SortOrder = r.Options.SortOrder
		}
	}
	if o.SortBy == "" || len(bytes.TrimSpace(r.Sort)) > 0 && r.Options == nil {
		return nil
	}
	field, ok := p.SortFields[o.SortBy]
	if !ok {
		return fieldErr("options.sortBy", "unknown sort option %s (one of %s)", quote(o.SortBy), strings.Join(sortedKeys(p.SortFields), ", "))
	}
	dir, ok := 1, true
	if o.SortOrder != "" {
		dir, ok = direction(o.SortOrder) // as a sort document's "asc" and "desc"
	}
	if !ok {
		return fieldErr("options.sortOrder", "must be asc or desc, got %s", quote(o.SortOrder))
	}
	sort, err := bson.MarshalExtJSON(bson.D{{Key: field, Value: int32(dir)}}, true, false)
	if err != nil {
		return err
	}
	r.Sort = sort
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
