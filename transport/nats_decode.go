package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// decodeNATSRequest reads the JSON object of a status/list/cancel/...
// request into v. An empty body is {}. Syntax errors, unknown fields,
// wrong types and trailing data are a *request.FieldError that names the
// field ("request" when there is none to name).
func decodeNATSRequest(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return natsDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &request.FieldError{Field: "request", Message: "unexpected data after the JSON object"}
	}
	return nil
}

// natsDecodeError names the field a decoding error is about.
func natsDecodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &request.FieldError{Field: "request", Message: fmt.Sprintf("invalid JSON at offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))}
	case errors.As(err, &typ) && typ.Field != "":
		return &request.FieldError{Field: typ.Field, Message: fmt.Sprintf("must be a JSON %s, not %s", natsJSONKind(typ.Type.Kind().String()), typ.Value)}
	case errors.As(err, &typ):
		return &request.FieldError{Field: "request", Message: fmt.Sprintf("must be a JSON object, not %s", typ.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &request.FieldError{Field: "request", Message: "invalid JSON: unexpected end"}
	}
	// encoding/json has no type for an unknown field; its message is
	// `json: unknown field "name"`.
	if rest, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(rest); uerr == nil {
			return &request.FieldError{Field: name, Message: "unknown field"}
		}
	}
	return &request.FieldError{Field: "request", Message: err.Error()}
}

// natsJSONKind says a Go kind the way a JSON user would.
func natsJSONKind(kind string) string {
	switch kind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	default:
		return "number"
	}
}

// decodeNATSID reads an {id} request and checks that id has the form of
// an export id; nothing looks the id up before.
func decodeNATSID(data []byte) (string, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeNATSRequest(data, &req); err != nil {
		return "", err
	}
	switch {
	case req.ID == "":
		return "", &request.FieldError{Field: "id", Message: "missing: the export id is required"}
	case !checkpoint.ValidID(req.ID):
		return "", &request.FieldError{Field: "id", Message: "not an export id (26 characters a-z and 2-7)"}
	}
	return req.ID, nil
}
