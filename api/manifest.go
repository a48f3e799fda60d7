package api

import (
	"encoding/json"
	"time"
)

// Chunk describes one sealed chunk file.
type Chunk struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	// Records is how many documents the chunk holds.
	Records int64 `json:"records"`
	// RawBytes is the chunk's size before compression.
	RawBytes int64 `json:"rawBytes"`
	// Bytes is the file's size.
	Bytes int64 `json:"bytes"`
	// SHA256 is the hex digest of the file.
	SHA256 string `json:"sha256"`
	// FirstKey and LastKey are the sort keys (the sort fields and _id, in
	// canonical Extended JSON) of the chunk's first and last record; null
	// for a chunk without records.
	FirstKey json.RawMessage `json:"firstKey"`
	LastKey  json.RawMessage `json:"lastKey"`
}

// Manifest describes an export and its chunks. Its JSON is the contract of
// manifest.json, GET /exports/{id} and NATS exports.status.
type Manifest struct {
	ID      string          `json:"id"`
	Request json.RawMessage `json:"request"`
	State   State           `json:"state"`
	// Format, Compression and Ext are the compiled plan's: what the chunks
	// hold and how their names end (for example "ndjson.zst").
	Format      Format      `json:"format"`
	Compression Compression `json:"compression"`
	Ext         string      `json:"ext"`
	CreatedAt   time.Time   `json:"createdAt"`
	StartedAt   *time.Time  `json:"startedAt"`
	FinishedAt  *time.Time  `json:"finishedAt"`
	Records     int64       `json:"records"`
	Bytes       int64       `json:"bytes"`
	Error       string      `json:"error"`
	Chunks      []Chunk     `json:"chunks"`
}
