package chunker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ManifestName is the manifest's file name in an export directory.
const ManifestName = "manifest.json"

// The states of an export.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
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
	ID         string          `json:"id"`
	Request    json.RawMessage `json:"request"`
	State      string          `json:"state"`
	CreatedAt  time.Time       `json:"createdAt"`
	StartedAt  *time.Time      `json:"startedAt"`
	FinishedAt *time.Time      `json:"finishedAt"`
	Records    int64           `json:"records"`
	Bytes      int64           `json:"bytes"`
	Error      string          `json:"error"`
	Chunks     []Chunk         `json:"chunks"`
}

// WriteManifest replaces dir's manifest atomically.
func WriteManifest(dir string, m *Manifest) error {
	if m.Chunks == nil {
		m.Chunks = []Chunk{}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(dir, ManifestName, append(data, '\n'))
}

// ReadManifest reads dir's manifest; ErrNoManifest if there is none.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoManifest
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName, err)
	}
	return &m, nil
}
