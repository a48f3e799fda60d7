package cluster_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// TestProgressLastEvent: a new owner reads the last event any node
// published for an export; the stream keeps only the last few per export.
func TestProgressLastEvent(t *testing.T) {
	c := natstest.Cluster(t, 3)
	cfg := config(3)
	cfg.ProgressPerExport = 2
	p, err := cluster.OpenProgress(ctx(t), js(t, c, 1), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id := checkpoint.NewID()
	subject := api.ProgressSubject(cfg.Prefix, id)
	if _, _, err := p.LastEvent(ctx(t), subject); !errors.Is(err, cluster.ErrNoEvent) {
		t.Fatalf("LastEvent before any: %v, want ErrNoEvent", err)
	}
	publisher := js(t, c, 0) // another node
	for seq := range int64(3) {
		data, _ := json.Marshal(api.Event{Event: api.EventProcessing, ExportID: id, Seq: seq + 1, Time: time.Now()})
		if _, err := publisher.Publish(ctx(t), subject, data); err != nil {
			t.Fatal(err)
		}
	}
	data, seq, err := p.LastEvent(ctx(t), subject)
	var last api.Event
	if err != nil || json.Unmarshal(data, &last) != nil || last.Seq != 3 || seq != 3 {
		t.Fatalf("LastEvent = %s (stream seq %d), %v; want event seq 3", data, seq, err)
	}
	stream, err := publisher.Stream(ctx(t), cfg.ProgressStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(ctx(t)); err != nil || info.State.Msgs != 2 {
		t.Fatalf("progress stream keeps %v events, %v; want the last 2", info.State.Msgs, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   cluster.Config
		field string
	}{
		{"defaults", cluster.Config{}, ""},
		{"bucket with a dot", cluster.Config{Bucket: "A.B"}, "bucket"},
		{"wildcard prefix", cluster.Config{Prefix: "exports.>"}, "prefix"},
		{"six replicas", cluster.Config{Replicas: 6}, "replicas"},
		{"short lease", cluster.Config{LeaseTTL: time.Millisecond}, "leaseTTL"},
		{"negative per export", cluster.Config{ProgressPerExport: -1}, "progressPerExport"},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.field == "") || err != nil && !strings.Contains(err.Error(), "cluster "+tc.field+" ") {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.field)
		}
	}
}
