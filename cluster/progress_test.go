package cluster_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
)

// TestProgressLastEvent: a new owner reads the last event any node
// appended for an export; the stream keeps only the last few per export.
// Each appended event reaches the export's progress subject once stored,
// and once only, even when its append is retried.
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
	sub, err := c.Connect(t, 2).SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cluster.OpenProgress(ctx(t), js(t, c, 0), cfg) // another node
	if err != nil {
		t.Fatal(err)
	}
	var pos uint64
	for seq := range int64(3) {
		data, _ := json.Marshal(api.Event{Event: api.EventProcessing, ExportID: id, Seq: seq + 1, Time: time.Now()})
		var first uint64
		for try := range 2 { // the second, as after a lost answer, is the same event
			got, stored, err := other.Append(ctx(t), subject, data, fmt.Sprintf("node0.%s.%d", id, seq+1), pos)
			if err != nil || !stored || try == 1 && got != first {
				t.Fatalf("append %d after %d, try %d: at %d, stored %v, %v", seq+1, pos, try, got, stored, err)
			}
			first = got
		}
		pos = first
		// A node that did not know of it appends after what it knew.
		if got, stored, err := p.Append(ctx(t), subject, data, fmt.Sprintf("node1.%s.%d", id, seq+1), pos-1); err != nil || stored {
			t.Fatalf("append after %d, not the last: at %d, stored %v, %v", pos-1, got, stored, err)
		}
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(msg.Data) != string(data) {
			t.Fatalf("on %s: %v, %v; want the appended event %s", subject, msg, err, data)
		}
	}
	if msg, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("one more event on %s: %s (an append retried was published twice)", subject, msg.Data)
	}
	data, seq, err := p.LastEvent(ctx(t), subject)
	var last api.Event
	if err != nil || json.Unmarshal(data, &last) != nil || last.Seq != 3 || seq != 3 {
		t.Fatalf("LastEvent = %s (stream seq %d), %v; want event seq 3", data, seq, err)
	}
	stream, err := js(t, c, 0).Stream(ctx(t), cfg.ProgressStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := stream.Info(ctx(t)); err != nil || info.State.Msgs != 2 {
		t.Fatalf("progress stream keeps %v events, %v; want the last 2", info.State.Msgs, err)
	}

	// Only an export's progress subject has a history.
	for _, bad := range []string{cfg.Prefix + ".progress.", cfg.Prefix + ".progress.a.b", "other.progress." + id, cfg.Prefix + ".start"} {
		if _, _, err := p.Append(ctx(t), bad, data, "x", 0); err == nil || !strings.Contains(err.Error(), "not a progress subject") {
			t.Errorf("Append on %q: %v", bad, err)
		}
		if _, _, err := p.LastEvent(ctx(t), bad); err == nil || !strings.Contains(err.Error(), "not a progress subject") {
			t.Errorf("LastEvent of %q: %v", bad, err)
		}
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

// TestProgressTail: the last n events of every export, oldest first, on
// the subjects they were published on; none from an empty stream.
func TestProgressTail(t *testing.T) {
	c := natstest.Cluster(t, 1)
	cfg := config(1)
	p, err := cluster.OpenProgress(ctx(t), js(t, c, 0), cfg)
	if err != nil {
		t.Fatal(err)
	}
	type heard struct {
		subject string
		seq     int64
	}
	tail := func(n uint64) []heard {
		var got []heard
		err := p.Tail(ctx(t), n, func(subject string, data []byte) {
			var ev api.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatalf("%s: %s", subject, data)
			}
			got = append(got, heard{subject, ev.Seq})
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := tail(10); len(got) != 0 {
		t.Fatalf("empty stream: %v", got)
	}
	a, b := checkpoint.NewID(), checkpoint.NewID()
	var all []heard
	pos := map[string]uint64{}
	for i := range int64(8) {
		id := a
		if i%2 == 1 {
			id = b
		}
		subject := api.ProgressSubject(cfg.Prefix, id)
		data, _ := json.Marshal(api.Event{Event: api.EventProcessing, ExportID: id, Seq: i/2 + 1, Time: time.Now()})
		at, stored, err := p.Append(ctx(t), subject, data, fmt.Sprintf("%s.%d", id, i), pos[id])
		if err != nil || !stored {
			t.Fatal(stored, err)
		}
		pos[id] = at
		all = append(all, heard{subject, i/2 + 1})
	}
	if got := tail(100); !slices.Equal(got, all) {
		t.Fatalf("tail of 100: %v, want %v", got, all)
	}
	if got := tail(3); !slices.Equal(got, all[5:]) {
		t.Fatalf("tail of 3: %v, want %v", got, all[5:])
	}
}
