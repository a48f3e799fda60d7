package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/checkpoint"
	"github.com/exportd/exportd/cluster"
	"github.com/exportd/exportd/internal/natstest"
	"github.com/exportd/exportd/request"
)

// wait bounds what a test waits for from the cluster.
const wait = 20 * time.Second

// buckets numbers the buckets and streams of a test binary, so that every
// test gets empty ones on a shared server.
var buckets atomic.Int64

// config is a Config of names no other test uses.
func config(replicas int) cluster.Config {
	n := buckets.Add(1)
	return cluster.Config{
		Prefix: fmt.Sprintf("t%d", n), Bucket: fmt.Sprintf("EXPORTS_%d", n), WorkStream: fmt.Sprintf("WORK_%d", n),
		ProgressStream: fmt.Sprintf("PROGRESS_%d", n), Replicas: replicas, LeaseTTL: time.Second, Timeout: 20 * time.Second,
	}
}

// js is a JetStream client on a connection to server i of c.
func js(t testing.TB, c *natstest.Servers, i int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Connect(t, i))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens the store of cfg through js and checks, when the test
// ends, that every record can be read back.
func openStore(t testing.TB, js jetstream.JetStream, cfg cluster.Config) *cluster.Store {
	t.Helper()
	s, err := cluster.OpenStore(ctx(t), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if bad, err := s.Unreadable(); err != nil || len(bad) > 0 {
			t.Errorf("unreadable records at the end: %v, %v", bad, err)
		}
	})
	return s
}

func newExport(t testing.TB, requestID string) *checkpoint.Export {
	t.Helper()
	plan, err := request.Compile(&request.Request{Database: "app", Collection: "tasks"})
	if err != nil {
		t.Fatal(err)
	}
	return checkpoint.NewExport(requestID, json.RawMessage(`{"database":"app","collection":"tasks"}`), plan, time.Now())
}

func create(t testing.TB, s *cluster.Store, requestID string) *checkpoint.Export {
	t.Helper()
	e, created, err := s.Create(newExport(t, requestID))
	if err != nil || !created {
		t.Fatalf("Create: created %v, %v", created, err)
	}
	return e
}

func chunk(i int, records int64) api.Chunk {
	return api.Chunk{Index: i, Name: fmt.Sprintf("chunk-%06d.ndjson.zst", i), Records: records, Bytes: records,
		SHA256: "00", FirstKey: json.RawMessage(`{"_id":0}`), LastKey: json.RawMessage(fmt.Sprintf(`{"_id":%d}`, records))}
}
