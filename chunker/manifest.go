package chunker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/exportd/exportd/api"
)

// ManifestName is the manifest's file name in an export directory.
const ManifestName = "manifest.json"

// WriteManifest replaces dir's manifest atomically.
func WriteManifest(dir string, m *api.Manifest) error {
	data, err := MarshalManifest(m)
	if err != nil {
		return err
	}
	return WriteFileAtomic(dir, ManifestName, data)
}

// MarshalManifest is the manifest.json of m: indented JSON, chunks as a
// list even when there are none, a newline at the end.
func MarshalManifest(m *api.Manifest) ([]byte, error) {
	if m.Chunks == nil {
		m.Chunks = []api.Chunk{}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// ReadManifest reads dir's manifest; ErrNoManifest if there is none.
func ReadManifest(dir string) (*api.Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoManifest
	}
	if err != nil {
		return nil, err
	}
	var m api.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestName, err)
	}
	return &m, nil
}
