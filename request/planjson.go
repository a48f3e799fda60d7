package request

import (
	"encoding/json"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// planJSON is a Plan's stored form: the BSON parts in canonical Extended
// JSON, which keeps every type exactly (an int64 stays an int64).
type planJSON struct {
	planAlias
	Filter     json.RawMessage `json:"filter,omitempty"`
	Sort       json.RawMessage `json:"sort"`
	Projection json.RawMessage `json:"projection,omitempty"`
}

type planAlias Plan

// MarshalJSON stores the plan, BSON parts included.
func (p Plan) MarshalJSON() ([]byte, error) {
	out := planJSON{planAlias: planAlias(p)}
	var err error
	if out.Filter, err = canonical(p.Filter); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	if out.Sort, err = canonical(p.Sort); err != nil {
		return nil, fmt.Errorf("sort: %w", err)
	}
	if out.Projection, err = canonical(p.Projection); err != nil {
		return nil, fmt.Errorf("projection: %w", err)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a plan stored by MarshalJSON.
func (p *Plan) UnmarshalJSON(data []byte) error {
	var in planJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	*p = Plan(in.planAlias)
	for _, f := range []struct {
		raw json.RawMessage
		dst *bson.D
	}{{in.Filter, &p.Filter}, {in.Sort, &p.Sort}, {in.Projection, &p.Projection}} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		if err := bson.UnmarshalExtJSON(f.raw, true, f.dst); err != nil {
			return err
		}
	}
	return nil
}

func canonical(d bson.D) (json.RawMessage, error) {
	if d == nil {
		return nil, nil
	}
	return bson.MarshalExtJSON(d, true, false)
}
