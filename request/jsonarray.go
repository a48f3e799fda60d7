package request

// compileJSONArray sets the plan's jsonArray from r. Only format json has
// an envelope to leave out, and a bare array has no name, so jsonArray with
// another format, or with an arrayKey, is refused rather than ignored;
// jsonArray false is accepted with any format.
func compileJSONArray(p *Plan, r *Request) error {
	if !r.JSONArray {
		return nil
	}
	if p.Format != JSON {
		return fieldErr("jsonArray", "applies only to format \"json\", not %s (ndjson is one document per line, with no array around them)", quote(string(p.Format)))
	}
	if r.ArrayKey != "" {
		return fieldErr("arrayKey", "names the json envelope's array, and jsonArray writes no envelope: leave arrayKey out")
	}
	p.JSONArray = true
	return nil
}
