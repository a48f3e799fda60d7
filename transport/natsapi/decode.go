package natsapi

import (
	"bytes"

	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/request"
)

// decodeRequest reads the JSON object of a status/list/cancel/...
// request into v, as request.DecodeStrict reads every request. An empty
// body is {}.
func decodeRequest(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return request.DecodeStrict(data, v)
}

// decodeID reads an {id} request and checks that id has the form of
// an export id; nothing looks the id up before.
func decodeID(data []byte) (string, error) {
	var req struct {
		ID string `json:"id"`
	}
	if err := decodeRequest(data, &req); err != nil {
		return "", err
	}
	if req.ID == "" {
		return "", &request.FieldError{Field: "id", Message: "missing: the export id is required"}
	}
	return req.ID, checkID(req.ID)
}

// checkID refuses what does not have the form of an export id.
func checkID(id string) error {
	if !checkpoint.ValidID(id) {
		return &request.FieldError{Field: "id", Message: "not an export id (26 characters a-z and 2-7)"}
	}
	return nil
}
