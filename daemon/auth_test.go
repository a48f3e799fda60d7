package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/exportd/exportd/api"
	"github.com/exportd/exportd/daemon"
	"github.com/exportd/exportd/internal/devmongo/devmongotest"
	"github.com/exportd/exportd/internal/s3test"
)

// natsURL is the daemon's NATS address without credentials.
func natsURL(d *daemonUnderTest) string {
	return d.addrs.NATS
}

// mustRefuse checks that a client without the right credentials cannot
// connect at all.
func mustRefuse(t *testing.T, url string, opts ...nats.Option) {
	t.Helper()
	nc, err := nats.Connect(url, append(opts, nats.Timeout(5*time.Second))...)
	if err == nil {
		nc.Close()
		t.Fatalf("connected to %s without the right credentials", url)
	}
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("connect: %v, want an authorization error", err)
	}
}

// TestEmbeddedNATSToken: with a token, the embedded server refuses every
// client without it, and the daemon itself connects with it.
func TestEmbeddedNATSToken(t *testing.T) {
	db := devmongotest.Spawn(t)
	const token = "a-token-for-the-embedded-server"
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) { c.NATS.Token = token },
		slog.New(slog.DiscardHandler), nats.Token(token))
	mustRefuse(t, natsURL(d))
	mustRefuse(t, natsURL(d), nats.Token("not-the-token"))
	msg, body := d.request(t, "exports.list", `{}`)
	if msg.Header.Get("Nats-Service-Error-Code") != "" || string(body) != "[]" {
		t.Fatalf("list with the token: %s %s", msg.Header, body)
	}
}

// TestEmbeddedNATSNKey: with an nkey seed file, the embedded server
// accepts only that key.
func TestEmbeddedNATSNKey(t *testing.T) {
	db := devmongotest.Spawn(t)
	seedFile := func(name string) string {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, err := kp.Seed()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mine, other := seedFile("exportd.nk"), seedFile("other.nk")
	opt, err := nats.NkeyOptionFromSeed(mine)
	if err != nil {
		t.Fatal(err)
	}
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) { c.NATS.NKeyFile = mine },
		slog.New(slog.DiscardHandler), opt)
	mustRefuse(t, natsURL(d))
	otherOpt, err := nats.NkeyOptionFromSeed(other)
	if err != nil {
		t.Fatal(err)
	}
	mustRefuse(t, natsURL(d), otherOpt)
	if msg, body := d.request(t, "exports.list", `{}`); msg.Header.Get("Nats-Service-Error-Code") != "" {
		t.Fatalf("list with the nkey: %s", body)
	}
}

// TestExternalServerRoles runs configs/nats-server.conf: the daemon answers
// with its permissions, an operator may start and cancel, a reader may
// list, ask for status and the last events and follow progress, and
// nothing else.
func TestExternalServerRoles(t *testing.T) {
	for k, v := range map[string]string{
		"EXPORTD_NATS_PASSWORD": "daemon-pw", "EXPORTD_OPERATOR_PASSWORD": "operator-pw", "EXPORTD_READER_PASSWORD": "reader-pw",
	} {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("../configs/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	url := ns.ClientURL()
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 500)
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) {
		c.NATS.URL = strings.Replace(url, "nats://", "nats://exportd:daemon-pw@", 1)
	}, slog.New(slog.DiscardHandler))

	connect := func(user, pw string) *nats.Conn {
		nc, err := nats.Connect(url, nats.UserInfo(user, pw))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	// The URL's credentials are the daemon's; its client in d.nc would
	// use them too, so the operator connects on its own.
	d.nc.Close()
	d.nc = connect("operator", "operator-pw")
	reader := connect("reader", "reader-pw")
	mustRefuse(t, url)
	mustRefuse(t, url, nats.UserInfo("reader", "wrong"))

	// The operator starts an export; the reader follows it.
	events := subscribe(t, reader)
	rep, _ := complete(t, d, events, `{"database": "app", "collection": "tasks", "chunkRecords": 100}`)
	// The daemon may follow progress too: its HTTP event stream replays
	// the export from its first event, not from a snapshot.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, evs := sseEvents(t, ctx, d.addrs.Public+"/exports/"+rep.ID+"/events"); len(evs) < 2 || evs[0].Seq != 1 || evs[0].Event != api.EventQueued {
		t.Fatalf("the daemon's event stream under its permissions: %+v", evs)
	}
	for _, subj := range []string{"exports.list", "exports.status", "exports.last"} {
		reply, err := reader.Request(subj, []byte(`{"id": "`+rep.ID+`"}`), 10*time.Second)
		if subj == "exports.list" {
			reply, err = reader.Request(subj, []byte(`{}`), 10*time.Second)
		}
		if err != nil || reply.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("reader %s: %v %v", subj, err, reply)
		}
	}
	// The reader may not change anything: the server drops its requests.
	for _, subj := range []string{"exports.start", "exports.cancel", "exports.resume", "exports.delete"} {
		body := `{"id": "` + rep.ID + `"}`
		if subj == "exports.start" {
			body = `{"database": "app", "collection": "tasks"}`
		}
		if reply, err := reader.Request(subj, []byte(body), time.Second); err == nil {
			t.Fatalf("reader %s answered: %s", subj, reply.Data)
		}
	}
	_, body := d.request(t, "exports.list", `{}`)
	var list []struct{ ID string }
	if err := json.Unmarshal(body, &list); err != nil || len(list) != 1 {
		t.Fatalf("after the reader's attempts: %s", body)
	}
	_, body = d.request(t, "exports.delete", `{"id": "`+rep.ID+`"}`)
	if !strings.Contains(string(body), `"deleted":true`) {
		t.Fatalf("operator delete: %s", body)
	}
}

// TestExternalServerRolesCluster runs configs/nats-server.conf with
// JetStream: under the daemon's permissions, a cluster node keeps its
// records, work and progress in JetStream and runs, cancels and deletes
// exports; the operator still cannot touch the work queue.
func TestExternalServerRolesCluster(t *testing.T) {
	for k, v := range map[string]string{
		"EXPORTD_NATS_PASSWORD": "daemon-pw", "EXPORTD_OPERATOR_PASSWORD": "operator-pw", "EXPORTD_READER_PASSWORD": "reader-pw",
	} {
		t.Setenv(k, v)
	}
	opts, err := server.ProcessConfigFile("../configs/nats-server.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", server.RANDOM_PORT, true, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	url := ns.ClientURL()
	s3 := s3test.Spawn(t)
	t.Setenv("AWS_ENDPOINT_URL", "http://"+s3.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_REGION", s3.Region)
	db := devmongotest.Spawn(t)
	devmongotest.SeedTasks(t, db.URI, "app", "tasks", 500)
	d := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) {
		c.NATS.URL = strings.Replace(url, "nats://", "nats://exportd:daemon-pw@", 1)
		c.Cluster.Enabled, c.Cluster.Node = true, "only"
		c.Storage = "s3://" + s3.Bucket + "/roles"
	}, slog.New(slog.DiscardHandler))
	d.nc.Close()
	operator, err := nats.Connect(url, nats.UserInfo("operator", "operator-pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(operator.Close)
	d.nc = operator
	events := subscribe(t, operator)
	rep, _ := complete(t, d, events, `{"database": "app", "collection": "tasks", "chunkRecords": 100}`)
	_, body := d.request(t, "exports.status", `{"id": "`+rep.ID+`"}`)
	var m api.Manifest
	if err := json.Unmarshal(body, &m); err != nil || m.State != api.StateCompleted || len(m.Chunks) != 5 {
		t.Fatalf("under the daemon's permissions: %s with %d chunks (%s)", m.State, len(m.Chunks), m.Error)
	}
	// The events the operator got went through the progress history.
	daemonConn, err := nats.Connect(url, nats.UserInfo("exportd", "daemon-pw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(daemonConn.Close)
	js, err := jetstream.New(daemonConn)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), "EXPORTD_PROGRESS")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := stream.GetLastMsgForSubject(t.Context(), "exports.history."+rep.ID)
	if err != nil || !strings.Contains(string(stored.Data), `"event":"export-completed"`) {
		t.Fatalf("progress history of %s: %v, %v; want its export-completed", rep.ID, stored, err)
	}
	// A client can neither queue work behind the service's back nor
	// make up progress.
	for _, subject := range []string{"exports.work.x", "exports.history." + rep.ID, "exports.progress." + rep.ID} {
		nc, err := nats.Connect(url, nats.UserInfo("operator", "operator-pw"))
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish(subject, nil); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		err = nc.LastError()
		nc.Close()
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permission") {
			t.Fatalf("the operator published on %s: %v", subject, err)
		}
	}
	// A node that starts later replays the export's events from the
	// progress stream, with the ids the first node gives.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	firstIDs, firstEvs := sseEvents(t, ctx, d.addrs.Public+"/exports/"+rep.ID+"/events")
	later := startDaemonWith(t, db.URI, t.TempDir(), func(c *daemon.Config) {
		c.NATS.URL = strings.Replace(url, "nats://", "nats://exportd:daemon-pw@", 1)
		c.Cluster.Enabled, c.Cluster.Node = true, "later"
		c.Storage = "s3://" + s3.Bucket + "/roles"
	}, slog.New(slog.DiscardHandler))
	laterIDs, laterEvs := sseEvents(t, ctx, later.addrs.Public+"/exports/"+rep.ID+"/events")
	if len(laterEvs) < 3 || laterEvs[0].Event != api.EventQueued || laterEvs[len(laterEvs)-1].Event != api.EventCompleted ||
		!slices.Equal(laterIDs, firstIDs) || len(laterEvs) != len(firstEvs) {
		t.Fatalf("a later node's event stream: ids %v, want %v (%d events, want %d)", laterIDs, firstIDs, len(laterEvs), len(firstEvs))
	}
	for i, ev := range laterEvs {
		if ev.Seq != int64(i+1) || ev.Event != firstEvs[i].Event || !ev.Time.Equal(firstEvs[i].Time) {
			t.Fatalf("event %d on the later node: %+v, on the first %+v", i, ev, firstEvs[i])
		}
	}

	_, body = d.request(t, "exports.delete", `{"id": "`+rep.ID+`"}`)
	if !strings.Contains(string(body), `"deleted":true`) {
		t.Fatalf("operator delete: %s", body)
	}
}
